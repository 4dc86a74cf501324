"""``svae-tts eval recon``: how well each VAE (and mel + Vocos) reconstructs a corpus' test audio.

Per utterance: PESQ-WB, STOI, SI-SDR, multi-scale mel distance, speaker similarity between the
original and its reconstruction, predicted MOS, and, with an ASR judge, the resynthesis WER/CER
against the transcript. The judges also score the original audio once ("ground truth" row) so the
numbers have their ceiling beside them. Writes ``<out>/<name>/utterances.jsonl``,
``<out>/summary.json`` and ``<out>/report.md``, all at the end and only when something was scored
(a run where every item fails is :class:`svae_tts.errors.NothingDone` and writes nothing).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from tqdm import tqdm

from eval.codecs import codec_facts, load_codec
from eval.errors import EvalError
from eval.report import markdown_table
from eval.scoring import (SIGNIFICANT_P, Scorer, add_text_gains, aggregate, compare_pairs, comparison_sentence, other_texts,
                          outcome, p_text, paired_test)
from svae_tts.audio import load_audio
from svae_tts.errors import nothing_done
from svae_tts.fileio import atomic_write_json, atomic_write_text, claim_report_dir, guard_output
from svae_tts.boundary import item_boundary
from svae_tts.formats.corpus import corpus_audio, load_corpus

log = logging.getLogger(__name__)

RECON_COMMAND = "eval recon"  # the command name in the output folder's manifest

RECON_COLUMNS = ("n", "pesq", "stoi", "si_sdr", "mel_dist", "sim", "wer", "wer_corpus", "cer", "cer_chance", "cer_p", "mos_ovrl")
# what two reconstructions of the same items are compared on; the originals have only the judges' scores
PAIRED_RECON_METRICS = ("cer", "wer", "lp_gain", "pesq", "stoi", "si_sdr", "mel_dist", "sim", "mos_ovrl")


def run_recon(
    codecs: list[tuple[str, str]],
    corpus_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    scorer: Scorer | None = None,
    split: str = "test",
    limit: int | None = None,
    score_original: bool = True,
    overwrite: bool = False,
    device: str = "cpu",
) -> dict:
    """Evaluate each ``(name, vae_dir_or_hub_id | mel:vocos)`` on ``corpus_dir[split]``; returns the summary."""
    codecs = [(name, str(spec)) for name, spec in codecs]  # a Path is fine too; summary.json stores text
    out_dir = Path(out_dir)
    ds = load_corpus(corpus_dir)
    guard_output(out_dir, [corpus_dir, *(spec for _, spec in codecs), *corpus_audio(ds)], overwrite=overwrite,
                 exists_ok=True, command=RECON_COMMAND)
    if split not in ds:
        raise EvalError(f"{corpus_dir}: corpus has no {split!r} split (has {sorted(ds)})")
    names = (["ground_truth"] if score_original else []) + [name for name, _ in codecs]
    manifest = claim_report_dir(out_dir, RECON_COMMAND, ["summary.json", "report.md",
                                                         *(f"{n}/utterances.jsonl" for n in names)], overwrite)
    scorer = (scorer or Scorer(device=device)).load()
    rows_in = ds[split].select(range(min(limit, len(ds[split])))) if limit else ds[split]
    utts = [{"id": r["id"], "audio": r["audio"], "text": r["text"]} for r in rows_in]
    summary: dict = {"corpus": str(corpus_dir), "split": split, "judges": scorer.describe(), "models": {}, "skipped": []}

    entries = []
    if score_original:
        entries.append(("ground_truth", None))
    entries += [(name, spec) for name, spec in codecs]
    scored: dict[str, list[dict]] = {}
    per_model: dict[str, list[dict]] = {}
    for name, spec in entries:
        codec = load_codec(spec, device) if spec is not None else None
        rows, skipped = [], []
        sr = codec.sample_rate if codec else None
        for i, u in enumerate(tqdm(utts, desc=f"recon {name}", unit="utt")):
            with item_boundary(u["id"], log) as item:
                wav, wsr = load_audio(u["audio"], sr)
                if codec is None:  # the original, scored by the judges that do not need a reference
                    row = scorer.score(wav, wsr, text=u["text"], other_texts=other_texts(utts, i))
                else:
                    rec = codec.reconstruct(wav)
                    row = scorer.score(rec, wsr, text=u["text"], sim_ref=(wav, wsr), target=(wav, wsr),
                                       other_texts=other_texts(utts, i))
            if item.failed:
                skipped.append({"model": name, "id": u["id"], "path": u["audio"], "reason": item.reason})
                continue
            rows.append({"id": u["id"], **row})
        scored[name] = add_text_gains(rows)
        per_model[name] = rows
        info = {"spec": spec, **aggregate(rows)}
        if codec is not None:
            info.update(codec_facts(codec))
        summary["models"][name] = info
        summary["skipped"] += skipped
    if not any(per_model.values()):  # nothing scored: no folder holding only a report
        raise nothing_done(RECON_COMMAND, [(f"{s['model']} {s['id']}", s["reason"]) for s in summary["skipped"]])
    summary["paired"] = paired_recon_tests(scored)
    written = []
    for name, rows in per_model.items():
        atomic_write_text(out_dir / name / "utterances.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        written.append(out_dir / name / "utterances.jsonl")
    atomic_write_json(out_dir / "summary.json", summary)
    atomic_write_text(out_dir / "report.md", recon_report(summary))
    manifest.add(RECON_COMMAND, *written, out_dir / "summary.json", out_dir / "report.md")
    return summary


def paired_recon_tests(scored: dict[str, list[dict]]) -> list[dict]:
    """Every pair of models on the items both reconstructed (:func:`eval.scoring.compare_pairs`
    with :func:`eval.scoring.paired_test`, ``holm_p`` over the metrics of the pair, ``diff`` =
    first minus second): a table of means says which arm scored higher, only the paired test says
    whether that is more than item-to-item variation. The originals (``ground_truth``) are compared
    on what the judges score without a reference (WER, CER, MOS): how much of the judge's reading a
    reconstruction loses."""
    return compare_pairs(list(scored), lambda a, b: (scored[a], scored[b], {}), paired_test, PAIRED_RECON_METRICS)


VERDICT_METRICS = {"cer": "the judge's CER", "pesq": "PESQ", "stoi": "STOI"}


def recon_verdicts(summary: dict) -> list[str]:
    """One sentence per pair of reconstructing models on the judge's CER, PESQ and STOI
    (:func:`eval.scoring.comparison_sentence`): a winner only where the paired test, Holm-adjusted
    over the metrics of the pair, says so (the originals are the ceiling, not an arm)."""
    out = []
    for t in summary.get("paired") or []:
        if "ground_truth" in (t["a"], t["b"]) or t["metric"] not in VERDICT_METRICS:
            continue
        p_key = "holm_p" if t.get("holm_p") is not None else "p"
        p = f"Holm-adjusted {p_text(t['holm_p'])}" if p_key == "holm_p" else p_text(t["p"])
        stats = f"{t['a']} minus {t['b']} {t['diff']:+.3f}, {p}, {t['n']} items"
        out.append(comparison_sentence(t["a"], t["b"], VERDICT_METRICS[t["metric"]], outcome(t, p_key), stats) + ".")
    return out


def recon_report(summary: dict) -> str:
    rows = [{"model": name, **info} for name, info in summary["models"].items()]
    cols = ["model"] + [c for c in RECON_COLUMNS if any(c in r for r in rows)]
    lines = [
        "# Reconstruction", "",
        f"Corpus `{summary['corpus']}` split `{summary['split']}`; judges: " + ", ".join(f"{k}={v}" for k, v in summary["judges"].items()),
        "", "PESQ-WB / STOI / SI-SDR (dB) / mel distance (multi-scale log-mel L1) against the original; SIM = speaker cosine "
        "to the original; WER = mean of per-utterance WER, wer_corpus = corpus-level.", "",
        markdown_table(rows, cols), "",
    ]
    if summary.get("paired"):
        lines += ["Paired tests (same items; diff = a − b, corpus-level for WER/CER, the mean per-item difference "
                  f"otherwise; two-sided sign-flip test over the items; a difference counts when p < {SIGNIFICANT_P}):", "",
                  "| a | b | metric | diff | p | Holm p | n |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {t['a']} | {t['b']} | {t['metric']} | {t['diff']:+.4f} | {p_text(t['p'])[2:]} | "
                  f"{p_text(t['holm_p'])[2:] if t.get('holm_p') is not None else '–'} | {t['n']} |"
                  for t in summary["paired"]]
        lines += ["", " ".join(recon_verdicts(summary)), ""]
    if summary["skipped"]:
        lines += [f"Skipped {len(summary['skipped'])} item(s):", ""] + [f"- {s['model']} {s['id']} ({s['path']}): {s['reason']}" for s in summary["skipped"]]
    return "\n".join(lines) + "\n"
