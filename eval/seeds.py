"""Convergence over several training seeds per arm: curves with their spread, steps to a level, the
test between runs that decides, and item-level paired tests pooled over seeds.

One TTS run per (arm, seed) says little: two seeds of the same arm can differ as much as two arms.
The paper's claim ("the semantic VAE's TTS gets there in fewer steps") is therefore read here from
``seeds >= 3`` runs per arm that :func:`eval.convergence.run_convergence` has scored on the same
test items at the same steps:

- **curves**: per arm and step, the mean, standard deviation, minimum and maximum over seeds;
- **steps to a level**: for every run, the first scored step at which its error rate reaches a
  level fixed before the run (``threshold``) and the reference arm's final mean (the paper's
  "steps for the semantic arm to reach the acoustic arm's final CER"); per arm their mean and
  spread, and how many seeds never got there;
- **the test between runs** (the one that decides): each run's score at the last step all runs
  scored is one value, since the run is the unit an arm is replicated in. One metric, the
  **primary endpoint**, is named before the run (``lp_gain`` by default, else ``cer``); an
  arm-level sentence comes only from Welch's t-test on it with ``>= MIN_RUNS`` runs per arm and
  p < :data:`ALPHA`. Every other metric is secondary: its Welch p is Holm-adjusted over the
  secondaries. An exact permutation test over the arm labels is reported beside Welch's, with
  its floor: with 3 + 3 runs its smallest possible p is 0.10 (2 of the 20 splits), so it can show
  a difference is consistent, never that it is significant at 0.05; Welch's test uses the
  runs' spread as well as their order, which is what lets 3 + 3 runs decide at all.
- **item-level paired tests pooled over seed pairs**, at the last common step: seed ``k`` of one
  arm against seed ``k`` of the other, item by item (:func:`eval.scoring.paired_test` over all
  (seed, item) pairs), Holm-adjusted over the metrics. Secondary: they ask whether these runs'
  outputs differ on these items, not whether the arms differ beyond the spread between runs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from eval.report import finite
from eval.scoring import (BETTER, LOWER_IS_BETTER, MIN_RUNS, SIGNIFICANT_P, WORSE, between_runs_test, compare_pairs,
                          comparison_sentence, outcome, paired_test)

SEED_SEPARATOR = "_s"  # a run named "<arm>_s<seed>" belongs to that arm and seed
# what the arms are tested on over their seeds; ``lp_other`` (the chance level of ``lp``) is not a
# quality of the audio that one arm could be better on, so it is not tested
SEED_METRICS = ("wer", "cer", "sim", "mos_utmos", "mos_ovrl", "lp", "lp_gain")
DEFAULT_PRIMARY = "lp_gain"  # the primary endpoint when the rows have it, else FALLBACK_PRIMARY
FALLBACK_PRIMARY = "cer"
ALPHA = SIGNIFICANT_P  # fixed before any run: an arm-level difference is called when Welch's p is below it
# MIN_RUNS (eval.scoring): runs per arm before an arm-level sentence may be written at all


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
    item, pooled into one sign-flip test per metric (:func:`eval.scoring.compare_pairs` with
    :func:`eval.scoring.paired_test`; ``diff`` = first arm minus second), ``holm_p`` adjusted over
    the metrics of the pair. Item-level: the runs are fixed, so this does not test the arm
    (:func:`run_level_tests` does)."""

    def pooled(a: str, b: str):
        pairs = list(zip(arms[a], arms[b]))  # seed order: the k-th seed of each arm
        steps = [{s for (n, s) in utterances if n == ra.run} & {s for (n, s) in utterances if n == rb.run}
                 for ra, rb in pairs]
        common = set.intersection(*steps) if steps else set()
        if not common:
            return None
        step = max(common)
        rows_a, rows_b = [], []
        for k, (ra, rb) in enumerate(pairs):
            rows_a += [{**r, "id": f"{k}:{r.get('id')}"} for r in utterances[(ra.run, step)]]
            rows_b += [{**r, "id": f"{k}:{r.get('id')}"} for r in utterances[(rb.run, step)]]
        return rows_a, rows_b, {"step": step, "seeds": len(pairs)}

    return compare_pairs(list(arms), pooled, paired_test, metrics)


def primary_endpoint(rows: list[dict], primary: str | None = None) -> str:
    """The metric that decides between the arms: the caller's (fixed before the run, so it is
    kept even when the rows lack it and the verdict then says so), else ``lp_gain`` when the rows
    have it, else ``cer``."""
    if primary:
        return primary
    return DEFAULT_PRIMARY if any(finite(r.get(DEFAULT_PRIMARY)) for r in rows) else FALLBACK_PRIMARY


def run_level_tests(rows: list[dict], arms: dict[str, list[SeedRun]], metrics: tuple[str, ...] = SEED_METRICS,
                    primary: str | None = None) -> list[dict]:
    """Every pair of arms with two or more runs each, at the last step all their runs scored: each
    run's score is one value (the run is the unit an arm is replicated in). Per metric the rows of
    :func:`eval.scoring.compare_pairs` with :func:`eval.scoring.between_runs_test`: ``welch_p`` (the
    decision test), ``perm_p`` and ``p_floor``, the arms' ``mean_a``/``sd_a``/``mean_b``/``sd_b``
    over runs, ``separated`` and ``runs``. ``primary`` (the endpoint named before the run) comes
    first with ``holm_p`` None; every other metric is secondary, its ``holm_p`` Welch's p
    Holm-adjusted over the pair's secondaries. A metric some run lacks is left out."""
    by_run = {(r["run"], r["step"]): r for r in rows}

    def at_last_common_step(a: str, b: str):
        runs = arms[a] + arms[b]
        common = set.intersection(*({s for (n, s) in by_run if n == sr.run} for sr in runs))
        if not common or len(arms[a]) < 2 or len(arms[b]) < 2:
            return None
        step = max(common)
        return [by_run[(sr.run, step)] for sr in arms[a]], [by_run[(sr.run, step)] for sr in arms[b]], {"step": step}

    tests = compare_pairs(list(arms), at_last_common_step, between_runs_test, metrics, primary, "welch_p")
    return tests if primary else [{**t, "primary": False} for t in tests]  # every row says whether it decides


def seed_summary(results: dict, utterances: dict[tuple[str, int], list[dict]], metric: str = "cer",
                 threshold: float | None = 0.5, reference_arm: str = "acoustic", primary: str | None = None) -> dict:
    """The proof run's numbers: curves, steps to ``threshold`` and to the reference arm's final mean
    (both per seed), the tests between runs on the ``primary`` endpoint (:func:`primary_endpoint`)
    and the secondaries, and the pooled item-level paired tests. ``results`` is what
    ``run_convergence`` returned."""
    rows = results["rows"]
    arms = group_runs(list(results["runs"]))
    primary = primary_endpoint(rows, primary)
    curves = arm_curves(rows, arms, metric)
    ref_curve = curves.get(reference_arm) or []
    ref_final = ref_curve[-1]["mean"] if ref_curve else None
    metrics = SEED_METRICS if primary in SEED_METRICS else (primary, *SEED_METRICS)
    return {"metric": metric, "threshold": threshold, "reference_arm": reference_arm, "primary": primary,
            "reference_final": ref_final, "arms": {a: [sr.seed for sr in runs] for a, runs in arms.items()},
            "curves": curves, "sim_curves": arm_curves(rows, arms, "sim"),
            "primary_curves": arm_curves(rows, arms, primary) if primary != metric else {},
            "steps_to_threshold": steps_to_level(rows, arms, metric, threshold),
            "steps_to_reference": steps_to_level(rows, arms, metric, ref_final),
            "paired": pooled_paired_tests(utterances, arms, metrics),
            "between_runs": run_level_tests(rows, arms, metrics, primary)}


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


def _oriented(t: dict, arm: str) -> dict:
    """A between-runs row read as ``arm`` against the other arm (``_a`` fields are ``arm``'s)."""
    if t["a"] == arm:
        return t
    return {**t, "a": t["b"], "b": t["a"], "diff": -t["diff"], "mean_a": t["mean_b"], "sd_a": t["sd_b"],
            "mean_b": t["mean_a"], "sd_b": t["sd_a"], "runs": tuple(reversed(t["runs"]))}


def _fmt_p(p: float | None, digits: int = 3) -> str:
    return "undefined (no spread between runs)" if p is None else f"{p:.{digits}f}"


def primary_sentence(t: dict | None, primary: str, arm: str, ref: str) -> str:
    """The arm-level sentence: from Welch's test between runs on the primary endpoint only
    (:func:`eval.scoring.outcome`, worded by :func:`eval.scoring.comparison_sentence`)."""
    name = primary.upper()
    if t is None:
        return (f"Primary endpoint {name}: not tested between runs (it needs the metric in every run and two "
                "or more runs an arm), so no arm-level claim")
    numbers = (f"{arm} {t['mean_a']:.3f} ± {t['sd_a']:.3f} vs {ref} {t['mean_b']:.3f} ± {t['sd_b']:.3f} over "
               f"{t['runs'][0]} + {t['runs'][1]} runs at step {t['step']}; Welch p {_fmt_p(t['welch_p'])}; exact "
               f"permutation p {t['perm_p']:.2f}, the smallest these runs can give {t['p_floor']:.2f}")
    return f"Primary endpoint {name}: " + comparison_sentence(arm, ref, primary, outcome(t, "welch_p"), numbers)


def secondary_sentence(tests: list[dict], arm: str) -> str:
    """The secondary metrics in one sentence: those whose Holm-adjusted Welch p is below ALPHA
    (with enough runs, :func:`eval.scoring.outcome`), then every secondary's adjusted p."""
    if not tests:
        return "Secondary metrics: none tested between runs"
    called = [(t, result) for t in tests if (result := outcome(t, "holm_p")) in (BETTER, WORSE)]
    named = "; ".join(f"{t['metric'].upper()} ({arm} {result}, adjusted p {t['holm_p']:.3f})" for t, result in called)
    listing = ", ".join(f"{t['metric'].upper()} {_fmt_p(t['holm_p'])}" for t in tests)
    return (f"Secondary metrics (Welch's test between runs, p Holm-adjusted over {len(tests)}): adjusted p < "
            f"{ALPHA} for {named or 'none'} (all adjusted p: {listing})")


def seeds_verdict(summary: dict, arm: str = "semantic") -> str:
    """What the multi-seed numbers say about ``arm`` against the reference arm, and nothing more:
    the primary endpoint first (an arm-level sentence only from Welch's test between runs with
    ``>= MIN_RUNS`` runs an arm, p < ALPHA), then the secondaries with Holm-adjusted p, then the
    steps ratio with every seed's value (not measurable when a seed never got there). The pooled
    item-level tests are left to seeds.md: they do not test the arm."""
    ref, metric = summary["reference_arm"], summary["metric"]
    primary = summary.get("primary") or FALLBACK_PRIMARY
    tests = [_oriented(t, arm) for t in summary.get("between_runs", []) if {t["a"], t["b"]} == {arm, ref}]
    parts = [primary_sentence(next((t for t in tests if t["metric"] == primary), None), primary, arm, ref),
             secondary_sentence([t for t in tests if t["metric"] != primary], arm)]
    mine, theirs = summary["steps_to_reference"].get(arm), summary["steps_to_reference"].get(ref)
    if mine and theirs and mine["never"] == 0 and theirs["never"] == 0 and theirs["mean"]:
        ratio = mine["mean"] / theirs["mean"]
        parts.append(f"steps to {ref}'s final mean {metric.upper()} ({summary['reference_final']:.3f}): {arm} "
                     f"{_steps_cell(mine)} vs {ref} {_steps_cell(theirs)}, ratio {ratio:.2f} (the paper's claim: ≤ 0.5)")
    elif mine:
        parts.append(f"steps to {ref}'s final mean {metric.upper()}: not measurable ({arm} {_steps_cell(mine)}; "
                     f"{ref} {_steps_cell(theirs)})")
    return "; ".join(parts) + "."


def _between_runs_table(tests: list[dict]) -> list[str]:
    if not tests:
        return ["Not tested (it needs the metric in every run and two or more runs an arm)."]
    lines = ["| a | b | step | metric | diff (a − b) | a: mean ± sd | b: mean ± sd | Welch p | Holm p | perm p | "
             "floor | separated | runs |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in tests:
        holm_cell = "– (primary: not adjusted)" if t["primary"] else _fmt_p(t["holm_p"], 4)
        welch = "–" if t["welch_p"] is None else f"{t['welch_p']:.4f}"
        lines.append(f"| {t['a']} | {t['b']} | {t['step']} | {t['metric']} | {t['diff']:+.4f} | "
                     f"{t['mean_a']:.3f} ± {t['sd_a']:.3f} | {t['mean_b']:.3f} ± {t['sd_b']:.3f} | {welch} | "
                     f"{holm_cell} | {t['perm_p']:.2f} | {t['p_floor']:.2f} | {'yes' if t['separated'] else 'no'} | "
                     f"{t['runs'][0]} + {t['runs'][1]} |")
    return lines


def seeds_report(summary: dict) -> str:
    metric = summary["metric"].upper()
    primary = summary.get("primary") or FALLBACK_PRIMARY
    lines = ["# Convergence over seeds", "",
             "Arms and seeds: " + "; ".join(f"{a}: {len(s)} seeds" for a, s in summary["arms"].items()) + ".",
             f"Primary endpoint (fixed before the run): {primary} at the last step every run scored; test: Welch's "
             f"t-test between runs (alpha {ALPHA}, at least {MIN_RUNS} runs an arm); secondary metrics: Holm-adjusted.",
             "", f"{metric} per arm at each step every seed scored: mean ± sd over seeds (min, max).", ""]
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
    between = summary.get("between_runs", [])
    lines += ["", "## Between runs (the arm-level test)", "",
              "Each run's score at the last step every run scored is one value. Welch p = Welch's t-test between the "
              f"arms' runs (two-sided), the decision test: an arm-level difference needs at least {MIN_RUNS} runs an "
              f"arm and, on the primary endpoint, Welch p < {ALPHA}; on a secondary, Holm p (Welch's p Holm-adjusted "
              f"over the secondaries) < {ALPHA}. perm p = exact permutation test over the arm labels of all runs; "
              "floor = the smallest p these run counts can give (0.10 for 3 + 3, hence not the decision test); "
              "separated = every run of one arm beyond every run of the other.", "",
              "### Primary endpoint", "", *_between_runs_table([t for t in between if t["primary"]]),
              "", "### Secondary metrics", "", *_between_runs_table([t for t in between if not t["primary"]])]
    lines += ["", "## Item-level, pooled over seed pairs (does not test the arm: runs are the unit)", "",
              "Seed k of one arm against seed k of the other, item by item, at the last step every seed scored; "
              "p = two-sided sign-flip test over all (seed, item) pairs; Holm p = p Holm-adjusted over the metrics "
              "of the pair. Secondary: it asks whether these runs' outputs differ on these items.", "",
              "| a | b | step | metric | diff (a − b) | p | Holm p | pairs |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {t['a']} | {t['b']} | {t['step']} | {t['metric']} | {t['diff']:+.4f} | {t['p']:.4f} | "
              f"{t['holm_p']:.4f} | {t['n']} |" for t in summary["paired"]]
    lines += ["", "## Verdict", "", seeds_verdict(summary), "", "Plot: `convergence_seeds.png`.", ""]
    return "\n".join(lines)


def plot_seed_curves(summary: dict, path) -> None:
    """Mean curve per arm with its min-max band over seeds: the primary endpoint (when it is not the
    error rate), the error rate and SIM."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from svae_tts.fileio import atomic_path

    panels = [("curves", summary["metric"].upper()), ("sim_curves", "SIM")]
    if summary.get("primary_curves"):
        panels.insert(0, ("primary_curves", f"{summary['primary']} (primary endpoint)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8))
    for ax, (key, label) in zip(axes, panels):
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
