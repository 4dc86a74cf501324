"""Convergence over several training seeds per arm: curves with their spread, steps to a level, and
paired tests pooled over seeds.

One TTS run per (arm, seed) says little: two seeds of the same arm can differ as much as two arms.
The paper's claim ("the semantic VAE's TTS gets there in fewer steps") is therefore read here from
``seeds >= 3`` runs per arm that :func:`eval.convergence.run_convergence` has scored on the same
test items at the same steps:

- **curves**: per arm and step, the mean, standard deviation, minimum and maximum over seeds;
- **steps to a level**: for every run, the first scored step at which its error rate reaches a
  level fixed before the run (``threshold``) and the reference arm's final mean (the paper's
  "steps for the semantic arm to reach the acoustic arm's final CER"); per arm their mean and
  spread, and how many seeds never got there;
- **paired tests at the last common step**: seed ``k`` of one arm is paired with seed ``k`` of the
  other, item by item, and :func:`eval.scoring.paired_test` runs over all (seed, item) pairs. Items
  and seeds are both sources of variation; pooling pairs of the same item and seed index keeps
  each pair's conditions equal except for the arm.
- **a test between runs**: the pooled test asks whether the arms differ on these items, not
  whether the difference is larger than the spread between training runs; for that each run's
  score at the same step is one value, and an exact permutation test over the arm labels of all
  runs says how often a split of the runs gives a difference as large. With 3 + 3 runs its
  smallest possible p is 0.10 (2 of the 20 splits), so it is reported with that floor: three seeds
  can show a difference is consistent, never that it is significant at 0.05.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass

from eval.report import finite
from eval.scoring import LOWER_IS_BETTER, SIGNIFICANT_P, paired_tests

SEED_SEPARATOR = "_s"  # a run named "<arm>_s<seed>" belongs to that arm and seed
SEED_METRICS = ("wer", "cer", "sim", "mos_utmos", "mos_ovrl")  # what the arms are tested on over their seeds


@dataclass(frozen=True)
class SeedRun:
    run: str
    arm: str
    seed: int


def run_name(arm: str, seed: int) -> str:
    return f"{arm}{SEED_SEPARATOR}{seed}"


def parse_run_name(name: str) -> SeedRun | None:
    """``"semantic_s2"`` -> SeedRun(run, "semantic", 2); ``None`` for a name without a seed suffix."""
    arm, sep, seed = name.rpartition(SEED_SEPARATOR)
    if not sep or not arm or not seed.isdigit():
        return None
    return SeedRun(name, arm, int(seed))


def group_runs(names: list[str]) -> dict[str, list[SeedRun]]:
    """Runs by arm, in seed order; names without a seed suffix are left out."""
    arms: dict[str, list[SeedRun]] = {}
    for sr in filter(None, map(parse_run_name, names)):
        arms.setdefault(sr.arm, []).append(sr)
    return {arm: sorted(runs, key=lambda r: r.seed) for arm, runs in arms.items()}



def _spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def arm_curves(rows: list[dict], arms: dict[str, list[SeedRun]], metric: str) -> dict[str, list[dict]]:
    """Per arm, the steps every one of its seeds scored, with the metric's spread over seeds."""
    by_run = {(r["run"], r["step"]): r[metric] for r in rows if finite(r.get(metric))}
    out = {}
    for arm, runs in arms.items():
        steps = sorted(set.intersection(*({s for (n, s) in by_run if n == sr.run} for sr in runs)))
        out[arm] = [{"step": s, **_spread([by_run[(sr.run, s)] for sr in runs])} for s in steps]
    return out


def first_step_reaching(rows: list[dict], run: str, metric: str, level: float) -> int | None:
    """The first scored step at which ``run`` reaches ``level`` (at or below it for error rates)."""
    lower = metric in LOWER_IS_BETTER
    for r in sorted((r for r in rows if r["run"] == run and finite(r.get(metric))), key=lambda r: r["step"]):
        if (r[metric] <= level + 1e-12) if lower else (r[metric] >= level - 1e-12):
            return r["step"]
    return None


def steps_to_level(rows: list[dict], arms: dict[str, list[SeedRun]], metric: str, level: float | None) -> dict:
    """Per arm: each seed's first step at ``level`` (None = never), their mean and spread over the
    seeds that got there, and how many never did."""
    if level is None:
        return {}
    out = {}
    for arm, runs in arms.items():
        per_seed = {sr.seed: first_step_reaching(rows, sr.run, metric, level) for sr in runs}
        reached = [float(s) for s in per_seed.values() if s is not None]
        out[arm] = {"per_seed": per_seed, "never": sum(s is None for s in per_seed.values()),
                    **(_spread(reached) if reached else {"mean": None, "sd": None, "min": None, "max": None, "n": 0})}
    return out


def pooled_paired_tests(utterances: dict[tuple[str, int], list[dict]], arms: dict[str, list[SeedRun]],
                        metrics: tuple[str, ...] = SEED_METRICS) -> list[dict]:
    """Every pair of arms at the last step all their seeds scored: seed k against seed k, item by
    item, pooled into one sign-flip test per metric (``diff`` = first arm minus second)."""
    names = list(arms)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pairs = list(zip(arms[a], arms[b]))  # seed order: the k-th seed of each arm
            steps = [{s for (n, s) in utterances if n == ra.run} & {s for (n, s) in utterances if n == rb.run}
                     for ra, rb in pairs]
            common = set.intersection(*steps) if steps else set()
            if not common:
                continue
            step = max(common)
            rows_a, rows_b = [], []
            for k, (ra, rb) in enumerate(pairs):
                rows_a += [{**r, "id": f"{k}:{r.get('id')}"} for r in utterances[(ra.run, step)]]
                rows_b += [{**r, "id": f"{k}:{r.get('id')}"} for r in utterances[(rb.run, step)]]
            out += [{"a": a, "b": b, "step": step, "seeds": len(pairs), **t} for t in paired_tests(rows_a, rows_b, metrics)]
    return out


def run_level_tests(rows: list[dict], arms: dict[str, list[SeedRun]], metrics: tuple[str, ...] = SEED_METRICS) -> list[dict]:
    """Every pair of arms with two or more runs each, at the last step all their runs scored: each
    run's score is one value and an exact permutation test over the arm labels of all runs gives
    ``p`` (two-sided: the share of the splits of the runs into two groups of the arms' sizes whose
    mean difference is at least as large as the real one) and ``p_floor``, the smallest p these run
    counts can give. ``separated``: the arms' runs do not overlap. A metric some run lacks is left
    out. (Written here rather than taken from ``scipy.stats.permutation_test``: scipy is only a
    transitive dependency, and the floor needs the whole null distribution anyway.)"""
    by_run = {(r["run"], r["step"]): r for r in rows}
    names, out = list(arms), []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            na, nb = len(arms[a]), len(arms[b])
            runs = arms[a] + arms[b]
            common = set.intersection(*({s for (n, s) in by_run if n == sr.run} for sr in runs))
            if not common or na < 2 or nb < 2:
                continue
            step = max(common)
            for metric in metrics:
                values = [by_run[(sr.run, step)].get(metric) for sr in runs]
                if not all(finite(v) for v in values):
                    continue
                total = sum(values)
                # every split of the runs into na + nb; the first is the arms as they are
                diffs = [abs(sum(values[j] for j in idx) / na - (total - sum(values[j] for j in idx)) / nb)
                         for idx in itertools.combinations(range(na + nb), na)]
                eps = 1e-12 * max(1.0, max(diffs))
                va, vb = values[:na], values[na:]
                out.append({"a": a, "b": b, "step": step, "metric": metric,
                            "diff": statistics.fmean(va) - statistics.fmean(vb),
                            "p": sum(d >= diffs[0] - eps for d in diffs) / len(diffs),
                            "p_floor": sum(d >= max(diffs) - eps for d in diffs) / len(diffs),
                            "separated": max(va) < min(vb) or max(vb) < min(va), "runs": (na, nb)})
    return out


def seed_summary(results: dict, utterances: dict[tuple[str, int], list[dict]], metric: str = "cer",
                 threshold: float | None = 0.5, reference_arm: str = "acoustic") -> dict:
    """The proof run's numbers: curves, steps to ``threshold`` and to the reference arm's final mean
    (both per seed), and the pooled paired tests. ``results`` is what ``run_convergence`` returned."""
    rows = results["rows"]
    arms = group_runs(list(results["runs"]))
    curves = arm_curves(rows, arms, metric)
    ref_curve = curves.get(reference_arm) or []
    ref_final = ref_curve[-1]["mean"] if ref_curve else None
    return {"metric": metric, "threshold": threshold, "reference_arm": reference_arm,
            "reference_final": ref_final, "arms": {a: [sr.seed for sr in runs] for a, runs in arms.items()},
            "curves": curves, "sim_curves": arm_curves(rows, arms, "sim"),
            "steps_to_threshold": steps_to_level(rows, arms, metric, threshold),
            "steps_to_reference": steps_to_level(rows, arms, metric, ref_final),
            "paired": pooled_paired_tests(utterances, arms), "between_runs": run_level_tests(rows, arms)}


def _fmt_spread(s: dict | None, digits: int = 3) -> str:
    if not s or s.get("mean") is None:
        return "–"
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f} (min {s['min']:.{digits}f}, max {s['max']:.{digits}f}, n {s['n']})"


def _steps_cell(s: dict | None) -> str:
    if not s:
        return "–"
    seeds = ", ".join(f"s{k}: {'never' if v is None else v}" for k, v in s["per_seed"].items())
    mean = "never" if s["mean"] is None else f"{s['mean']:.0f} ± {s['sd']:.0f}"
    return f"{mean} [{seeds}]"


def seeds_verdict(summary: dict, arm: str = "semantic") -> str:
    """What the multi-seed numbers say about ``arm`` against the reference arm, and nothing more:
    a measure names a winner only when its pooled paired test has p < :data:`SIGNIFICANT_P`; the
    steps ratio is reported with every seed's value, and as not measurable when a seed never got
    there."""
    ref, metric = summary["reference_arm"], summary["metric"]
    runs = {t["metric"]: t for t in summary.get("between_runs", []) if {t["a"], t["b"]} == {arm, ref}}
    parts = []
    for t in summary["paired"]:
        if {t["a"], t["b"]} != {arm, ref}:
            continue
        diff = t["diff"] if t["a"] == arm else -t["diff"]
        lower = t["metric"] in LOWER_IS_BETTER
        if t["p"] >= SIGNIFICANT_P:
            parts.append(f"{t['metric'].upper()}: no significant difference ({arm} minus {ref} {diff:+.3f}, "
                         f"p {t['p']:.3f}, {t['n']} item x seed pairs)")
        else:
            better = diff < 0 if lower else diff > 0
            parts.append(f"{t['metric'].upper()}: {arm} {'better' if better else 'worse'} ({diff:+.3f}, p {t['p']:.3f}, "
                         f"{t['n']} item x seed pairs)" + _between_runs_clause(runs.get(t["metric"])))
    mine, theirs = summary["steps_to_reference"].get(arm), summary["steps_to_reference"].get(ref)
    if mine and theirs and mine["never"] == 0 and theirs["never"] == 0 and theirs["mean"]:
        ratio = mine["mean"] / theirs["mean"]
        parts.append(f"steps to {ref}'s final mean {metric.upper()} ({summary['reference_final']:.3f}): {arm} "
                     f"{_steps_cell(mine)} vs {ref} {_steps_cell(theirs)}, ratio {ratio:.2f} (the paper's claim: ≤ 0.5)")
    elif mine:
        parts.append(f"steps to {ref}'s final mean {metric.upper()}: not measurable ({arm} {_steps_cell(mine)}; "
                     f"{ref} {_steps_cell(theirs)})")
    return "; ".join(parts) + "." if parts else "No pair of arms was scored at a common step: nothing to compare."


def _between_runs_clause(t: dict | None) -> str:
    """How the runs themselves bear out an item-level winner: beyond the seed-to-seed spread only when
    the permutation test over runs has p < SIGNIFICANT_P."""
    if t is None:
        return ""
    if t["p"] < SIGNIFICANT_P:
        return f", and between runs (permutation p {t['p']:.2f})"
    runs = f"{t['runs'][0]} + {t['runs'][1]} runs"
    side = "the arms' runs do not overlap" if t["separated"] else "the arms' runs overlap"
    return (f"; between runs not shown beyond the seed-to-seed spread ({side}; permutation p {t['p']:.2f} over "
            f"{runs}, the smallest they can give {t['p_floor']:.2f})")


def seeds_report(summary: dict) -> str:
    metric = summary["metric"].upper()
    lines = ["# Convergence over seeds", "",
             "Arms and seeds: " + "; ".join(f"{a}: {len(s)} seeds" for a, s in summary["arms"].items()) + ".",
             f"{metric} per arm at each step every seed scored: mean ± sd over seeds (min, max).", ""]
    header = ["step", *summary["curves"]]
    steps = sorted({p["step"] for c in summary["curves"].values() for p in c})
    table = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    for s in steps:
        cells = [next((_fmt_spread(p) for p in summary["curves"][a] if p["step"] == s), "–") for a in summary["curves"]]
        table.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += table + ["", "## Steps to a level", "",
                      "First scored step at which each seed reaches the level (mean ± sd over the seeds that did; "
                      "per seed in brackets).", "",
                      "| arm | " + f"{metric} ≤ {summary['threshold']} (set before the run) | "
                      f"{metric} ≤ {summary['reference_arm']}'s final mean ({summary['reference_final'] or float('nan'):.3f}) |",
                      "|---|---|---|"]
    for a in summary["curves"]:
        lines.append(f"| {a} | {_steps_cell(summary['steps_to_threshold'].get(a))} | "
                     f"{_steps_cell(summary['steps_to_reference'].get(a))} |")
    lines += ["", "## Paired tests, pooled over seeds", "",
              "Seed k of one arm against seed k of the other, item by item, at the last step every seed scored; "
              "p = two-sided sign-flip test over all (seed, item) pairs. A difference counts only when p < "
              f"{SIGNIFICANT_P}.", "",
              "| a | b | step | metric | diff (a − b) | p | pairs |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {t['a']} | {t['b']} | {t['step']} | {t['metric']} | {t['diff']:+.4f} | {t['p']:.4f} | {t['n']} |"
              for t in summary["paired"]]
    lines += ["", "## Between runs", "",
              "Each run's score at the last step every run scored is one value; p = exact permutation test over "
              "the arm labels of all runs (two-sided); floor = the smallest p these run counts can give; "
              "separated = the arms' runs do not overlap (every run of one arm beyond every run of the other).", "",
              "| a | b | step | metric | diff (a − b) | p | floor | separated | runs |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {t['a']} | {t['b']} | {t['step']} | {t['metric']} | {t['diff']:+.4f} | {t['p']:.2f} | "
              f"{t['p_floor']:.2f} | {'yes' if t['separated'] else 'no'} | {t['runs'][0]} + {t['runs'][1]} |"
              for t in summary.get("between_runs", [])]
    lines += ["", "## Verdict", "", seeds_verdict(summary), "", "Plot: `convergence_seeds.png`.", ""]
    return "\n".join(lines)


def plot_seed_curves(summary: dict, path) -> None:
    """Mean curve per arm with its min-max band over seeds, for the error rate and SIM."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from svae_tts.fileio import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (key, label) in zip(axes, (("curves", summary["metric"].upper()), ("sim_curves", "SIM"))):
        for arm, pts in summary[key].items():
            if not pts:
                continue
            xs = [p["step"] for p in pts]
            line, = ax.plot(xs, [p["mean"] for p in pts], marker="o", label=f"{arm} (n={pts[0]['n']})")
            ax.fill_between(xs, [p["min"] for p in pts], [p["max"] for p in pts], color=line.get_color(), alpha=0.2)
        if key == "curves" and summary.get("threshold") is not None:
            ax.axhline(summary["threshold"], color="grey", ls="--", lw=0.8)
        ax.set_xlabel("training step")
        ax.set_title(f"{label}: mean over seeds, band = min..max")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
