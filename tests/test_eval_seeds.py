"""Multi-seed convergence numbers (eval.seeds): spread, steps to a level, paired tests pooled over seeds.

The inputs are score rows as eval.convergence writes them; the values are built so that every
expected number can be worked out by hand."""

import pytest

from eval.seeds import (arm_curves, first_step_reaching, group_runs, parse_run_name, pooled_paired_tests,
                        run_level_tests, run_name, seed_summary, steps_to_level)

# CER per (arm, seed) at steps 100, 200, 300
CURVES = {
    ("semantic", 0): [0.9, 0.5, 0.3],
    ("semantic", 1): [0.8, 0.6, 0.4],
    ("semantic", 2): [0.9, 0.7, 0.35],
    ("acoustic", 0): [0.95, 0.8, 0.6],
    ("acoustic", 1): [0.9, 0.85, 0.7],
    ("acoustic", 2): [1.0, 0.9, 0.65],
}
STEPS = (100, 200, 300)


def _rows():
    return [{"run": run_name(arm, seed), "step": step, "cer": v}
            for (arm, seed), vals in CURVES.items() for step, v in zip(STEPS, vals)]


def _utterances(items=10, better=0.2):
    """Per-item rows: the semantic arm makes ``better`` x 10 fewer char errors per item at every seed."""
    out = {}
    for (arm, seed), _ in CURVES.items():
        for step in STEPS:
            err = 5 if arm == "acoustic" else 5 - round(better * 10)
            out[(run_name(arm, seed), step)] = [
                {"id": f"i{k}", "c_err": err + (k % 3), "c_n": 10, "cer": (err + k % 3) / 10, "sim": 0.5 + 0.01 * k}
                for k in range(items)]
    return out


def test_run_names_carry_arm_and_seed():
    assert parse_run_name("semantic_s2").arm == "semantic" and parse_run_name("semantic_s2").seed == 2
    assert parse_run_name("my_arm_s10").arm == "my_arm"
    assert parse_run_name("semantic") is None and parse_run_name("semantic_sx") is None
    arms = group_runs(["acoustic_s1", "semantic_s0", "acoustic_s0", "plain"])
    assert list(arms) == ["acoustic", "semantic"]
    assert [r.seed for r in arms["acoustic"]] == [0, 1]


def test_curves_have_mean_and_spread_over_seeds():
    curves = arm_curves(_rows(), group_runs([run_name(a, s) for a, s in CURVES]), "cer")
    last = curves["semantic"][-1]
    assert last["step"] == 300 and last["n"] == 3
    assert last["mean"] == pytest.approx(0.35) and last["sd"] == pytest.approx(0.05)
    assert (last["min"], last["max"]) == (0.3, 0.4)
    # a step that one seed has not scored is not averaged over the others
    rows = [r for r in _rows() if not (r["run"] == "acoustic_s2" and r["step"] == 300)]
    assert [p["step"] for p in arm_curves(rows, group_runs(["acoustic_s0", "acoustic_s1", "acoustic_s2"]), "cer")["acoustic"]] == [100, 200]


def test_steps_to_a_level_per_seed_and_never():
    rows = _rows()
    assert first_step_reaching(rows, "semantic_s0", "cer", 0.5) == 200
    assert first_step_reaching(rows, "acoustic_s1", "cer", 0.5) is None
    arms = group_runs([run_name(a, s) for a, s in CURVES])
    got = steps_to_level(rows, arms, "cer", 0.5)
    assert got["semantic"]["per_seed"] == {0: 200, 1: 300, 2: 300}
    assert got["semantic"]["mean"] == pytest.approx(800 / 3) and got["semantic"]["never"] == 0
    assert got["acoustic"]["never"] == 3 and got["acoustic"]["mean"] is None
    # higher is better for SIM
    sim_rows = [{"run": "a_s0", "step": 1, "sim": 0.2}, {"run": "a_s0", "step": 2, "sim": 0.7}]
    assert first_step_reaching(sim_rows, "a_s0", "sim", 0.6) == 2


def test_summary_measures_steps_to_the_reference_arms_final_mean():
    utts = _utterances()
    results = {"runs": {run_name(a, s): "" for a, s in CURVES}, "rows": _rows()}
    s = seed_summary(results, utts, threshold=0.5)
    assert s["reference_final"] == pytest.approx(0.65)  # acoustic's mean CER at step 300
    assert s["steps_to_reference"]["semantic"]["per_seed"] == {0: 200, 1: 200, 2: 300}
    assert s["steps_to_reference"]["acoustic"]["per_seed"] == {0: 300, 1: None, 2: 300}
    assert s["steps_to_threshold"]["semantic"]["per_seed"] == {0: 200, 1: 300, 2: 300}


def test_pooled_paired_test_sees_a_consistent_gain_and_not_noise():
    arms = group_runs([run_name(a, s) for a, s in CURVES])
    tests = {t["metric"]: t for t in pooled_paired_tests(_utterances(better=0.2), arms)}
    cer = tests["cer"]
    assert (cer["a"], cer["b"], cer["step"], cer["seeds"], cer["n"]) == ("semantic", "acoustic", 300, 3, 30)
    assert cer["diff"] == pytest.approx(-0.2) and cer["p"] < 0.01  # 30 pairs, every one the same sign
    assert tests["sim"]["diff"] == pytest.approx(0.0) and tests["sim"]["p"] == 1.0
    same = {t["metric"]: t for t in pooled_paired_tests(_utterances(better=0.0), arms)}
    assert same["cer"]["diff"] == 0.0 and same["cer"]["p"] == 1.0


def test_between_runs_test_is_exact_over_the_arm_labels():
    """Each run's final score is one value; p counts the splits of the runs into two arms whose mean
    difference is at least as large as the real one (worked out by hand for 2 + 2 runs)."""
    t = {x["metric"]: x for x in run_level_tests(_rows(), group_runs([run_name(a, s) for a, s in CURVES]))}["cer"]
    # step 300: semantic 0.3 / 0.4 / 0.35 against acoustic 0.6 / 0.7 / 0.65, the most extreme of the 20 splits
    assert (t["step"], t["runs"], t["separated"]) == (300, (3, 3), True)
    assert t["diff"] == pytest.approx(-0.3) and t["perm_p"] == pytest.approx(0.1) and t["p_floor"] == pytest.approx(0.1)

    def two_by_two(a, b):
        rows = [{"run": run_name(arm, k), "step": 100, "cer": v} for arm, vals in (("x", a), ("y", b))
                for k, v in enumerate(vals)]
        return run_level_tests(rows, group_runs([r["run"] for r in rows]), metrics=("cer",))[0]

    # splits of {1, 2, 3, 4} into pairs: mean differences -2, -1, 0, 0, 1, 2
    apart = two_by_two([1.0, 2.0], [3.0, 4.0])
    assert (apart["diff"], apart["perm_p"], apart["p_floor"], apart["separated"]) == (-2.0, pytest.approx(1 / 3), pytest.approx(1 / 3), True)
    mixed = two_by_two([1.0, 3.0], [2.0, 4.0])
    assert (mixed["diff"], mixed["perm_p"], mixed["separated"]) == (-1.0, pytest.approx(2 / 3), False)
    # an arm of one run has no spread to test against; a metric one run lacks is left out
    rows = [{"run": run_name(arm, k), "step": 100, "cer": 0.5, "sim": float("nan") if k else 0.7}
            for arm, n in (("x", 2), ("y", 2), ("z", 1)) for k in range(n)]
    tests = run_level_tests(rows, group_runs([r["run"] for r in rows]), metrics=("cer", "sim"))
    assert [(t["a"], t["b"], t["metric"]) for t in tests] == [("x", "y", "cer")]
    assert (tests[0]["diff"], tests[0]["perm_p"]) == (0.0, 1.0)
    assert tests[0]["welch_p"] is None  # runs that agree exactly: Welch's t is undefined, not p 0 or 1


def test_welch_between_runs_against_a_hand_computed_t():
    """Welch's test on 3 + 3 run-level values: t and its degrees of freedom worked out by hand,
    p = 2 P(T_df > |t|); the exact permutation p beside it cannot go below 0.10."""
    from scipy.stats import t as student_t

    from eval.scoring import welch_p

    tests = {x["metric"]: x for x in run_level_tests(_rows(), group_runs([run_name(a, s) for a, s in CURVES]))}
    cer = tests["cer"]
    # semantic 0.30 / 0.40 / 0.35 (mean 0.35, variance 0.0025), acoustic 0.60 / 0.70 / 0.65 (mean 0.65, 0.0025):
    # se = sqrt(0.0025 / 3 + 0.0025 / 3) = 0.0408248, t = -0.3 / se = -7.34847,
    # df = (2 * 0.0025 / 3) ** 2 / (2 * (0.0025 / 3) ** 2 / 2) = 4
    t_hand, df_hand = -0.3 / (2 * 0.0025 / 3) ** 0.5, 4.0
    assert t_hand == pytest.approx(-7.34847, abs=1e-5)
    assert cer["welch_p"] == pytest.approx(2 * student_t.sf(abs(t_hand), df_hand), rel=1e-9)
    assert 0.001 < cer["welch_p"] < 0.002 and cer["perm_p"] == pytest.approx(0.1)
    assert (cer["mean_a"], cer["sd_a"], cer["mean_b"], cer["sd_b"]) == pytest.approx((0.35, 0.05, 0.65, 0.05))
    # unequal spreads: [1, 2, 3] (variance 1) vs [4, 5, 7] (variance 7/3): t = -10/3 / sqrt(10/9) = -3.16228,
    # df = (10/9)^2 / ((1/3)^2 / 2 + (7/9)^2 / 2) = 3.44828 (Welch-Satterthwaite), not the 4 of Student's test
    t_hand = (2 - 16 / 3) / (1 / 3 + 7 / 9) ** 0.5
    df_hand = (10 / 9) ** 2 / ((1 / 3) ** 2 / 2 + (7 / 9) ** 2 / 2)
    assert (t_hand, df_hand) == (pytest.approx(-3.16228, abs=1e-5), pytest.approx(3.44828, abs=1e-5))
    assert welch_p([1.0, 2.0, 3.0], [4.0, 5.0, 7.0]) == pytest.approx(2 * student_t.sf(abs(t_hand), df_hand), rel=1e-9)
    assert welch_p([1.0, 2.0, 3.0], [4.0, 5.0, 7.0]) != pytest.approx(2 * student_t.sf(abs(t_hand), 4), rel=1e-3)


def _lp_rows(semantic, acoustic, step=300):
    """Run-level rows at one step: lp_gain per seed (the primary), CER and SIM as secondaries."""
    rows = []
    for arm, gains in (("semantic", semantic), ("acoustic", acoustic)):
        for k, g in enumerate(gains):
            rows.append({"run": run_name(arm, k), "step": step, "lp_gain": g, "lp": -1.0 + g,
                         "cer": 0.6 - 0.1 * g + 0.01 * k, "sim": 0.5 + 0.01 * k})
    return {"runs": {r["run"]: "" for r in rows}, "rows": rows}


def test_primary_endpoint_decides_and_secondaries_are_holm_adjusted():
    from eval.seeds import primary_endpoint, seeds_report, seeds_verdict

    clear = seed_summary(_lp_rows([0.50, 0.55, 0.60], [0.10, 0.12, 0.15]), {}, threshold=None)
    assert clear["primary"] == "lp_gain"  # the rows have it: the default endpoint
    # its curves over seeds are kept for the plot's first panel (the error-rate curves are CER's)
    assert clear["primary_curves"]["semantic"] == [{"step": 300, "mean": pytest.approx(0.55), "sd": pytest.approx(0.05),
                                                    "min": 0.50, "max": 0.60, "n": 3}]
    assert primary_endpoint([{"cer": 0.5}]) == "cer" and primary_endpoint([{"cer": 0.5}], "sim") == "sim"
    tests = {t["metric"]: t for t in clear["between_runs"]}
    assert clear["between_runs"][0]["metric"] == "lp_gain" and tests["lp_gain"]["primary"]
    assert tests["lp_gain"]["holm_p"] is None and tests["lp_gain"]["welch_p"] < 0.05
    # the secondaries' Welch p, Holm-adjusted over the three of them by hand
    raw = sorted((tests[m]["welch_p"], m) for m in ("cer", "sim", "lp"))
    want, running = {}, 0.0
    for rank, (p, m) in enumerate(raw):
        running = max(running, min(1.0, (3 - rank) * p))
        want[m] = running
    assert {m: tests[m]["holm_p"] for m in want} == pytest.approx(want)
    v = seeds_verdict(clear)
    assert v.startswith("Primary endpoint LP_GAIN: semantic is better than acoustic on lp_gain (semantic 0.550 ± 0.050 vs acoustic "
                        "0.123 ± 0.025 over 3 + 3 runs at step 300; Welch p ")
    assert "exact permutation p 0.10, the smallest these runs can give 0.10" in v
    assert "Secondary metrics (Welch's test between runs, p Holm-adjusted over 3): adjusted p < 0.05 for " in v
    assert f"SIM {tests['sim']['holm_p']:.3f}" in v and "SIM (semantic" not in v  # SIM is the same in both arms
    report = seeds_report(clear)
    assert report.index("### Primary endpoint") < report.index("| lp_gain |") < report.index("### Secondary metrics")
    assert f"| {tests['sim']['holm_p']:.4f} |" in report
    # overlapping runs: no difference shown, whatever the sign of the means
    mixed = seed_summary(_lp_rows([0.2, 0.5, 0.3], [0.25, 0.1, 0.4]), {}, threshold=None)
    v = seeds_verdict(mixed)
    assert v.startswith("Primary endpoint LP_GAIN: no difference shown between semantic and acoustic on lp_gain "
                        "(semantic 0.333")
    assert "runs an arm" not in v and "semantic is better" not in v and "semantic is worse" not in v
    # two runs an arm, however far apart: no arm-level sentence
    two = seed_summary(_lp_rows([0.50, 0.60], [0.10, 0.12]), {}, threshold=None)
    v = seeds_verdict(two)
    assert "no difference shown between semantic and acoustic on lp_gain" in v and v.count("fewer than 3 runs an arm)") == 1
    assert "better" not in v and "adjusted p < 0.05 for none" in v


def test_report_and_verdict_name_a_winner_only_on_a_significant_difference(tmp_path):
    from eval.seeds import plot_seed_curves, seeds_report, seeds_verdict

    results = {"runs": {run_name(a, s): "" for a, s in CURVES}, "rows": _rows()}
    s = seed_summary(results, _utterances(better=0.2), threshold=0.5)
    v = seeds_verdict(s)
    # no lp_gain in these rows: CER is the primary endpoint, and 3 + 3 well separated runs decide it
    assert s["primary"] == "cer"
    assert v.startswith("Primary endpoint CER: semantic is better than acoustic on cer (semantic 0.350 ± 0.050 vs acoustic 0.650 ± "
                        "0.050 over 3 + 3 runs at step 300; Welch p 0.002; exact permutation p 0.10, the smallest "
                        "these runs can give 0.10)")
    assert "Secondary metrics: none tested between runs" in v  # the rows hold only CER
    # one acoustic seed never reached its own arm's final mean: the ratio is not claimed
    assert "not measurable" in v and "ratio" not in v
    flat = seed_summary({"runs": results["runs"], "rows": [{**r, "cer": 0.5 + (0.01 if r["run"].endswith("1") else 0)}
                                                         for r in _rows()]}, _utterances(better=0.0), threshold=0.5)
    assert "better" not in seeds_verdict(flat) and "no difference shown between semantic and acoustic on cer" in seeds_verdict(flat)
    report = seeds_report(s)
    assert "| 300 | 0.350 ± 0.050" in report and "s1: never" in report
    assert ("| semantic | acoustic | 300 | cer | -0.3000 | 0.350 ± 0.050 | 0.650 ± 0.050 | 0.0018 | "
            "– (primary: not adjusted) | 0.10 | 0.10 | yes | 3 + 3 |") in report
    # the item-level tests stay, labelled as what they are, with Holm beside the raw p
    assert "## Item-level, pooled over seed pairs (does not test the arm: runs are the unit)" in report
    pooled = {t["metric"]: t for t in s["paired"]}
    assert pooled["cer"]["holm_p"] == pytest.approx(min(1.0, 2 * pooled["cer"]["p"]))  # the smaller of two p's
    assert f"| cer | -0.2000 | {pooled['cer']['p']:.4f} | {pooled['cer']['holm_p']:.4f} | 30 |" in report
    plot_seed_curves(s, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_verdict_gives_the_steps_ratio_when_every_seed_got_there():
    from eval.seeds import seeds_verdict

    curves = {("semantic", 0): [0.45, 0.4], ("semantic", 1): [0.5, 0.45], ("acoustic", 0): [0.8, 0.5],
              ("acoustic", 1): [0.7, 0.5]}
    rows = [{"run": run_name(a, s), "step": st, "cer": v} for (a, s), vals in curves.items() for st, v in zip((100, 200), vals)]
    s = seed_summary({"runs": {run_name(a, k): "" for a, k in curves}, "rows": rows}, {}, threshold=0.5)
    assert s["steps_to_reference"]["semantic"]["per_seed"] == {0: 100, 1: 100}
    assert "ratio 0.50" in seeds_verdict(s)
