"""The scorer shared by recon, tts and convergence: one object that holds every judge, loaded once.

Per utterance it computes what its judges allow: WER/CER against the text (ASR judge given), with a
judge that scores text (Whisper) the log-probability of the text given the audio (``lp``) and of other
items' texts (``lp_others``, whose mean ``lp_other`` is its chance level; :func:`add_text_gains` turns
them into ``lp_gain`` once every item is scored),
speaker similarity against a reference clip (the prompt for TTS, the original for reconstruction),
predicted MOS, and with a ground-truth waveform the signal metrics. Aggregation keeps both WER means.

The tests that read those scores live here too, each once: the sign-flip tests (:func:`paired_test`
between two models item by item, :func:`one_sample_test` against 0), Welch's test between the
training runs of two arms (:func:`between_runs_test`), Holm's adjustment, the one loop over pairs of
models, runs or arms (:func:`compare_pairs`), and the one rule and wording of what a comparison
shows (:func:`outcome`, :func:`comparison_sentence`).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

import torch

from eval.metrics import signal as S
from eval.metrics.text import ErrorCounts, aggregate_error_rates, char_errors, word_errors
from eval.report import finite
from svae_tts.text import asr_scoring_text


@dataclass
class Scorer:
    asr: str | None = None  # hub id / dir of the ASR judge; None = no WER
    sim: str | None = "resemblyzer"
    mos: str | None = "dnsmos"
    device: str = "cpu"
    _asr: object = field(default=None, init=False, repr=False)
    _sim: object = field(default=None, init=False, repr=False)
    _mos: object = field(default=None, init=False, repr=False)
    _ref_embeddings: dict = field(default_factory=dict, init=False, repr=False)

    def load(self) -> "Scorer":
        """Load every judge now, so a missing model fails before any synthesis starts."""
        from eval.metrics.asr import get_asr_backend
        from eval.metrics.quality import get_quality_backend
        from eval.metrics.speaker import get_speaker_backend

        if self.asr and self._asr is None:
            self._asr = get_asr_backend(self.asr, self.device)
        if self.sim and self._sim is None:
            self._sim = get_speaker_backend(self.sim, self.device)
        if self.mos and self._mos is None:
            self._mos = get_quality_backend(self.mos)
        return self

    def describe(self) -> dict:
        return {"asr": self.asr, "sim": self.sim, "mos": self.mos}

    def score(self, wav: torch.Tensor, sr: int, text: str | None = None, sim_ref: tuple[torch.Tensor, int] | None = None,
              target: tuple[torch.Tensor, int] | None = None, sim_ref_key: str | None = None,
              other_texts: dict[str, str] | None = None) -> dict:
        """Metrics of one generated/reconstructed waveform. Keys absent when their judge is absent.

        ``sim_ref_key`` (e.g. the prompt's path) caches the reference's speaker embedding: a test list
        scored at many checkpoints embeds each prompt once. ``other_texts`` (other items' texts by
        item id, :func:`other_texts`) gives, with a judge that scores text, ``lp_others`` (the
        log-probability of each of them given this audio, by id) and ``lp_other`` (their mean).
        """
        self.load()
        row: dict = {}
        if self._asr is not None and text is not None:
            others = dict(other_texts or {})
            hyp, lps = self._asr.read(wav, sr, (text, *others.values()))
            w, c = word_errors(text, hyp), char_errors(text, hyp)
            row.update(hyp=asr_scoring_text(hyp), ref=asr_scoring_text(text), wer=w.rate, cer=c.rate,
                       w_err=w.errors, w_n=w.ref_len, c_err=c.errors, c_n=c.ref_len)
            if lps is not None:
                row["lp"] = lps[0]
                if others:
                    row["lp_others"] = dict(zip(others, lps[1:]))
                    finite_others = [v for v in lps[1:] if math.isfinite(v)]
                    row["lp_other"] = sum(finite_others) / len(finite_others) if finite_others else float("nan")
        if self._sim is not None and sim_ref is not None:
            from eval.metrics.speaker import cosine

            if sim_ref_key is None:
                ref_emb = self._sim.embed(*sim_ref)
            else:
                if sim_ref_key not in self._ref_embeddings:
                    self._ref_embeddings[sim_ref_key] = self._sim.embed(*sim_ref)
                ref_emb = self._ref_embeddings[sim_ref_key]
            row["sim"] = cosine(self._sim.embed(wav, sr), ref_emb)
        if self._mos is not None:
            for k, v in self._mos.score(wav, sr).items():
                row[f"mos_{k}"] = v
        if target is not None:
            ref, ref_sr = target
            row["pesq"] = S.pesq_wb(ref, wav, ref_sr, sr)
            row["stoi"] = S.stoi(ref, wav, ref_sr, sr)
            row["si_sdr"] = S.si_sdr(ref, wav, ref_sr, sr)
            row["mel_dist"] = S.mel_distance(ref, wav, ref_sr, sr)
        return row


MOS_HEADLINES = ("mos_utmos", "mos_ovrl")  # the MOS columns a comparison reads, preferred first


def mos_key(row: dict) -> str | None:
    """The MOS column ``row`` carries (``mos_<judge score>``, as :meth:`Scorer.score` names them):
    UTMOS when scored, else DNSMOS's overall; None without a MOS judge."""
    return next((k for k in MOS_HEADLINES if k in row), None)


OTHER_TEXTS = 8  # other items' texts each item is also scored against (the chance level of its own)


def other_texts(items: list, i: int, k: int = OTHER_TEXTS) -> dict[str, str]:
    """The texts item ``i`` is scored against besides its own, by item id: those of the next
    ``k`` items, cyclically (at most every other item). A fixed band, so every checkpoint scores
    the same pairs, and every text is also scored on ``k`` other items' audio, which
    :func:`add_text_gains` needs. Items are :class:`eval.testlist.TestItem` or dicts with ``id``
    and ``text``."""
    n = len(items)
    get = (lambda t, key: getattr(t, key)) if n and hasattr(items[0], "text") else (lambda t, key: t[key])
    picked = [items[(i + d) % n] for d in range(1, min(k, n - 1) + 1)]
    return {str(get(t, "id")): get(t, "text") for t in picked}


def add_text_gains(rows: list[dict]) -> list[dict]:
    """``lp_gain`` for every row with ``lp`` and ``lp_others``: how much likelier the judge finds
    the text an audio should carry than its audio and its text would make any pair.

    The judge's log-probability of text t given audio a mixes three things: how likely t is to any
    listener (short common words are), how readily a gives any text (clean, familiar speech does),
    and whether a carries t. Against other texts on the same audio alone the first dominates the
    per-item differences. So an additive model ``lp(t_j|a_i) = audio_i + text_j`` is fitted by least
    squares to the mismatched pairs scored (each item's row of other texts; its text on the other
    items' audio comes from their rows), and the gain is ``lp(t_i|a_i) - audio_i - text_i``: exactly
    the match effect when the table is additive, 0 on average at chance. (The model's effects are
    fixed up to a constant moved between audio and text; their sum, all the gain needs, is not.)
    A row whose audio or text was scored in no mismatched pair gets none. Returns ``rows``
    (changed in place)."""
    import numpy as np

    entries = [(str(r.get("id")), str(j), float(v)) for r in rows if isinstance(r.get("lp_others"), dict)
               for j, v in r["lp_others"].items() if isinstance(v, (int, float)) and math.isfinite(v)]
    if not entries:
        return rows
    audio = {i: k for k, i in enumerate(dict.fromkeys(i for i, _, _ in entries))}
    text = {j: len(audio) + k for k, j in enumerate(dict.fromkeys(j for _, j, _ in entries))}
    design = np.zeros((len(entries), len(audio) + len(text)))
    for row, (i, j, _) in enumerate(entries):
        design[row, audio[i]] = design[row, text[j]] = 1.0
    effects = np.linalg.lstsq(design, np.array([v for _, _, v in entries]), rcond=None)[0]
    for r in rows:
        key, own = str(r.get("id")), r.get("lp")
        if isinstance(own, (int, float)) and math.isfinite(own) and key in audio and key in text:
            r["lp_gain"] = own - float(effects[audio[key]] + effects[text[key]])
    return rows


def aggregate(rows: list[dict]) -> dict:
    """Means over utterances (NaN skipped), corpus-level WER/CER from the summed edit counts, and
    their chance levels (:func:`chance_error_rates`); with per-item ``lp_gain``, ``lp_gain_p``: does
    the audio carry its text (:func:`one_sample_test` against 0)."""
    out: dict = {"n": len(rows)}
    if not rows:
        return out
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    for k in keys:
        if k in ("w_err", "w_n", "c_err", "c_n"):
            continue
        vals = [r[k] for r in rows if k in r and r[k] is not None and not math.isnan(float(r[k]))]
        out[k] = sum(vals) / len(vals) if vals else float("nan")
    for unit in ("w", "c"):
        with_counts = [r for r in rows if f"{unit}_n" in r]
        if with_counts:
            counts = [ErrorCounts(r[f"{unit}_err"], 0, 0, r[f"{unit}_n"]) for r in with_counts]
            agg = aggregate_error_rates(counts)
            name = "wer" if unit == "w" else "cer"
            out[f"{name}_corpus"] = agg["corpus"]
    out.update(chance_error_rates(rows))
    carries = one_sample_test(rows, "lp_gain")
    if carries is not None:
        out["lp_gain_p"] = carries["p"]
    return out


def chance_error_rates(rows: list[dict], shuffles: int = 199, max_items: int = 100, seed: int = 0) -> dict:
    """Is the judge reading *these* utterances, or printing what it prints for any speech-like sound?

    A weak judge, or any judge hearing noise, still prints common words and letters, and a TTS
    output as long as its text makes about as many of them: a CER of 0.75 can mean nothing was
    understood. This is a randomisation test that keeps each reference's length and make-up and
    destroys its content: every reference is scrambled ``shuffles`` times (words in a new order
    for WER; letters moved among the letter positions, spaces kept in place, for CER) and the
    transcripts are scored against the scrambled texts. ``wer_chance``/``cer_chance`` are the mean
    corpus-level error against the scrambles, ``wer_p``/``cer_p`` the share of scrambles (with the
    usual +1s) that score at least as well as the real texts: a rate shows something was
    understood only when its ``p`` is small. Over ``max_items`` rows a seeded subset is tested.
    """
    pairs = [(asr_scoring_text(r["ref"]), r["hyp"]) for r in rows
             if isinstance(r.get("hyp"), str) and isinstance(r.get("ref"), str) and asr_scoring_text(r["ref"])]
    if not pairs:
        return {}
    rng = random.Random(seed)
    if len(pairs) > max_items:
        pairs = [pairs[i] for i in sorted(rng.sample(range(len(pairs)), max_items))]
    out = {}
    for name, fn, words in (("wer", word_errors, True), ("cer", char_errors, False)):
        truth = aggregate_error_rates([fn(ref, hyp) for ref, hyp in pairs])["corpus"]
        null = [aggregate_error_rates([fn(_scrambled(ref, rng, words), hyp) for ref, hyp in pairs])["corpus"]
                for _ in range(shuffles)]
        out[f"{name}_chance"] = sum(null) / shuffles
        out[f"{name}_p"] = (1 + sum(v <= truth + 1e-12 for v in null)) / (1 + shuffles)
    return out


def _scrambled(text: str, rng, words: bool) -> str:
    if words:
        tokens = text.split()
        rng.shuffle(tokens)
        return " ".join(tokens)
    letters = [c for c in text if c != " "]
    rng.shuffle(letters)
    it = iter(letters)
    return "".join(c if c == " " else next(it) for c in text)


PAIRED_METRICS = {"wer": ("w_err", "w_n"), "cer": ("c_err", "c_n")}  # error rates: counts per item


SIGNIFICANT_P = 0.05  # a difference between arms counts when its paired test's p is below this
LOWER_IS_BETTER = frozenset({"wer", "cer", "mel_dist"})  # error rates and distances; every other score: higher
PERMUTATIONS = 1999  # sign flips per paired test: its smallest p is 1 / (1 + PERMUTATIONS) = 0.0005


def p_text(p: float, permutations: int = PERMUTATIONS) -> str:
    """``p 0.0123``, or ``p ≤ 0.0005`` at the test's floor, where no flip did as well as the data."""
    return f"p ≤ {1 / (1 + permutations):.4f}" if p <= 1 / (1 + permutations) + 1e-12 else f"p {p:.4f}"


def paired_test(a_rows: list[dict], b_rows: list[dict], key: str, permutations: int = PERMUTATIONS,
                seed: int = 0) -> dict | None:
    """Is model A's ``key`` different from model B's on the same test items, beyond what item-to-item
    variation gives? A paired randomisation (sign-flip) test over the items both scored. It
    compares these two sets of outputs (two trained models, or seed pairs pooled): it does not
    test an arm, whose unit is the training run (:func:`eval.seeds.run_level_tests`).

    Rows are per-utterance score rows (they carry ``id``). For WER/CER the statistic is the
    corpus-level difference, ``sum(err_a - err_b) / sum(n)`` from the edit counts; for any other
    key (SIM, MOS, LP, ...) the mean per-item difference. Under the null hypothesis the two models'
    outputs of an item are exchangeable, so each item's difference keeps its size and gets a
    random sign. ``p`` is two-sided, with the usual +1s; ``diff`` is A minus B. ``None`` when
    fewer than two items have the value in both arms.
    """
    b_by_id = {r.get("id"): r for r in b_rows if r.get("id") is not None}
    pairs = [(r, b_by_id[r["id"]]) for r in a_rows if r.get("id") in b_by_id]
    err_n = PAIRED_METRICS.get(key)

    def usable(r: dict) -> bool:
        if err_n is not None:
            return isinstance(r.get(err_n[0]), (int, float)) and isinstance(r.get(err_n[1]), (int, float))
        v = r.get(key)
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    pairs = [(ra, rb) for ra, rb in pairs if usable(ra) and usable(rb)]
    if len(pairs) < 2:
        return None
    if err_n is not None:
        d = [ra[err_n[0]] - rb[err_n[0]] for ra, rb in pairs]
        scale = float(sum(ra[err_n[1]] for ra, _ in pairs)) or 1.0
    else:
        d = [ra[key] - rb[key] for ra, rb in pairs]
        scale = float(len(pairs))
    observed, p = _sign_flip(d, scale, permutations, seed)
    return {"diff": observed, "p": p, "n": len(pairs)}


def _sign_flip(d: list[float], scale: float, permutations: int, seed: int) -> tuple[float, float]:
    """``sum(d) / scale`` and its two-sided sign-flip p (with the usual +1s): under the null
    hypothesis each item's value is as likely to have the other sign, so each keeps its size and
    gets a random one. Shared by the paired test (``d`` = differences between two models) and the
    one-sample test (``d`` = values against 0)."""
    import numpy as np

    d_arr = np.asarray(d, dtype=np.float64)
    observed = d_arr.sum() / scale
    signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(permutations, len(d_arr)))
    null = signs @ d_arr / scale
    p = (1 + int(np.sum(np.abs(null) >= abs(observed) - 1e-12))) / (1 + permutations)
    return float(observed), float(p)


def one_sample_test(rows: list[dict], key: str, permutations: int = PERMUTATIONS, seed: int = 0) -> dict | None:
    """Is the mean of per-item ``key`` away from 0 beyond what item-to-item variation gives? The
    sign-flip test of :func:`paired_test` on the values themselves. For ``lp_gain`` (Whisper's
    log-probability of an item's own text above what its audio and its text give any pairing,
    :func:`add_text_gains`) this asks whether the audio carries its own text: 0 is the chance level,
    built into the score.
    ``{"mean", "p", "n"}``; ``None`` with fewer than two finite values."""
    vals = [r[key] for r in rows if finite(r.get(key))]
    if len(vals) < 2:
        return None
    mean, p = _sign_flip(vals, float(len(vals)), permutations, seed)
    return {"mean": mean, "p": p, "n": len(vals)}


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni step-down adjusted p-values, in the input's order.

    Why: a report that tests several metrics and calls any with p < 0.05 a difference finds one by
    chance far more often than 1 time in 20. Holm's adjustment keeps the chance of any false call
    over the family at alpha without assuming the tests independent, and is never less powerful
    than Bonferroni: the i-th smallest of m p-values is multiplied by (m - i), running maxima keep
    the adjusted values in the raw values' order, and none exceeds 1. An adjusted p below alpha is
    exactly a rejection by Holm's procedure at alpha. ``None``/NaN entries are passed through
    untouched and do not count in m.
    """
    idx = sorted((i for i, p in enumerate(pvalues) if finite(p)), key=lambda i: pvalues[i])
    out = list(pvalues)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (len(idx) - rank) * pvalues[i]))
        out[i] = running
    return out


MIN_RUNS = 3  # training runs per arm before a test between runs may name an arm at all


def welch_p(va: list[float], vb: list[float]) -> float | None:
    """Welch's two-sided t-test between two groups of run-level values (no equal variances
    assumed: one arm's runs may spread more than the other's). ``None`` when neither group
    spreads: the t statistic is then undefined, and runs that agree exactly are copies rather
    than replications."""
    import statistics

    from scipy.stats import ttest_ind

    if statistics.variance(va) == 0 and statistics.variance(vb) == 0:
        return None
    return float(ttest_ind(va, vb, equal_var=False).pvalue)


def permutation_p(values: list[float], na: int) -> dict:
    """The exact permutation test over the arm labels of ``values`` (the first ``na`` one arm's):
    ``perm_p``, the share of the splits into groups of these sizes whose absolute mean difference
    is at least the real one, and ``p_floor``, the smallest p these group sizes can give (0.10 for
    3 + 3). Written here rather than taken from ``scipy.stats.permutation_test``: the floor needs
    the whole null distribution anyway."""
    nb, total = len(values) - na, sum(values)
    # every split of the runs into na + nb; the first is the arms as they are
    diffs = [abs(sum(values[j] for j in idx) / na - (total - sum(values[j] for j in idx)) / nb)
             for idx in itertools.combinations(range(len(values)), na)]
    eps = 1e-12 * max(1.0, max(diffs))
    return {"perm_p": sum(d >= diffs[0] - eps for d in diffs) / len(diffs),
            "p_floor": sum(d >= max(diffs) - eps for d in diffs) / len(diffs)}


def between_runs_test(runs_a: list[dict], runs_b: list[dict], key: str) -> dict | None:
    """Do two arms differ on ``key`` beyond the spread between their training runs? Each run's
    summary row gives one value (the run is the unit an arm is replicated in). ``welch_p``
    (:func:`welch_p`, the decision test), ``perm_p`` and ``p_floor`` (:func:`permutation_p`), the
    arms' means and standard deviations over runs, ``diff`` (A minus B), ``separated`` (the arms'
    runs do not overlap) and ``runs`` (how many each arm has). ``None`` when a run lacks the value."""
    import statistics

    values = [r.get(key) for r in (*runs_a, *runs_b)]
    if not all(finite(v) for v in values):
        return None
    na = len(runs_a)
    va, vb = values[:na], values[na:]
    return {"diff": statistics.fmean(va) - statistics.fmean(vb),
            "mean_a": statistics.fmean(va), "sd_a": statistics.stdev(va),
            "mean_b": statistics.fmean(vb), "sd_b": statistics.stdev(vb),
            "welch_p": welch_p(va, vb), **permutation_p(values, na),
            "separated": max(va) < min(vb) or max(vb) < min(va), "runs": (na, len(vb))}


def compare_pairs(names, samples, test, metrics, primary: str | None = None, p_key: str = "p") -> list[dict]:
    """Every pair of ``names`` (models, runs or arms; each name against every later one) tested on
    each of ``metrics``: the one place pairwise comparisons are made.

    ``samples(a, b)`` gives what the pair is compared on, ``(sample_a, sample_b, fields)`` (per-item
    rows, or per-run summary rows, at the step both scored; ``fields`` such as that step go into
    each row), or ``None`` to leave the pair out. ``test(sample_a, sample_b, metric)`` is
    :func:`paired_test` (two models, item by item) or :func:`between_runs_test` (two arms, run by
    run); it returns ``None`` where the metric cannot be tested. Each row is ``{"a", "b", **fields,
    "metric", **test, "holm_p"}``, ``diff`` A minus B. Several metrics of one pair are one family:
    ``holm_p`` is ``test[p_key]`` Holm-adjusted over the pair's rows (:func:`holm`), and a
    difference is called on it. ``primary``, the endpoint fixed before the run, comes first, is
    decided on its own p (``holm_p`` None) and stays out of the family; with it every row says
    whether it is the primary (``"primary"``)."""
    ordered = ([primary] if primary else []) + [m for m in metrics if m != primary]
    out = []
    for a, b in itertools.combinations(names, 2):
        picked = samples(a, b)
        if picked is None:
            continue
        sample_a, sample_b, fields = picked
        rows = [{"a": a, "b": b, **fields, "metric": metric, **({"primary": metric == primary} if primary else {}),
                 **t} for metric in ordered if (t := test(sample_a, sample_b, metric)) is not None]
        family = [r for r in rows if not r.get("primary")]
        for r, adjusted in zip(family, holm([r[p_key] for r in family])):
            r["holm_p"] = adjusted
        for r in rows:
            r.setdefault("holm_p", None)
        out += rows
    return out


BETTER, WORSE, NO_DIFFERENCE, TOO_FEW_RUNS = "better", "worse", "no difference", "too few runs"


def outcome(t: dict, p_key: str = "p") -> str:
    """What a row of :func:`compare_pairs` says about its ``a`` against its ``b``: :data:`BETTER` or
    :data:`WORSE` (by the metric's direction, :data:`LOWER_IS_BETTER`) only when ``t[p_key]`` (the
    raw p for a primary endpoint or a single test, ``holm_p`` for one of several) is below
    :data:`SIGNIFICANT_P`; a test between runs (a row with ``runs``) names a side only with at least
    :data:`MIN_RUNS` runs an arm (:data:`TOO_FEW_RUNS`); else :data:`NO_DIFFERENCE` (an undefined p
    included)."""
    if "runs" in t and min(t["runs"]) < MIN_RUNS:
        return TOO_FEW_RUNS
    p = t.get(p_key)
    if not (finite(p) and p < SIGNIFICANT_P):
        return NO_DIFFERENCE
    lower = t["metric"] in LOWER_IS_BETTER
    return BETTER if (t["diff"] < 0 if lower else t["diff"] > 0) else WORSE


def comparison_sentence(a: str, b: str, label: str, result: str, stats: str = "") -> str:
    """The one wording of a comparison's outcome (:func:`outcome`) of ``a`` against ``b`` on
    ``label``, with ``stats`` (the numbers and the test behind it) in brackets: "A is better than B
    on M (...)", "A is worse than B on M (...)", "no difference shown between A and B on M (...)",
    and with too few runs the same, saying why."""
    if result == TOO_FEW_RUNS:
        stats = f"{stats}; " * bool(stats) + f"fewer than {MIN_RUNS} runs an arm"
    if result in (BETTER, WORSE):
        text = f"{a} is {result} than {b} on {label}"
    elif result in (NO_DIFFERENCE, TOO_FEW_RUNS):
        text = f"no difference shown between {a} and {b} on {label}"
    else:
        raise ValueError(f"unknown comparison outcome {result!r}")
    return f"{text} ({stats})" if stats else text
