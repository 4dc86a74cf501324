"""The statistics under the verdicts (eval.scoring): Holm's adjustment by hand, the sign-flip tests
against exact enumeration, and their p under the null hypothesis."""

import itertools
import math
import random

import pytest

from eval.scoring import aggregate, holm, one_sample_test, paired_test, paired_tests


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


def test_paired_tests_carry_holm_over_their_rows():
    a = [{"id": str(i), "sim": 0.5 + 0.01 * i, "lp_gain": 0.3 + 0.02 * (i % 3)} for i in range(8)]
    b = [{**r, "sim": r["sim"] - 0.1, "lp_gain": r["lp_gain"] + (0.01 if int(r["id"]) % 2 else -0.01)} for r in a]
    tests = {t["metric"]: t for t in paired_tests(a, b, ("sim", "lp_gain"))}
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
