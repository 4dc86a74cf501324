"""The demo's verdict: what a run's numbers say about the paper's claim, computed, never assumed.

Kept apart from the stages and the report so the rule that reads the numbers can be tested on
hand-made scores (tests/test_demo.py) and read on its own.
"""

from __future__ import annotations


from eval.demo.config import ARMS
from eval.report import finite
from eval.scoring import SIGNIFICANT_P


def final_rows(conv: dict) -> dict[str, dict]:
    last: dict[str, dict] = {}
    for row in conv.get("rows", []):
        if row["run"] not in last or row["step"] > last[row["run"]]["step"]:
            last[row["run"]] = row
    return last


CHANCE_P = 0.05  # an error rate counts as "understood" when fewer scrambled texts than this do as well


def _paired(conv: dict, key: str) -> dict | None:
    """The semantic-vs-acoustic paired test on ``key`` (diff = semantic minus acoustic)."""
    for t in conv.get("paired", []):
        if t["metric"] == key and {t["a"], t["b"]} == set(ARMS):
            return t if t["a"] == "semantic" else {**t, "diff": -t["diff"]}
    return None



def _error_rate_unreadable(key: str, label: str, sem: dict, ac: dict, judge_on_real: dict) -> str | None:
    """Why an error rate cannot be read (judge cannot read real speech, neither arm beats chance)."""
    on_real = judge_on_real.get(key)
    if finite(on_real) and on_real >= 0.9:
        return f"{label}: uninformative (the judge's {label} on the real test audio is {on_real:.2f}; train it longer)"
    a, c, pa, pc = sem[key], ac[key], sem.get(f"{key}_p"), ac.get(f"{key}_p")
    read_a = a < 1.0 and (not finite(pa) or pa < CHANCE_P)
    read_c = c < 1.0 and (not finite(pc) or pc < CHANCE_P)
    if read_a or read_c:
        return None
    chance = f"chance p {pa:.3f} / {pc:.3f}" if finite(pa) and finite(pc) else "no chance level"
    return f"{label}: neither arm is understood yet (semantic {a:.3f} vs acoustic {c:.3f}; {chance})"


def _compare(conv: dict, key: str, label: str, lower_is_better: bool, sem: dict, ac: dict) -> tuple[str, str]:
    """One measure through the paired test: ("text", "better" / "worse" / "ns")."""
    a, c = sem[key], ac[key]
    numbers = f"semantic {a:.3f} vs acoustic {c:.3f}"
    chance = ""
    if lower_is_better and finite(sem.get(f"{key}_p")) and finite(ac.get(f"{key}_p")):
        chance = f"; chance p {sem[f'{key}_p']:.3f} / {ac[f'{key}_p']:.3f}"
    test = _paired(conv, key)
    if test is None:
        return f"{label} at the last step: {numbers}{chance}; no paired test, so no winner", "ns"
    stat = f"paired p {test['p']:.3f}, n {test['n']}"
    if test["p"] >= SIGNIFICANT_P:
        return f"{label} at the last step: {numbers}{chance}; no significant difference ({stat})", "ns"
    wins = test["diff"] < 0 if lower_is_better else test["diff"] > 0
    return (f"{label} at the last step: {numbers}{chance}; semantic {'better' if wins else 'worse'} ({stat})",
            "better" if wins else "worse")


def verdict(conv: dict, judge_on_real: dict | None = None) -> str:
    """Plain statement of what this run shows about the paper's claim (computed, never assumed).

    An error rate is read only when it can mean something: ``judge_on_real`` holds the ASR judge's
    ``wer``/``cer`` on the real test audio (a judge that cannot read real speech says nothing about
    synthesised speech), and at least one arm must be understood: a rate below 1 that beats the
    same transcripts scored against scrambled texts (``*_p`` < :data:`CHANCE_P`, from
    :func:`eval.scoring.chance_error_rates`). A measure names a winner only when the paired test
    between the arms over the same items (``conv["paired"]``, from
    :func:`eval.convergence.paired_comparisons`) has p < :data:`SIGNIFICANT_P`: a gap that item-to-item
    variation explains is reported as no difference, whatever its sign."""
    last = final_rows(conv)
    if not all(arm in last for arm in ARMS):
        return "Not every run produced scores, so this run says nothing about the claim."
    sem, ac = last["semantic"], last["acoustic"]
    judge_on_real = judge_on_real or {}
    mos = next((k for k in ("mos_utmos", "mos_ovrl") if k in sem and k in ac), None)
    measures = [("wer", True, "WER"), ("cer", True, "CER"), ("sim", False, "SIM")] + ([(mos, False, "MOS")] if mos else [])
    parts: list[tuple[str, str | None]] = []  # (text, "better" / "worse" / "ns" / None = not read)
    for key, lower_is_better, label in measures:
        if not (finite(sem.get(key)) and finite(ac.get(key))):
            parts.append((f"{label}: not measured", None))
            continue
        why_not = _error_rate_unreadable(key, label, sem, ac, judge_on_real) if lower_is_better else None
        parts.append((why_not, None) if why_not else _compare(conv, key, label, lower_is_better, sem, ac))
    read = [o for _, o in parts if o is not None]
    partial = " on the TTS measures" if len(read) == len(parts) else " on the TTS measures that could be read"
    if not read:
        head = "At this scale nothing could be read, so this run neither supports nor contradicts the paper's claim"
    elif "worse" in read:
        head = f"At this scale the numbers do not support the paper's claim{partial}"
    elif all(o == "better" for o in read):
        head = f"At this scale the numbers point the way the paper claims{partial}, each difference significant"
    elif "better" in read:
        head = f"At this scale the numbers partly point the way the paper claims{partial}: significant on some measures only"
    else:
        head = f"At this scale no significant difference between the arms shows{partial}"
    return head + ": " + "; ".join(t for t, _ in parts) + ". Tiny models and minutes of CPU training are far " \
        "from the paper's setting; read this as a check that the pipeline runs and measures, not as evidence."


def proof_verdict(seeds: dict, conv: dict, judge_on_real: dict | None = None) -> str:
    """The proof budget's verdict: the arms over their seeds (:func:`eval.seeds.seeds_verdict`),
    read only when the judge reads real speech and at least one run's last CER beats chance."""
    from eval.seeds import seeds_verdict

    on_real = (judge_on_real or {}).get("cer")
    if finite(on_real) and on_real >= 0.9:
        return (f"Uninformative: the judge's CER on the real test audio is {on_real:.2f}, so it reads no speech; "
                "nothing here supports or contradicts the paper's claim.")
    last = final_rows(conv)
    read = sorted(run for run, row in last.items()
                  if finite(row.get("cer")) and row["cer"] < 1.0 and finite(row.get("cer_p")) and row["cer_p"] < CHANCE_P)
    numbers = seeds_verdict(seeds)
    if not read:
        return ("At this scale no TTS run is understood (no run's last CER beats the scrambled-text chance level), "
                "so this run neither supports nor contradicts the paper's claim. The numbers, for the record: " + numbers)
    return (f"Runs whose last CER beats chance: {', '.join(read)} (of {len(last)}). "
            "Over the seeds: " + numbers + " A winner is named only where the pooled paired test has p < "
            f"{SIGNIFICANT_P}, and said to stand out from the seed-to-seed spread only where the test between "
            "runs has too; a steps ratio only where every seed of both arms got there.")


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
