"""The per-item failure boundary of batch jobs: one bad item is reported and skipped, the job goes on.

Why one helper: every job that walks many inputs (``vae encode/decode/reconstruct``, latent and
feature extraction, the eval scoring loops) must survive an item that fails in *any* way, not
only with the errors we anticipated: a malformed file that makes a library raise ``ValueError``,
or one huge file that runs the machine out of memory (``MemoryError``, or torch's
``RuntimeError``/``OutOfMemoryError``). Such an item is recorded with its name and a one-line
reason, memory is released, and the next item runs; the job then writes its report as usual.

Only the items are guarded: errors in setting a job up (bad arguments, a model that does not
load, a bug before the loop) still raise, and ``KeyboardInterrupt``/``SystemExit`` always pass.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
from dataclasses import dataclass
from typing import Iterator

from svae_tts.errors import SvaeError, exc_summary

log = logging.getLogger(__name__)

_OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to allocate")


@dataclass
class ItemOutcome:
    """What happened to one item: ``reason`` is ``None`` unless it failed."""

    name: str
    reason: str | None = None
    out_of_memory: bool = False

    @property
    def failed(self) -> bool:
        return self.reason is not None


def is_out_of_memory(exc: BaseException) -> bool:
    """``MemoryError``, or a torch allocation failure (CPU ``RuntimeError``, CUDA ``OutOfMemoryError``)."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MARKERS)


def failure_reason(exc: BaseException) -> str:
    """One line for the report: a user error's own message, else the exception type and first line."""
    if isinstance(exc, SvaeError):
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if is_out_of_memory(exc):
        return f"out of memory ({exc_summary(exc, 160)})"
    return exc_summary(exc, 300)


def release_memory() -> None:
    """Free what a failed item held: Python garbage and, when CUDA is in use, torch's cached blocks."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


@contextlib.contextmanager
def item_boundary(name: str, logger: logging.Logger | None = None, quiet: bool = False) -> Iterator[ItemOutcome]:
    """Run one item of a batch job; an exception of any kind ends the item, not the job::

        with item_boundary(str(path)) as item:
            work(path)
        if item.failed:
            report.failed.append({"path": str(path), "reason": item.reason})

    The failure is logged as one warning (``quiet``: at debug level, for a caller that retries),
    the traceback of an unexpected error at debug level (``-v``); after running out of memory,
    memory is released before the next item."""
    logger = logger or log
    outcome = ItemOutcome(str(name))
    try:
        yield outcome
    except Exception as exc:  # noqa: BLE001 - the boundary: anything an item raises is reported
        outcome.reason = failure_reason(exc)
        outcome.out_of_memory = is_out_of_memory(exc)
        logger.log(logging.DEBUG if quiet else logging.WARNING, "%s: skipped (%s)", name, outcome.reason)
        if not isinstance(exc, SvaeError):
            logger.debug("%s failed with an unexpected error", name, exc_info=True)
    if outcome.out_of_memory:  # outside the handler: the failed frames and their tensors are gone
        release_memory()
