"""``svae-tts eval tts``: zero-shot TTS metrics of one model (or of already generated audio) on a test list.

WER/CER of the ASR judge against the target text (mean per utterance and corpus-level), speaker
similarity to the prompt, predicted MOS. With ``generated_dir`` the audio is read from
``<generated_dir>/<item id>.wav`` instead of synthesised (e.g. to score another system's output or
the ground truth). Writes ``utterances.jsonl``, ``summary.json`` and ``report.md`` into ``out_dir``
when at least one item was scored (when none was, :class:`svae_tts.errors.NothingDone`, nothing left).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eval.convergence import EvalSynthesis, evaluate_model, tts_synth_factory
from eval.errors import EvalError
from eval.report import markdown_table
from eval.scoring import Scorer, aggregate
from eval.testlist import TestItem, item_audio
from svae_tts.audio import load_audio
from svae_tts.errors import nothing_done
from svae_tts.fileio import (atomic_write_json, atomic_write_text, claim_report_dir, guard_output, make_output_dir,
                             remove_created_dir)

TTS_EVAL_COMMAND = "eval tts"  # the command name in the output folder's manifest
TTS_COLUMNS = ("n", "failed_items", "wer", "wer_corpus", "cer", "cer_corpus", "cer_chance", "cer_p", "sim", "mos_ovrl", "mos_utmos")


def generated_audio_synth(generated_dir: str | os.PathLike):
    """A synth function that reads ``<dir>/<id>.wav`` (missing files fail that item only)."""
    root = Path(generated_dir)
    if not root.is_dir():
        raise EvalError(f"{root}: no such folder of generated audio")

    def run(item: TestItem, seed: int):
        return load_audio(root / f"{item.id}.wav")

    return run


def ground_truth_synth(item: TestItem, seed: int):
    if not item.target_audio:
        raise EvalError(f"test item {item.id}: no target audio to score as ground truth")
    return load_audio(item.target_audio)


def run_tts_eval(
    items: list[TestItem],
    out_dir: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    generated_dir: str | os.PathLike | None = None,
    ground_truth: bool = False,
    scorer: Scorer | None = None,
    settings: EvalSynthesis | None = None,
    keep_audio: bool = True,
    overwrite: bool = False,
    device: str = "cpu",
) -> dict:
    if sum(x is not None and x is not False for x in (model_dir, generated_dir, ground_truth)) != 1:
        raise EvalError("give exactly one of a TTS model dir, a folder of generated audio, or ground_truth")
    out_dir = Path(out_dir)
    guard_output(out_dir, [model_dir, generated_dir, *item_audio(items)], overwrite=overwrite, exists_ok=True,
                 command=TTS_EVAL_COMMAND)
    keep_audio = keep_audio and model_dir is not None  # audio read from files or the targets is not copied
    audio = [out_dir / "audio" / f"{item.id}.wav" for item in items] if keep_audio else []
    manifest = claim_report_dir(out_dir, TTS_EVAL_COMMAND, ["utterances.jsonl", "summary.json", "report.md",
                                                             *(str(a.relative_to(out_dir)) for a in audio)], overwrite)
    settings = settings or EvalSynthesis()
    scorer = (scorer or Scorer(device=device)).load()
    if model_dir is not None:
        synth = tts_synth_factory(device, settings)(Path(model_dir))
        source = str(model_dir)
    elif generated_dir is not None:
        synth, source = generated_audio_synth(generated_dir), str(generated_dir)
    else:
        synth, source = ground_truth_synth, "ground truth"
    created = make_output_dir(out_dir)
    rows, failed = evaluate_model(synth, items, scorer, settings.seed, out_dir / "audio" if keep_audio else None)
    if not rows:  # every item failed: nothing was written, and the folder goes if this made it
        remove_created_dir(created)
        raise nothing_done(TTS_EVAL_COMMAND, [(f["id"], f["reason"]) for f in failed])
    manifest.add(TTS_EVAL_COMMAND, *(a for a in audio if a.is_file()))
    summary = {"source": source, "judges": scorer.describe(), "synthesis": settings.__dict__,
               **aggregate(rows), "failed_items": len(failed), "failures": failed}
    atomic_write_text(out_dir / "utterances.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    atomic_write_json(out_dir / "summary.json", summary)
    cols = [c for c in TTS_COLUMNS if c in summary]
    md = ["# Zero-shot TTS evaluation", "", f"Source: `{source}`; judges: "
          + ", ".join(f"{k}={v}" for k, v in summary["judges"].items()), "", markdown_table([summary], cols), ""]
    if failed:
        md += ["Failed items:", ""] + [f"- {f['id']}: {f['reason']}" for f in failed]
    atomic_write_text(out_dir / "report.md", "\n".join(md) + "\n")
    manifest.add(TTS_EVAL_COMMAND, *(out_dir / n for n in ("utterances.jsonl", "summary.json", "report.md")))
    return summary
