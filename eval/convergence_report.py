"""The convergence comparison's outputs: ``results.csv``, ``results.json``, ``items.csv``, ``report.md``,
``convergence.png`` (lp_gain, WER, SIM, MOS against steps, one line per run) and ``steps_to_threshold.png``;
``seeds.md`` and ``convergence_seeds.png`` when runs have several seeds per arm.

Kept apart from :mod:`eval.convergence`, which scores the checkpoints, so that what is computed
and how it is shown can each be read (and changed) on their own.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from eval.report import finite, fmt, markdown_table
from eval.scoring import mos_key
from svae_tts.fileio import atomic_path, atomic_write_json, atomic_write_text

RESULT_COLUMNS = ("run", "step", "n", "failed_items", "wer", "wer_corpus", "cer", "cer_corpus",
                  "cer_chance", "cer_p", "lp", "lp_other", "lp_gain", "lp_gain_p", "sim", "mos_ovrl", "mos_sig", "mos_bak",
                  "mos_p808", "mos_utmos", "seconds")
# per item: the transcript and every score behind a figure; MOS columns as scored
ITEM_COLUMNS = ("run", "step", "id", "hyp", "ref", "wer", "cer", "lp", "lp_other", "lp_gain", "sim")
PLOT_METRICS = (("lp_gain", "text log-prob. gain (lp_gain)", "higher"), ("wer", "WER (mean per utterance)", "lower"),
                ("sim", "speaker similarity", "higher"), ("mos", "predicted MOS", "higher"))


def _csv_text(rows: list[dict], columns) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k, "") for k in columns})
    return buf.getvalue()


def write_items_csv(utterances: dict[tuple[str, int], list[dict]], names: list[str], path: Path) -> None:
    """``items.csv``: one row per run, step and test item (transcript, reference and every
    per-item score), so that every figure in the reports can be traced to the items behind it."""
    rows = [{"run": run, "step": step, **r}
            for (run, step) in sorted(utterances, key=lambda k: (names.index(k[0]) if k[0] in names else len(names), k[1]))
            for r in utterances[(run, step)]]
    mos = sorted({k for r in rows for k in r if k.startswith("mos_")})
    atomic_write_text(path, _csv_text(rows, ITEM_COLUMNS + tuple(mos)))


def write_outputs(results: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "results.csv", _csv_text(results["rows"], RESULT_COLUMNS))
    atomic_write_json(out_dir / "results.json", results)
    plot_convergence(results, out_dir / "convergence.png")
    plot_thresholds(results, out_dir / "steps_to_threshold.png")
    atomic_write_text(out_dir / "report.md", convergence_report(results))
    if results.get("seeds"):
        from eval.seeds import plot_seed_curves, seeds_report

        atomic_write_text(out_dir / "seeds.md", seeds_report(results["seeds"]))
        plot_seed_curves(results["seeds"], out_dir / "convergence_seeds.png")


def plot_convergence(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    fig, axes = plt.subplots(1, len(PLOT_METRICS), figsize=(4.3 * len(PLOT_METRICS), 3.8))
    for ax, (metric, label, better) in zip(axes, PLOT_METRICS):
        for name in results["runs"]:
            rs = [r for r in rows if r["run"] == name]
            key = mos_key(rs[0]) if metric == "mos" and rs else metric
            pts = [(r["step"], r[key]) for r in rs if key and finite(r.get(key))]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=name)
        if not ax.lines:
            ax.text(0.5, 0.5, f"no {metric.upper()} judge", ha="center", va="center", transform=ax.transAxes, color="grey")
        elif metric == "lp_gain":
            ax.axhline(0.0, color="grey", ls=":", lw=0.8)  # chance
        thr = results["thresholds"].get(f"{metric}_threshold")
        if thr is not None:
            ax.axhline(thr, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("training step")
        ax.set_title(f"{label} ({better} is better)")
        ax.grid(alpha=0.3)
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
            break
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def plot_thresholds(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["runs"])
    th = results["thresholds"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    metrics = [m for m in ("wer", "sim") if th.get(f"{m}_threshold") is not None]
    width = 0.8 / max(1, len(metrics))
    never = max([r["step"] for r in results["rows"]] or [1]) * 1.1 or 1.0
    for j, metric in enumerate(metrics):
        vals = [th[metric].get(n) for n in names]
        xs = [i + (j - (len(metrics) - 1) / 2) * width for i in range(len(names))]
        bars = ax.bar(xs, [never if v is None else v for v in vals], width,
                      label=f"{metric.upper()} {'≤' if metric == 'wer' else '≥'} {fmt(th.get(f'{metric}_threshold'))}")
        for b, v in zip(bars, vals):
            if v is None:
                b.set_hatch("//")
                b.set_alpha(0.4)
            ax.annotate("never" if v is None else str(v), (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=8)
    if not metrics:
        ax.text(0.5, 0.5, "no WER/SIM judge", ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_title("steps to threshold (lower is faster; hatched = never)", fontsize=10)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("first step reaching it")
    if metrics:
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _paired_tables(paired: list[dict]) -> list[str]:
    """One table per pair of runs, headed by the two run names."""
    if not paired:
        return ["No pair of runs scored a common step."]
    lines = []
    for a, b in dict.fromkeys((t["a"], t["b"]) for t in paired):
        rows = [t for t in paired if (t["a"], t["b"]) == (a, b)]
        lines += [f"### {a} vs {b} (these two models, not their arms)", "",
                  markdown_table(rows, ["step", "metric", "diff", "p", "holm_p", "n"]), ""]
    return lines[:-1]


def _split_text(results: dict) -> str:
    """Which corpus split the items came from, when the test list says (``TestItem.split``)."""
    splits = results.get("splits") or []
    return f" (corpus split: {', '.join(splits)})" if splits else ""


def convergence_report(results: dict) -> str:
    rows = results["rows"]
    cols = [c for c in RESULT_COLUMNS if c != "seconds" and any(c in r for r in rows)]
    th = results["thresholds"]
    lines = ["# Convergence comparison", "",
             f"{results['num_items']} test items{_split_text(results)}, fixed seeds (item i gets seed "
             f"{results['synthesis']['seed']} + i); "
             "judges: " + ", ".join(f"{k}={v}" for k, v in results["judges"].items()) + ".",
             "WER = mean of per-utterance WER, wer_corpus = corpus-level; cer_chance = the mean CER of the same transcripts "
             "against scrambled texts (same length and letters), cer_p = the share of scrambles scoring at least "
             "as well as the real texts (a CER shows something was understood only when cer_p is small); lp = the judge's "
             "mean per-token log-probability of the item's text given the audio, lp_other = the mean of other items' texts "
             "on the same audio (the chance level), lp_gain = lp above an additive audio + text model "
             "fitted to the mismatched pairs (eval.scoring.add_text_gains; above 0: the audio carries its text; "
             "lp_gain_p = sign-flip test of the per-item gains against 0); SIM = speaker cosine to the prompt; mos_* = predicted MOS. "
             "Per-item rows: `items.csv`.", "",
             "## Runs", ""] + [f"- **{n}**: `{d}`" for n, d in results["runs"].items()] + [
             "", "## Scores per checkpoint", "", markdown_table(rows, cols), "",
             "## Steps to threshold", "",
             f"WER ≤ {fmt(th.get('wer_threshold'))}, SIM ≥ {fmt(th.get('sim_threshold'))} "
             "(defaults: the level every run reaches).", "",
             markdown_table([{"run": n, "steps to WER": th["wer"].get(n), "steps to SIM": th["sim"].get(n)}
                             for n in results["runs"]], ["run", "steps to WER", "steps to SIM"]), "",
             "## Paired tests between runs", "",
             "Each pair of runs at the last step both scored, item by item: diff = first minus second "
             "(corpus-level for WER/CER), p = two-sided paired randomisation test over the items "
             "(1,999 sign flips), Holm p = p Holm-adjusted over the rows of the pair's table. Each table compares "
             "these two models, not their arms: one run per arm cannot tell an arm's effect from run-to-run "
             f"spread. Primary endpoint: {results.get('primary', '–')}.", "",
             *_paired_tables(results.get("paired", [])), "",
             "Plots: `convergence.png` (lp_gain, WER, SIM, MOS against steps), `steps_to_threshold.png`.", ""]
    if results.get("seeds"):
        lines += ["Several seeds per arm: their spread, steps to a level and paired tests pooled over seeds are in "
                  "`seeds.md` (plot `convergence_seeds.png`).", ""]
    if results["failures"]:
        lines += ["## Failed checkpoints (skipped)", ""] + [
            f"- {f['run']} step {f['step']} (`{f['model_dir']}`): {f['reason']}" for f in results["failures"]] + [""]
    return "\n".join(lines)
