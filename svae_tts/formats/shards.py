"""Safetensors shards keyed by utterance id: the storage of the teacher-feature store and of a
latent set while it is being extracted.

A folder holds ``shard-r<rank>-<uuid>.safetensors`` files, each a flat ``{utterance id: tensor}``
dict, written atomically (a shard is either complete or absent), so several processes can write
into one folder and a reader indexes whatever is finished. The resumable, multi-process job that
fills such a folder is ``data_prep.shards``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from svae_tts.errors import DataError, exc_summary
from svae_tts.fileio import atomic_path

SHARD_GLOB = "shard-*.safetensors"


def shard_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    return sorted(folder.glob(SHARD_GLOB)) if folder.is_dir() else []


def shard_keys(path: str | Path) -> list[str]:
    """The utterance ids in one shard (its header alone is read; a truncated file fails here,
    because safetensors checks that the header covers the file exactly)."""
    try:
        with safe_open(str(path), framework="pt") as sf:
            return list(sf.keys())
    except Exception as exc:  # SafetensorError, OSError: one line naming the file
        raise DataError(f"{path}: unreadable shard, truncated or corrupt ({exc_summary(exc)})") from None


def shard_index(folder: str | Path) -> dict[str, Path]:
    """``id -> shard file`` for every finished shard; an unreadable one raises :class:`DataError`
    naming it (a job sets those aside first, see :func:`set_aside_bad_shards`)."""
    index: dict[str, Path] = {}
    for f in shard_files(folder):
        for key in shard_keys(f):
            index[key] = f
    return index


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


class ShardReader:
    """``reader(id) -> tensor`` over an ``id -> shard file`` index, each shard opened once, lazily.

    Picklable (open handles are dropped and reopened), so it can go into ``datasets`` generator
    arguments, which are hashed."""

    def __init__(self, index: dict[str, str | Path]) -> None:
        self.index = {k: str(v) for k, v in index.items()}
        self._open: dict[str, object] = {}

    def __contains__(self, uid: str) -> bool:
        return uid in self.index

    def __call__(self, uid: str) -> torch.Tensor:
        path = self.index[uid]
        handle = self._open.get(path)
        if handle is None:
            handle = self._open[path] = safe_open(path, framework="pt")
        return handle.get_tensor(uid)

    def __getstate__(self) -> dict:
        return {"index": self.index, "_open": {}}
