"""Training data for the VAE: random fixed-length crops of a corpus (or a folder of audio files).

Reproducibility is by construction, not by worker RNG state: batch ``g`` of the stream holds the
samples at global positions ``g*B .. g*B+B-1``; position ``p`` maps to item ``perm_epoch[p % n]``
(``epoch = p // n``, one seeded permutation per epoch) and its crop start is drawn from a generator
seeded with ``(seed, p)``. Resuming at batch ``g`` therefore reproduces exactly what an
uninterrupted run would have read, with any number of workers or processes.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from svae_tts.audio import list_audio_files, load_audio
from svae_tts.errors import AudioError
from vae.model import VAEError


class DataSourceError(VAEError):
    """A training-data location that is neither a corpus dataset nor a folder of audio."""


@dataclass
class Item:
    id: str
    path: str


def _load_dataset(path: Path, split: str):
    import datasets

    from svae_tts.formats.corpus import load_corpus  # the corpus format's reader (imports datasets)

    if (path / "dataset_dict.json").is_file():
        dd = load_corpus(path)
        if split not in dd:
            raise DataSourceError(f"{path}: corpus has no split {split!r} (splits: {', '.join(dd.keys())})")
        return dd[split]
    return datasets.load_from_disk(str(path))


def valid_split_of(source: str | os.PathLike) -> str:
    """The split to validate on when the config names none: ``dev`` when the corpus has a non-empty
    one (the voices that report, in ``test``, stay unseen), else ``test``; ``test`` for a folder."""
    path = Path(source).expanduser()
    if not (path / "dataset_dict.json").is_file():
        return "test"
    from svae_tts.formats.corpus import load_corpus, validation_split

    return validation_split(load_corpus(path))


def list_items(source: str | os.PathLike, split: str = "train") -> list[Item]:
    """Items of a corpus dir (``datasets`` saved to disk, columns ``id``/``audio``) or an audio folder."""
    path = Path(source).expanduser()
    if not path.is_dir():
        raise DataSourceError(f"{path}: no such directory (expected a corpus dataset or a folder of audio files)")
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        ds = _load_dataset(path, split)
        missing = {"id", "audio"} - set(ds.column_names)
        if missing:
            raise DataSourceError(f"{path}: dataset lacks column(s) {sorted(missing)}")
        items = [Item(str(i), str(a)) for i, a in zip(ds["id"], ds["audio"])]
    else:
        files = list_audio_files(path)
        items = [Item(str(f.relative_to(path).with_suffix("")), str(f)) for f in files]
    if not items:
        raise DataSourceError(f"{path}: no audio items found" + (f" in split {split!r}" if split else ""))
    return items


class CropDataset(Dataset):
    """``dataset[(index, position)]`` -> a random ``segment``-sample crop (short clips zero-padded).

    ``position`` seeds the crop start (see module doc); ``None`` crops from the start (validation).
    With ``features`` (a :class:`vae.teacher.PrecomputedFeatures`) the matching teacher frames come
    along; a missing utterance raises an error naming it.
    """

    def __init__(self, items: list[Item], sample_rate: int, segment: int, seed: int = 0, features=None):
        self.items = items
        self.sample_rate = sample_rate
        self.segment = segment
        self.seed = seed
        self.features = features

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key) -> dict:
        index, position = key if isinstance(key, tuple) else (key, None)
        item = self.items[index]
        try:
            wav, _ = load_audio(item.path, sample_rate=self.sample_rate)
        except AudioError as exc:
            raise AudioError(f"utterance {item.id!r}: {exc}") from None
        n = wav.shape[-1]
        start = 0
        if n > self.segment and position is not None:
            start = random.Random(self.seed * 1_000_003 + position).randrange(n - self.segment + 1)
        crop = wav[start:start + self.segment]
        length = crop.shape[-1]
        if length < self.segment:
            crop = torch.nn.functional.pad(crop, (0, self.segment - length))
        out = {"wav": crop, "length": length, "id": item.id, "start_s": start / self.sample_rate}
        if self.features is not None:
            out["feats"] = self.features.crop(item.id, start / self.sample_rate, length / self.sample_rate)
        return out


def collate(batch: list[dict]) -> dict:
    out = {
        "wav": torch.stack([b["wav"] for b in batch]),
        "lengths": torch.tensor([b["length"] for b in batch], dtype=torch.long),
        "ids": [b["id"] for b in batch],
    }
    if "feats" in batch[0]:
        t = max(b["feats"].shape[0] for b in batch)
        feats = torch.zeros(len(batch), t, batch[0]["feats"].shape[1])
        for i, b in enumerate(batch):
            feats[i, :b["feats"].shape[0]] = b["feats"]
        out["feats"] = feats
        out["feat_lengths"] = torch.tensor([b["feats"].shape[0] for b in batch], dtype=torch.long)
    return out


class CropBatchSampler(Sampler):
    """Endless deterministic stream of batches of ``(index, position)`` keys for one process."""

    def __init__(self, num_items: int, batch_size: int, seed: int = 0, num_replicas: int = 1, rank: int = 0,
                 start_batch: int = 0):
        self.n = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.start_batch = start_batch
        self._perm_epoch = -1
        self._perm: list[int] = []

    def _index(self, position: int) -> int:
        epoch = position // self.n
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            self._perm = torch.randperm(self.n, generator=g).tolist()
            self._perm_epoch = epoch
        return self._perm[position % self.n]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        g = self.start_batch
        global_bs = self.batch_size * self.num_replicas
        while True:
            first = g * global_bs + self.rank * self.batch_size
            yield [(self._index(p), p) for p in range(first, first + self.batch_size)]
            g += 1

    def __len__(self) -> int:  # endless; DataLoader only needs this for len(loader)
        return 2 ** 62


def make_loader(dataset: CropDataset, batch_size: int, seed: int, num_workers: int, num_replicas: int = 1,
                rank: int = 0, start_batch: int = 0) -> DataLoader:
    sampler = CropBatchSampler(len(dataset), batch_size, seed, num_replicas, rank, start_batch)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers,
                      persistent_workers=False, pin_memory=torch.cuda.is_available(),
                      prefetch_factor=4 if num_workers > 0 else None)
