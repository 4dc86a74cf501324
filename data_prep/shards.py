"""Resumable, multi-process extraction into safetensors shards keyed by utterance id.

Why our own: ``datasets.map`` caches by fingerprint, not by finished item, and cannot split work
across ``accelerate`` processes that each hold a GPU model. Here each process takes its share of
the not-yet-done ids (``process_index::num_processes``), writes shards atomically
(``shard-r<rank>-<uuid>.safetensors``), and a re-run skips every id already in a finished shard,
so an interrupted job resumes without redoing or duplicating work.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Iterable

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from svae_tts.fileio import atomic_path

log = logging.getLogger(__name__)

SHARD_GLOB = "shard-*.safetensors"


def shard_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    return sorted(folder.glob(SHARD_GLOB)) if folder.is_dir() else []


def shard_index(folder: str | Path) -> dict[str, Path]:
    """``id -> shard file`` for every finished shard (the header alone is read)."""
    index: dict[str, Path] = {}
    for f in shard_files(folder):
        with safe_open(str(f), framework="pt") as sf:
            for key in sf.keys():
                index[key] = f
    return index


def my_share(ids: list, process_index: int, num_processes: int) -> list:
    return ids[process_index::num_processes]


class ShardWriter:
    """Buffer ``id -> tensor`` and flush every ``shard_size`` items (and on :meth:`close`)."""

    def __init__(self, folder: str | Path, rank: int = 0, shard_size: int = 256, metadata: dict | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self.shard_size = max(1, int(shard_size))
        self.metadata = {k: str(v) for k, v in (metadata or {}).items()}
        self.buffer: dict[str, torch.Tensor] = {}
        self.written = 0

    def add(self, key: str, tensor: torch.Tensor) -> None:
        self.buffer[key] = tensor.detach().to("cpu").contiguous()
        if len(self.buffer) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        path = self.folder / f"shard-r{self.rank:03d}-{uuid.uuid4().hex[:12]}.safetensors"
        with atomic_path(path) as tmp:
            save_file(self.buffer, str(tmp), metadata=self.metadata)
        self.written += len(self.buffer)
        self.buffer = {}

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc) -> None:
        # flush what is finished even when interrupted: those items need not be redone
        self.close()


def batches_by_length(items: list[dict], batch_size: int, max_batch_seconds: float | None = None) -> Iterable[list[dict]]:
    """Group items of similar duration (less padding); deterministic order."""
    order = sorted(items, key=lambda r: (r["duration"], r["id"]))
    batch: list[dict] = []
    for it in order:
        longest = max([b["duration"] for b in batch] + [it["duration"]])
        if batch and (len(batch) >= batch_size or (max_batch_seconds and longest * (len(batch) + 1) > max_batch_seconds)):
            yield batch
            batch = []
        batch.append(it)
    if batch:
        yield batch
