"""Shared helpers for scoring backends that load a model by hub id or local directory."""

from __future__ import annotations

import os
from pathlib import Path

from eval.errors import EvalError
from svae_tts.errors import exc_summary
from svae_tts.model_kinds import refuse_other_kind


def describe_source(spec: str) -> str:
    p = Path(os.path.expanduser(str(spec)))
    return f"directory {p}" if p.exists() else f"hub id {spec!r}"


def load_failed(kind: str, spec: str, exc: Exception, needs: str) -> EvalError:
    """One-line error: what failed to load, why, and what the user must provide."""
    reason = exc_summary(exc)
    return EvalError(
        f"{kind} model {spec!r} ({describe_source(spec)}) could not be loaded: {reason}. "
        f"It needs {needs}."
    )


def check_local_or_hub(kind: str, spec: str, needs: str) -> None:
    """A path-looking spec that does not exist is a typo, not a hub id: say so before transformers does."""
    s = str(spec)
    looks_local = s.startswith((".", "/", "~")) or not _hub_like(s) and os.sep in s
    if looks_local and not Path(os.path.expanduser(s)).exists():
        raise EvalError(f"{kind} model {spec!r}: no such directory. It needs {needs}.")


def _hub_like(s: str) -> bool:
    parts = s.split("/")
    return len(parts) == 2 and all(parts) and not s.startswith((".", "/", "~"))


def refuse_other_judge(spec: str, expected: tuple[str, ...], wanted: str) -> None:
    """A local folder of a kind not in ``expected`` (a VAE given as the ASR judge, a run dir ...)
    refused in one line naming it, what it is and ``wanted``, before any library loads it (and
    prints its own load report): :func:`svae_tts.model_kinds.refuse_other_kind`."""
    refuse_other_kind(str(spec), expected, wanted, error=EvalError)
