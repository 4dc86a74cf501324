"""WER/CER, the way zero-shot TTS papers report them.

Both strings are first put in :func:`svae_tts.text.asr_scoring_text` form (Unicode NFKC,
lower-case, punctuation stripped but in-word apostrophes kept, numbers left as written).

Two aggregates are reported because papers differ: the mean of per-utterance WER (the F5-TTS /
Seed-TTS-eval convention, sensitive to short utterances) and the corpus-level WER (total edits over
total reference words). Edit counting is jiwer's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jiwer

from eval.errors import EvalError
from svae_tts.text import asr_scoring_text


@dataclass
class ErrorCounts:
    """Edit counts of one hypothesis against one reference (words or characters)."""

    substitutions: int
    deletions: int
    insertions: int
    ref_len: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        return self.errors / self.ref_len if self.ref_len else float(self.errors > 0)

    def to_dict(self) -> dict:
        return asdict(self) | {"rate": self.rate}


def word_errors(reference: str, hypothesis: str, normalize: bool = True) -> ErrorCounts:
    """Word edit counts; an empty (normalised) reference is an error because WER is undefined."""
    return _errors(reference, hypothesis, normalize, chars=False)


def char_errors(reference: str, hypothesis: str, normalize: bool = True) -> ErrorCounts:
    """Character edit counts over the normalised strings (spaces count as characters, as jiwer does)."""
    return _errors(reference, hypothesis, normalize, chars=True)


def _errors(reference: str, hypothesis: str, normalize: bool, chars: bool) -> ErrorCounts:
    ref = asr_scoring_text(reference) if normalize else str(reference).strip()
    hyp = asr_scoring_text(hypothesis) if normalize else str(hypothesis).strip()
    if not ref:
        raise EvalError(f"reference text {reference!r} is empty after normalisation: WER/CER is undefined")
    if not hyp:  # everything deleted; jiwer refuses empty hypotheses
        n = len(ref) if chars else len(ref.split())
        return ErrorCounts(0, n, 0, n)
    out = jiwer.process_characters(ref, hyp) if chars else jiwer.process_words(ref, hyp)
    n = out.hits + out.substitutions + out.deletions
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, n)


def wer(reference: str, hypothesis: str, normalize: bool = True) -> float:
    return word_errors(reference, hypothesis, normalize).rate


def cer(reference: str, hypothesis: str, normalize: bool = True) -> float:
    return char_errors(reference, hypothesis, normalize).rate


def aggregate_error_rates(counts: list[ErrorCounts]) -> dict[str, float]:
    """``mean`` of per-utterance rates and ``corpus`` rate (sum of edits / sum of reference lengths)."""
    if not counts:
        return {"mean": float("nan"), "corpus": float("nan")}
    total_ref = sum(c.ref_len for c in counts)
    return {
        "mean": sum(c.rate for c in counts) / len(counts),
        "corpus": sum(c.errors for c in counts) / total_ref if total_ref else float("nan"),
    }
