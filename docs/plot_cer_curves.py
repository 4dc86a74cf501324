"""Draw judge CER against TTS step for runs scored by ``svae-tts eval convergence`` in different
output folders, with the band of their chance levels and a CER threshold: the plots of
docs/results/notes/tts_alignment.md. ``eval convergence`` draws one folder's runs (WER, SIM, MOS); this
puts runs from several folders (schedules trained and scored at different times) on one CER axis.

Each ``--series`` is ``LABEL=RESULTS_CSV:RUN[:STYLE]`` (a ``results.csv`` written by ``eval
convergence``, the run's name in it, a matplotlib format string such as ``--o``).

    python docs/plot_cer_curves.py --out docs/results/notes/lr_convergence.png \\
        --title "mini DiT on the proof's latents, seed 0: peak learning rate" \\
        --series "semantic, peak LR 5e-4 (to 0 at 6k)=runs/long_tts/eval12/results.csv:semantic:--o" \\
        --series "semantic, peak LR 3e-3 (to 0 at 4k)=runs/lr_long/eval12/results.csv:semantic:-s" \\
        --series "acoustic, peak LR 5e-4 (to 0 at 6k)=runs/long_tts/eval12/results.csv:acoustic:--o" \\
        --series "acoustic, peak LR 3e-3 (to 0 at 4k)=runs/lr_long/eval12/results.csv:acoustic:-s"
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def read_series(spec: str) -> tuple[str, str, list[tuple[int, float, float]]]:
    """``LABEL=CSV:RUN[:STYLE]`` -> (label, style, [(step, cer, chance cer)] sorted by step)."""
    label, _, rest = spec.partition("=")
    path, _, run_style = rest.partition(":")
    run, _, style = run_style.partition(":")
    if not (label and path and run):
        raise ValueError(f"--series {spec!r}: expected LABEL=RESULTS_CSV:RUN[:STYLE]")
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["run"] == run and r["cer"]]
    if not rows:
        raise ValueError(f"{path}: no scored CER for run {run!r}")
    points = sorted((int(r["step"]), float(r["cer"]), float(r["cer_chance"])) for r in rows)
    return label, style or "-o", points


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--series", action="append", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--title", default="")
    p.add_argument("--threshold", type=float, default=0.5, help="a CER level to mark (the proof's: 0.5)")
    args = p.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        series = [read_series(s) for s in args.series]
    except (ValueError, KeyError, OSError) as e:  # a bad spec, a CSV without the columns, a missing file
        p.error(str(e))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = {}
    for label, style, points in series:
        arm = label.split(",")[0]  # series of one arm share a colour
        dashed = style.startswith("--")  # drawn lighter: the baseline a solid series is read against
        line, = ax.plot([s for s, _, _ in points], [c for _, c, _ in points], style, label=label,
                        color=colors.get(arm), alpha=0.6 if dashed else 1.0)
        colors.setdefault(arm, line.get_color())
    chance = [ch for _, _, points in series for _, _, ch in points]
    ax.axhspan(min(chance), max(chance), color="grey", alpha=0.2, label="chance (scrambled texts)")
    ax.axhline(args.threshold, color="k", lw=0.8, ls=":", label=f"CER {args.threshold:g}")
    ax.set_xlabel("TTS step")
    ax.set_ylabel("judge CER")
    ax.set_ylim(min(args.threshold, *(c for _, _, pts in series for _, c, _ in pts)) - 0.05, max(chance) + 0.03)
    ax.set_title(args.title)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
