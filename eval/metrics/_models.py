"""Shared helpers for scoring backends that load a model by hub id or local directory: where it is
(:func:`judge_folder`, through :func:`svae_tts.hub.model_folder`) and the one-line error when it will not load."""

from __future__ import annotations

from pathlib import Path

from eval.errors import EvalError
from svae_tts.errors import CheckpointError, exc_summary
from svae_tts.hub import FilePatterns, model_folder
from svae_tts.model_kinds import refuse_other_kind


def load_failed(kind: str, spec: str, exc: Exception, needs: str) -> EvalError:
    """One-line error: what failed to load, why, and what the user must provide."""
    reason = exc_summary(exc)
    return EvalError(
        f"{kind} model {spec!r} could not be loaded: {reason}. "
        f"It needs {needs}."
    )


def judge_folder(kind: str, spec: str, files: FilePatterns, needs: str) -> Path:
    """The local folder of a judge's model (:func:`svae_tts.hub.model_folder`: a local dir as it is,
    a hub id fetched with ``files``), or one line naming ``spec``, what is wrong and what it needs."""
    try:
        return model_folder(spec, files)
    except CheckpointError as exc:
        raise EvalError(f"{kind} model {exc}. It needs {needs}.") from None


# what a transformers model saved with save_pretrained holds: configs, tokenizer and processor files,
# and its weights (safetensors where the repo has them, else the pickles transformers reads)
TRANSFORMERS_FILES = ("*.json", "*.txt", "*.model", ("*.safetensors", "pytorch_model*.bin"))


def refuse_other_judge(spec: str, expected: tuple[str, ...], wanted: str) -> None:
    """A local folder of a kind not in ``expected`` (a VAE given as the ASR judge, a run dir ...)
    refused in one line naming it, what it is and ``wanted``, before any library loads it (and
    prints its own load report): :func:`svae_tts.model_kinds.refuse_other_kind`."""
    refuse_other_kind(str(spec), expected, wanted, error=EvalError)
