"""The statistics under the verdicts (eval.scoring): Holm's adjustment by hand, the sign-flip tests
against exact enumeration, and their p under the null hypothesis."""

import itertools
import math
import random

import pytest

from eval.scoring import aggregate, compare_pairs, holm, one_sample_test, paired_test


def test_holm_by_hand():
    # sorted: 0.01 (x4 = 0.04), 0.03 (x3 = 0.09), 0.04 (x2 = 0.08, raised to the running 0.09), 0.2 (x1)
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    # ties: 0.3 x3 = 0.9, 0.3 x2 = 0.6 raised to 0.9, 0.5 x1 raised to 0.9; one p is its own adjustment
    assert holm([0.5, 0.3, 0.3]) == pytest.approx([0.9, 0.9, 0.9])
    assert holm([0.02]) == [0.02] and holm([]) == []
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # 0.6 x2 capped at 1, then the running maximum
    # None and NaN pass through untouched and do not count in m (here m = 2: 0.01 x2, 0.04 x1)
    got = holm([0.04, None, float("nan"), 0.01])
    assert got[0] == pytest.approx(0.04) and got[1] is None and math.isnan(got[2]) and got[3] == pytest.approx(0.02)


def test_pair_rows_carry_holm_over_their_metrics():
    a = [{"id": str(i), "sim": 0.5 + 0.01 * i, "lp_gain": 0.3 + 0.02 * (i % 3)} for i in range(8)]
    b = [{**r, "sim": r["sim"] - 0.1, "lp_gain": r["lp_gain"] + (0.01 if int(r["id"]) % 2 else -0.01)} for r in a]
    rows = compare_pairs(["a", "b"], lambda x, y: (a, b, {}), paired_test, ("sim", "lp_gain"))
    tests = {t["metric"]: t for t in rows}
    assert tests["sim"]["p"] < 0.05 < tests["lp_gain"]["p"]
    assert tests["sim"]["holm_p"] == pytest.approx(2 * tests["sim"]["p"])
    assert tests["lp_gain"]["holm_p"] == pytest.approx(max(tests["lp_gain"]["p"], tests["sim"]["holm_p"]))


def _exact_sign_flip_p(d):
    """Every one of the 2^n sign patterns: the share whose |sum| is at least the observed |sum|."""
    obs = abs(sum(d))
    sums = [abs(sum(s * x for s, x in zip(signs, d))) for signs in itertools.product((1, -1), repeat=len(d))]
    return sum(v >= obs - 1e-12 for v in sums) / len(sums)


@pytest.mark.parametrize("diffs", [[0.3, -0.1, 0.2, 0.25, -0.05, 0.15],  # exact p 10/64
                                   [0.4, 0.1, -0.3, 0.2, -0.2, 0.05],  # exact p 48/64
                                   [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])  # every sign the same: exact p 2/64
def test_sign_flip_p_matches_exact_enumeration(diffs):
    """6 items: 64 sign patterns. The Monte-Carlo p (1,999 flips, +1s) must be within a few
    standard errors of the exact p; a bug in the flips or the two-sided count breaks this."""
    exact = _exact_sign_flip_p(diffs)
    a = [{"id": str(i), "sim": 0.5 + d} for i, d in enumerate(diffs)]
    b = [{"id": str(i), "sim": 0.5} for i in range(len(diffs))]
    got = paired_test(a, b, "sim")
    se = math.sqrt(exact * (1 - exact) / 1999) + 1 / 2000
    assert got["p"] == pytest.approx(exact, abs=4 * se)
    assert one_sample_test([{"lp_gain": d} for d in diffs], "lp_gain")["p"] == pytest.approx(exact, abs=4 * se)
    # corpus-level CER: the statistic is sum(err_a - err_b) / sum(n), the same sign patterns
    errs = [round(10 * d) for d in diffs]
    ea = [{"id": str(i), "c_err": 5 + e, "c_n": 10} for i, e in enumerate(errs)]
    eb = [{"id": str(i), "c_err": 5, "c_n": 10} for i in range(len(errs))]
    assert paired_test(ea, eb, "cer")["p"] == pytest.approx(_exact_sign_flip_p(errs), abs=4 * se)


def test_sign_flip_p_is_roughly_uniform_under_the_null():
    """Differences drawn symmetric about 0: p below 0.05 about 5 % of the time, below 0.5 about half."""
    rng = random.Random(1)
    ps = []
    for k in range(300):
        d = [rng.gauss(0, 1) for _ in range(12)]
        a = [{"id": str(i), "sim": x} for i, x in enumerate(d)]
        b = [{"id": str(i), "sim": 0.0} for i in range(12)]
        ps.append(paired_test(a, b, "sim", permutations=499, seed=k)["p"])
    below = lambda t: sum(p < t for p in ps) / len(ps)  # noqa: E731
    assert 0.01 <= below(0.05) <= 0.10  # binomial(300, 0.05): sd 0.013
    assert 0.08 <= below(0.15) <= 0.22
    assert 0.41 <= below(0.5) <= 0.59
    assert 0.4 <= sum(ps) / len(ps) <= 0.6


def test_lp_gain_p_says_whether_the_audio_carries_its_text():
    carries = [{"id": str(i), "lp": -0.5, "lp_other": -1.5 + 0.05 * (i % 4), "lp_gain": 1.0 - 0.05 * (i % 4)}
               for i in range(10)]
    agg = aggregate(carries)
    assert agg["lp_gain"] == pytest.approx(1 - 0.05 * 13 / 10) and agg["lp_gain_p"] < 0.01
    noise = [{"id": str(i), "lp_gain": (-1) ** i * 0.3} for i in range(10)]
    assert aggregate(noise)["lp_gain_p"] == 1.0 and one_sample_test(noise, "lp_gain")["mean"] == pytest.approx(0.0)
    assert "lp_gain_p" not in aggregate([{"id": "0", "sim": 0.5}, {"id": "1", "sim": 0.6}])
    assert one_sample_test([{"lp_gain": 0.4}], "lp_gain") is None  # one value cannot be tested


def test_text_gain_is_the_match_effect_of_an_additive_table():
    """lp(t_j | a_i) = audio_i + text_j + gain * [i == j]: the fitted additive model leaves ``gain``
    for every item whatever the audio and text effects, over the band of pairs other_texts picks;
    with no match effect it is 0; an item whose text no other audio was scored on gets none."""
    from eval.scoring import add_text_gains, other_texts

    audio = [0.3, -1.2, 0.8, 0.0, -0.4, 1.1, -0.7, 0.2, 0.5, -0.9]
    text = [-2.0, 0.5, -0.3, 1.4, -1.1, 0.0, 0.9, -0.6, 0.2, -1.5]
    items = [{"id": f"i{k}", "text": f"t{k}"} for k in range(len(audio))]
    for gain in (0.0, 0.75):
        rows = []
        for i in range(len(items)):
            others = other_texts(items, i, k=4)
            assert list(others) == [f"i{(i + d) % len(items)}" for d in range(1, 5)]
            rows.append({"id": f"i{i}", "lp": audio[i] + text[i] + gain,
                         "lp_others": {j: audio[i] + text[int(j[1:])] for j in others}})
        add_text_gains(rows)
        assert [round(r["lp_gain"], 9) for r in rows] == [gain] * len(rows)
    # the row alone (other texts on the same audio) is off by the text's own likelihood
    assert rows[0]["lp"] - sum(rows[0]["lp_others"].values()) / 4 != pytest.approx(0.75)
    # b's audio was scored against no other text: b gets no gain (a's text is on no other audio: none either)
    lone = [{"id": "a", "lp": -1.0, "lp_others": {"b": -2.0}}, {"id": "b", "lp": -1.0}]
    add_text_gains(lone)
    assert "lp_gain" not in lone[0] and "lp_gain" not in lone[1]


# --- the one pairwise comparison (compare_pairs) and the one sentence (outcome, comparison_sentence) ---

RUNS = {  # per arm, each training run's summary row at the step every run scored
    "semantic": [{"cer": 0.30, "wer": 0.50, "sim": 0.61}, {"cer": 0.32, "wer": 0.58, "sim": 0.60},
                 {"cer": 0.29, "wer": 0.52, "sim": 0.66}],
    "acoustic": [{"cer": 0.40, "wer": 0.56, "sim": 0.58}, {"cer": 0.43, "wer": 0.60, "sim": 0.62, "mos_ovrl": 3.1},
                 {"cer": 0.41, "wer": 0.66, "sim": 0.57}],
    "mel": [{"cer": 0.5, "wer": 0.7, "sim": 0.5}],  # one run: no test between runs
}


def _runs_of(a, b):
    return (RUNS[a], RUNS[b], {"step": 300}) if min(len(RUNS[a]), len(RUNS[b])) >= 2 else None


def test_compare_pairs_between_runs_is_welchs_t_with_holm_over_the_secondaries():
    """Welch's p from scipy for every metric, the primary first and on its own p, Holm by hand over
    the two secondaries; a pair the sampler leaves out (one run) and a metric a run lacks give no row."""
    import statistics

    from scipy.stats import ttest_ind

    from eval.scoring import between_runs_test

    rows = compare_pairs(list(RUNS), _runs_of, between_runs_test, ("wer", "sim", "mos_ovrl", "cer"), primary="cer",
                         p_key="welch_p")
    assert [(r["a"], r["b"], r["metric"], r["primary"]) for r in rows] == [
        ("semantic", "acoustic", "cer", True), ("semantic", "acoustic", "wer", False),
        ("semantic", "acoustic", "sim", False)]
    for r in rows:
        va, vb = ([x[r["metric"]] for x in RUNS[arm]] for arm in ("semantic", "acoustic"))
        assert r["welch_p"] == pytest.approx(ttest_ind(va, vb, equal_var=False).pvalue, rel=1e-12)
        assert r["diff"] == pytest.approx(statistics.fmean(va) - statistics.fmean(vb))
        assert (r["step"], r["runs"], r["sd_b"]) == (300, (3, 3), pytest.approx(statistics.stdev(vb)))
    cer, wer, sim = rows
    assert cer["holm_p"] is None and cer["welch_p"] < 0.01 and cer["separated"]
    low, high = sorted((wer, sim), key=lambda r: r["welch_p"])
    assert low["holm_p"] == pytest.approx(min(1.0, 2 * low["welch_p"]))
    assert high["holm_p"] == pytest.approx(max(low["holm_p"], high["welch_p"]))


def test_compare_pairs_item_level_is_the_sign_flip_test_scipy_enumerates():
    """Two models on 8 items: each metric's p within Monte-Carlo error of scipy's exact paired
    permutation test (all 256 sign patterns), holm_p over the pair's two metrics, diff A minus B."""
    import numpy as np
    from scipy.stats import permutation_test

    sims = [0.12, 0.08, 0.15, -0.02, 0.10, 0.07, 0.11, 0.09]
    gains = [0.05, -0.04, 0.02, -0.03, 0.01, 0.04, -0.05, 0.02]
    a = [{"id": f"u{i}", "sim": 0.5 + s, "lp_gain": 0.2 + g} for i, (s, g) in enumerate(zip(sims, gains))]
    b = [{"id": f"u{i}", "sim": 0.5, "lp_gain": 0.2} for i in range(8)]
    rows = compare_pairs(["x", "y"], lambda p, q: (a, b, {}), paired_test, ("sim", "lp_gain"))
    assert [(r["a"], r["b"], r["metric"], r["n"]) for r in rows] == [("x", "y", "sim", 8), ("x", "y", "lp_gain", 8)]
    for r, d in zip(rows, (sims, gains)):
        exact = permutation_test((np.array(d) + 0.5, np.full(8, 0.5)), lambda u, v, axis: np.mean(u - v, axis=axis),
                                 permutation_type="samples", n_resamples=np.inf, vectorized=True).pvalue
        se = math.sqrt(exact * (1 - exact) / 1999) + 1 / 2000
        assert r["p"] == pytest.approx(exact, abs=4 * se) and r["diff"] == pytest.approx(sum(d) / 8)
    sim, gain = rows
    assert sim["p"] < 0.05 < gain["p"]
    assert sim["holm_p"] == pytest.approx(2 * sim["p"]) and gain["holm_p"] == pytest.approx(max(gain["p"], 2 * sim["p"]))
    assert "primary" not in sim  # no endpoint named: every metric is in the family


def test_outcome_and_sentence_for_every_branch():
    from eval.scoring import (BETTER, NO_DIFFERENCE, TOO_FEW_RUNS, WORSE, between_runs_test, comparison_sentence,
                              outcome)

    t = {"a": "semantic", "b": "acoustic", "metric": "cer", "diff": -0.1, "p": 0.01, "n": 12}
    assert outcome(t) == BETTER  # an error rate: lower is better
    assert outcome({**t, "diff": 0.1}) == WORSE
    assert outcome({**t, "metric": "sim"}) == WORSE  # a similarity: higher is better
    assert outcome({**t, "p": 0.05}) == outcome({**t, "p": None}) == outcome({**t, "p": float("nan")}) == NO_DIFFERENCE
    assert outcome({**t, "holm_p": 0.2}, "holm_p") == NO_DIFFERENCE and outcome({**t, "holm_p": 0.02}, "holm_p") == BETTER
    # between runs: three runs an arm before a side is named, however small the p
    three = compare_pairs(list(RUNS), _runs_of, between_runs_test, ("cer",), primary="cer", p_key="welch_p")[0]
    assert outcome(three, "welch_p") == BETTER
    assert outcome({**three, "runs": (2, 3)}, "welch_p") == TOO_FEW_RUNS
    say = lambda result, stats="p 0.010": comparison_sentence("semantic", "acoustic", "CER", result, stats)  # noqa: E731
    assert say(BETTER) == "semantic is better than acoustic on CER (p 0.010)"
    assert say(WORSE) == "semantic is worse than acoustic on CER (p 0.010)"
    assert say(NO_DIFFERENCE, "p 0.300") == "no difference shown between semantic and acoustic on CER (p 0.300)"
    assert say(TOO_FEW_RUNS, "Welch p 0.001") == ("no difference shown between semantic and acoustic on CER "
                                                  "(Welch p 0.001; fewer than 3 runs an arm)")
    assert say(BETTER, "") == "semantic is better than acoustic on CER"
    with pytest.raises(ValueError, match="unknown comparison outcome 'ns'"):
        say("ns")
