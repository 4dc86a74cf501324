"""The latent set: VAE latents of a corpus with their normalisation statistics.

Written by ``data_prep.latents`` (``svae-tts data latents``), read by TTS training, the probe and
the demo. A folder holding a ``DatasetDict`` (``save_to_disk``; train/test; ``id``, ``latents``
(T, D) float32, ``text``, ``speaker``, ``duration``, optional ``phonemes``),
``latent_stats.safetensors`` (per-channel ``mean``/``std`` over the train frames, for
normalisation) and ``latent_info.json`` (the VAE, frame rate, latent dim...: written last, so it
marks a complete set).

The statistics have one estimator, :class:`LatentStats`: the population standard deviation
(divide by N) over every train frame, accumulated in float64, so a set written in shards, one
utterance at a time, gets the same numbers as one computed over all frames at once. Test frames
never enter them (no test leakage into normalisation).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import datasets
import torch
from safetensors.torch import load_file, save_file

from svae_tts.errors import DataError, exc_summary
from svae_tts.fileio import atomic_path, atomic_write_json
from svae_tts.textio import read_json

INFO_FILE = "latent_info.json"
STATS_FILE = "latent_stats.safetensors"
ROW_COLUMNS = ("id", "text", "speaker", "duration")  # besides ``latents`` (and ``phonemes`` when any row has them)


@dataclass
class LatentSet:
    """A loaded latent set; normalising with ``mean``/``std`` is the TTS feature space's job
    (``tts_recipes.feature_space.LatentFeatureSpace.from_latent_set``)."""

    dataset: datasets.DatasetDict
    mean: torch.Tensor  # (D,)
    std: torch.Tensor  # (D,)
    info: dict

    @property
    def frame_rate(self) -> float:
        return float(self.info["frame_rate"])

    @property
    def latent_dim(self) -> int:
        return int(self.info["latent_dim"])


class LatentStats:
    """Per-channel mean and population std of latent frames, accumulated one ``(T, D)`` at a time."""

    def __init__(self, dim: int) -> None:
        self.total = torch.zeros(dim, dtype=torch.float64)
        self.total_sq = torch.zeros(dim, dtype=torch.float64)
        self.count = 0

    def add(self, z: torch.Tensor) -> None:
        z = z.double()
        self.total += z.sum(0)
        self.total_sq += (z * z).sum(0)
        self.count += z.shape[0]

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.total / self.count
        std = (self.total_sq / self.count - mean * mean).clamp_min(1e-10).sqrt()
        return mean.float().contiguous(), std.float().contiguous()


def _features(with_phonemes: bool) -> datasets.Features:
    feats = {"id": datasets.Value("string"), "latents": datasets.Sequence(datasets.Sequence(datasets.Value("float32"))),
             "text": datasets.Value("string"), "speaker": datasets.Value("string"), "duration": datasets.Value("float64")}
    if with_phonemes:
        feats["phonemes"] = datasets.Value("string")
    return datasets.Features(feats)


def _latent_rows(rows: list[dict], latents_of: Callable[[str], torch.Tensor], with_phonemes: bool) -> Iterable[dict]:
    for r in rows:
        ex = {"id": r["id"], "latents": latents_of(r["id"]).float().numpy(), **{k: r[k] for k in ROW_COLUMNS[1:]}}
        if with_phonemes:
            ex["phonemes"] = r.get("phonemes") or ""
        yield ex


def write_latent_set(out_dir: str | os.PathLike, rows: list[dict], latents_of: Callable[[str], torch.Tensor],
                     info: dict) -> datasets.DatasetDict:
    """Write a latent set into ``out_dir`` (created if missing; earlier set files are replaced).

    ``rows``: corpus rows (``id``, ``split``, ``text``, ``speaker``, ``duration``, optional
    ``phonemes``) of the utterances to store, in order; ``latents_of(id)`` gives each one's
    ``(T, D)`` latents (read twice: once for the statistics, once for the dataset, so a set larger
    than memory streams from its source). ``info`` needs ``latent_dim``; ``frames`` and ``splits``
    are added. A split with no rows is left out.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = LatentStats(int(info["latent_dim"]))
    for r in rows:
        if r["split"] == "train":
            stats.add(latents_of(r["id"]))
    if stats.count == 0:
        raise DataError(f"{out_dir}: no train latents to write")
    with_ph = any("phonemes" in r for r in rows)
    splits = list(dict.fromkeys(r["split"] for r in rows))
    dd = datasets.DatasetDict({
        s: datasets.Dataset.from_generator(
            _latent_rows, features=_features(with_ph), cache_dir=str(out_dir / ".cache"),
            gen_kwargs={"rows": [r for r in rows if r["split"] == s], "latents_of": latents_of, "with_phonemes": with_ph})
        for s in splits})
    _save_dataset(dd, out_dir)
    mean, std = stats.mean_std()
    with atomic_path(out_dir / STATS_FILE) as tmp:
        save_file({"mean": mean, "std": std}, str(tmp))
    atomic_write_json(out_dir / INFO_FILE, {**info, "frames": int(stats.count), "splits": {k: len(v) for k, v in dd.items()}})
    return dd


def _save_dataset(dd: datasets.DatasetDict, out_dir: Path) -> None:
    """``save_to_disk`` beside other files of ``out_dir`` (it would refuse or wipe a non-empty dir)."""
    ds_dir = out_dir / "dataset.tmp"
    if ds_dir.exists():
        shutil.rmtree(ds_dir)
    dd.save_to_disk(str(ds_dir))
    for name in list(ds_dir.iterdir()):
        target = out_dir / name.name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        os.replace(name, target)
    ds_dir.rmdir()
    shutil.rmtree(out_dir / ".cache", ignore_errors=True)


def is_latent_set(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a complete latent set (its info file is written last)."""
    return (Path(folder) / INFO_FILE).is_file()


def split_latents(split: datasets.Dataset, latent_dim: int) -> list[torch.Tensor]:
    """Every row's ``(T, D)`` latents of one split, in row order, read from its Arrow column at once.

    Turning the nested lists into tensors row by row costs ~4 ms a row (6 s for 1,500 utterances);
    the column's flat values and offsets give the same tensors in a few milliseconds.
    """
    import numpy as np

    if len(split) == 0:
        return []
    col = split.with_format("arrow")[:]["latents"].combine_chunks()  # the dataset's indices applied
    values = np.array(col.flatten().flatten().to_numpy(zero_copy_only=False), dtype=np.float32)  # a writable copy
    frames = torch.from_numpy(values).view(-1, latent_dim)
    offsets = col.offsets.to_numpy()
    return list(torch.split(frames, np.diff(offsets).tolist()))


def load_latent_set(folder: str | os.PathLike) -> LatentSet:
    """Load a complete latent set; raises :class:`DataError` naming the folder otherwise."""
    folder = Path(folder)
    info_path = folder / INFO_FILE
    if not info_path.is_file():
        raise DataError(f"{folder}: not a complete latent set (no {INFO_FILE}; run or finish `svae-tts data latents`)")
    info = read_json(info_path, dict, error=DataError)  # a shared latent set is user input: one-line errors
    try:
        dd = datasets.load_from_disk(str(folder))
        stats = load_file(str(folder / STATS_FILE))
    except Exception as exc:
        raise DataError(f"{folder}: unreadable latent set ({exc_summary(exc)})") from None
    if isinstance(dd, datasets.Dataset):
        dd = datasets.DatasetDict({"train": dd})
    return LatentSet(dd, stats["mean"], stats["std"], info)
