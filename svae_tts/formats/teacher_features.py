"""The teacher-feature store: per-utterance hidden states of a speech teacher, precomputed.

Written by ``data_prep.features`` (``svae-tts data features``), read by VAE training
(``teacher.features=DIR``). A folder of safetensors shards (:mod:`svae_tts.formats.shards`) holding
one ``(T, C)`` tensor per utterance id, and ``features.json`` = {teacher, layer, frame_rate,
width, sample_rate, dtype, corpus}: frame rate and width come from the teacher's config, never
assumed. ``features.json`` is written before the first shard, so a half-finished store is
recognisable (and resumable) as one.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from svae_tts.errors import DataError
from svae_tts.formats.shards import ShardReader, shard_index
from svae_tts.textio import read_json

META_FILE = "features.json"


class FeatureStore:
    """The reader: ``store.get(id) -> (T, C)`` float32 tensor; ``info`` is its ``features.json``."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        info = read_store_info(self.folder)  # a shared features folder is user input: one-line errors
        if info is None:
            raise DataError(f"{self.folder}: not a teacher-features folder (no {META_FILE})")
        self.info = info
        self.frame_rate = float(self.info["frame_rate"])
        self.width = int(self.info["width"])
        self.teacher = self.info.get("teacher")
        self.layer = self.info.get("layer")
        self._shards = ShardReader(shard_index(self.folder))

    def __contains__(self, uid: str) -> bool:
        return uid in self._shards

    def __len__(self) -> int:
        return len(self._shards.index)

    def ids(self) -> list[str]:
        return sorted(self._shards.index)

    def get(self, uid: str) -> torch.Tensor:
        if uid not in self._shards:
            raise DataError(f"{self.folder}: no teacher features for utterance {uid!r} (re-run `svae-tts data features`)")
        return self._shards(uid).float()


def read_store_info(folder: str | os.PathLike) -> dict | None:
    """The ``features.json`` of a (possibly unfinished) store, or None where there is none yet."""
    meta = Path(folder) / META_FILE
    return read_json(meta, dict, error=DataError) if meta.is_file() else None
