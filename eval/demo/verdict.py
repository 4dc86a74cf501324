"""The demo's verdict: what a run's numbers say about the paper's claim, computed, never assumed.

Kept apart from the stages and the report so the rule that reads the numbers can be tested on
hand-made scores (tests/test_demo.py) and read on its own.
"""

from __future__ import annotations

from eval.demo.config import ARMS
from eval.report import finite
from eval.scoring import (LOWER_IS_BETTER, MIN_RUNS, MOS_HEADLINES, NO_DIFFERENCE, SIGNIFICANT_P, comparison_sentence,
                          holm, outcome)


def final_rows(conv: dict) -> dict[str, dict]:
    last: dict[str, dict] = {}
    for row in conv.get("rows", []):
        if row["run"] not in last or row["step"] > last[row["run"]]["step"]:
            last[row["run"]] = row
    return last


CHANCE_P = 0.05  # an error rate counts as "understood" when fewer scrambled texts than this do as well
ONE_RUN = ("one training run per arm cannot tell the arm's effect from run-to-run spread; no arm-level claim")
MEASURES = (("lp_gain", "LP gain"), ("wer", "WER"), ("cer", "CER"), ("sim", "SIM"))  # (key, label); MOS as scored


def _paired(conv: dict, key: str) -> dict | None:
    """The paired test between this semantic and this acoustic model on ``key`` (diff = semantic
    minus acoustic)."""
    for t in conv.get("paired", []):
        if t["metric"] == key and {t["a"], t["b"]} == set(ARMS):
            return t if t["a"] == "semantic" else {**t, "diff": -t["diff"]}
    return None


def _error_rate_unreadable(key: str, label: str, sem: dict, ac: dict, judge_on_real: dict) -> str | None:
    """Why an error rate cannot be read (judge cannot read real speech, neither model beats chance)."""
    on_real = judge_on_real.get(key)
    if finite(on_real) and on_real >= 0.9:
        return f"{label}: uninformative (the judge's {label} on the real test audio is {on_real:.2f}; train it longer)"
    if reads(sem, key) or reads(ac, key):
        return None
    a, c, pa, pc = sem[key], ac[key], sem.get(f"{key}_p"), ac.get(f"{key}_p")
    chance = f"chance p {pa:.3f} / {pc:.3f}" if finite(pa) and finite(pc) else "no chance level"
    return f"{label}: neither model is understood yet (this semantic model {a:.3f} vs this acoustic model {c:.3f}; {chance})"


def _lp_gain_unreadable(label: str, sem: dict, ac: dict) -> str | None:
    """Why ``lp_gain`` cannot be read: neither model's audio carries its text (:func:`reads`)."""
    if reads(sem, "lp_gain") or reads(ac, "lp_gain"):
        return None
    ps = "/".join(f"{r['lp_gain_p']:.3f}" if finite(r.get("lp_gain_p")) else "–" for r in (sem, ac))
    return (f"{label}: neither model's audio carries its text yet (this semantic model {sem['lp_gain']:+.3f} vs this "
            f"acoustic model {ac['lp_gain']:+.3f}; sign-flip p against 0 {ps})")


def reads(row: dict, key: str) -> bool | None:
    """Does a run's summary row show that the judge read its audio on ``key``? An error rate: below 1
    and beating the same transcripts against scrambled texts (``<key>_p`` < CHANCE_P, when there
    is one). ``lp_gain`` (the own text's log-probability against other texts and other audio, 0 at chance):
    above 0 with the sign-flip test against 0 (``lp_gain_p``) below CHANCE_P. ``None`` for a
    metric without a chance level (SIM, MOS)."""
    v = row.get(key)
    if key == "lp_gain":
        return finite(v) and v > 0 and finite(row.get("lp_gain_p")) and row["lp_gain_p"] < CHANCE_P
    if key in LOWER_IS_BETTER:
        p = row.get(f"{key}_p")
        return finite(v) and v < 1.0 and (not finite(p) or p < CHANCE_P)
    return None


SEMANTIC, ACOUSTIC = "this semantic model", "this acoustic model"  # two models, not their arms


def _compare(test: dict | None, p_key: str, key: str, label: str, sem: dict, ac: dict) -> tuple[str, str]:
    """One measure of these two models through their paired test, decided on ``test[p_key]`` (the
    raw p for the primary endpoint, the Holm-adjusted one for a secondary): (the text,
    :func:`eval.scoring.outcome`)."""
    if test is None:
        numbers = f"{SEMANTIC} {sem[key]:.3f} vs {ACOUSTIC} {ac[key]:.3f}"
        return f"{label} at the last step: {numbers}; no paired test, so no difference named", NO_DIFFERENCE
    numbers = f"{sem[key]:.3f} vs {ac[key]:.3f}"
    if key in LOWER_IS_BETTER and finite(sem.get(f"{key}_p")) and finite(ac.get(f"{key}_p")):
        numbers += f"; chance p {sem[f'{key}_p']:.3f} / {ac[f'{key}_p']:.3f}"
    stat = f"paired p {test['p']:.3f}" + (f", Holm-adjusted {test[p_key]:.3f}" if p_key != "p" else "") + f", n {test['n']}"
    result = outcome(test, p_key)
    return comparison_sentence(SEMANTIC, ACOUSTIC, f"{label} at the last step", result, f"{numbers}; {stat}"), result


def _measures(primary: str, sem: dict, ac: dict) -> list[tuple[str, str]]:
    """(key, label) of every measure to read, the primary endpoint first."""
    mos = next((k for k in MOS_HEADLINES if k in sem and k in ac), None)
    measures = list(MEASURES) + ([(mos, "MOS")] if mos else [])
    if primary not in {k for k, _ in measures}:
        measures.append((primary, primary.upper()))
    return sorted(measures, key=lambda m: m[0] != primary)


def _unreadable(key: str, label: str, sem: dict, ac: dict, judge_on_real: dict) -> str | None:
    if not (finite(sem.get(key)) and finite(ac.get(key))):
        return f"{label}: not measured"
    if key == "lp_gain":
        return _lp_gain_unreadable(label, sem, ac)
    if key in LOWER_IS_BETTER:
        return _error_rate_unreadable(key, label, sem, ac, judge_on_real)
    return None


def verdict(conv: dict, judge_on_real: dict | None = None) -> str:
    """What one run per arm shows: a comparison of *this* semantic model with *this* acoustic model,
    never of the arms (one training run per arm cannot tell an arm's effect from the spread between
    runs; :func:`runs_verdict` reads several).

    A measure is read only when it can mean something: ``judge_on_real`` holds the ASR judge's
    ``wer``/``cer`` on the real test audio (a judge that cannot read real speech says nothing about
    synthesised speech), and at least one model must be read on it (:func:`reads`: an error rate
    beating scrambled texts, an ``lp_gain`` above 0 beyond item-to-item variation). The primary
    endpoint (``conv["primary"]``, :func:`eval.seeds.primary_endpoint`) comes first and is decided
    on its paired test's p (``conv["paired"]``, :func:`eval.convergence.paired_comparisons`) below
    :data:`SIGNIFICANT_P`; the secondaries on their p Holm-adjusted over the secondaries read."""
    from eval.seeds import primary_endpoint

    last = final_rows(conv)
    if not all(arm in last for arm in ARMS):
        return "Not every run produced scores, so this run says nothing about the claim."
    sem, ac = last["semantic"], last["acoustic"]
    primary = conv.get("primary") or primary_endpoint(list(last.values()))
    judge_on_real = judge_on_real or {}
    labels = dict(_measures(primary, sem, ac))
    parts: dict[str, tuple[str, str | None]] = {}  # key -> (text, eval.scoring.outcome / None = not read)
    tests: dict[str, dict | None] = {}  # the measures read -> their paired test (None: no test)
    for key, label in labels.items():
        why_not = _unreadable(key, label, sem, ac, judge_on_real)
        if why_not:
            parts[key] = (why_not, None)
        else:
            tests[key] = _paired(conv, key)
    secondary = [k for k, t in tests.items() if t is not None and k != primary]
    for k, adjusted in zip(secondary, holm([tests[k]["p"] for k in secondary])):
        tests[k] = {**tests[k], "holm_p": adjusted}
    for key, t in tests.items():
        parts[key] = _compare(t, "p" if key == primary else "holm_p", key, labels[key], sem, ac)
    parts = {key: parts[key] for key in labels}  # the primary endpoint first, as _measures orders them
    head = _primary_head(primary, parts[primary][1])
    body = "; ".join(t for t, _ in parts.values())
    return (f"This semantic model vs this acoustic model ({ONE_RUN}): {head}. {body[:1].upper()}{body[1:]}"
            + ". Tiny models and minutes of CPU training are far from the paper's setting; read this as a check that "
            "the pipeline runs and measures, not as evidence.")


def _primary_head(primary: str, result: str | None) -> str:
    if result is None:
        return f"the primary endpoint {primary} could not be read"
    return comparison_sentence(SEMANTIC, ACOUSTIC, f"the primary endpoint {primary}", result)


def runs_verdict(seeds: dict, conv: dict, judge_on_real: dict | None = None) -> str:
    """The verdict from several runs per arm (:func:`eval.seeds.seeds_verdict`: the primary endpoint
    by Welch's test between runs, then the secondaries with Holm), read only when the primary can
    mean something: for an error rate, the judge reads real speech and at least one run's last
    value beats chance; for ``lp_gain``, at least one run's audio carries its text (:func:`reads`)."""
    from eval.seeds import FALLBACK_PRIMARY, seeds_verdict

    primary = seeds.get("primary") or FALLBACK_PRIMARY
    on_real = (judge_on_real or {}).get(primary)
    if primary in LOWER_IS_BETTER and finite(on_real) and on_real >= 0.9:
        return (f"Uninformative: the judge's {primary.upper()} on the real test audio is {on_real:.2f}, so it reads no "
                "speech; nothing here supports or contradicts the paper's claim.")
    last = final_rows(conv)
    read = sorted(run for run, row in last.items() if reads(row, primary))
    numbers = seeds_verdict(seeds)
    if not any(finite(row.get(primary)) for row in last.values()):
        return (f"The primary endpoint {primary}, fixed before the run, was not measured in any run, so this run "
                "neither supports nor contradicts the paper's claim. The numbers, for the record: " + numbers)
    what = "carries its text (lp_gain > 0, sign-flip p < 0.05)" if primary == "lp_gain" else \
        f"beats the scrambled-text chance level on {primary.upper()}"
    if not read and any(reads(row, primary) is not None for row in last.values()):
        return (f"At this scale no TTS run's last checkpoint {what}, so this run neither supports nor contradicts the "
                "paper's claim. The numbers, for the record: " + numbers)
    runs = f"Runs whose last checkpoint {what}: {', '.join(read)} (of {len(last)}). " if read else ""
    return (runs + "Over the runs: " + numbers + f" An arm is named only from Welch's test between runs on the "
            f"primary endpoint ({primary}; at least {MIN_RUNS} runs an arm, p < {SIGNIFICANT_P}); a secondary metric only "
            f"where its Holm-adjusted p is below {SIGNIFICANT_P}; a steps ratio only where every seed of both arms got there.")



READS_TEXT_P = 0.01  # a run "reads its text" when its own text beats another's at this level


def reliance_sentence(results: list[dict]) -> str:
    """Which TTS runs read their text at their last export (:mod:`eval.text_reliance`), each
    against its own null hypothesis; the arms' gaps are not compared with each other (their losses
    live in different latent spaces)."""
    reads = [r for r in results if finite(r.get("p")) and r["p"] < READS_TEXT_P and r["gap"] > 0]
    numbers = "; ".join(f"{r['name']} {100 * r['gap']:+.1f} % (p {r['p']:.3f})" if finite(r.get("p"))
                        else f"{r['name']}: not measured" for r in results)
    if not reads:
        return f"No TTS run shows that it reads its text (loss with another item's text vs its own: {numbers})."
    return (f"Runs that read their text (another item's text raises their held-out loss, p < {READS_TEXT_P}): "
            f"{', '.join(r['name'] for r in reads)} ({len(reads)} of {len(results)}; {numbers}).")
