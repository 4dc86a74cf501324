"""VAE latents of a corpus: the latent set that TTS training and the probe read.

Extraction runs in two phases. (1) Every process encodes its share of the not-yet-done utterances
into ``<out>/shards/`` (resumable, see :mod:`data_prep.shards`). (2) The main process assembles
the latent set: a ``DatasetDict`` (train/test; ``id``, ``latents`` (T, D) float32, ``text``,
``speaker``, ``duration``, optional ``phonemes``), ``latent_stats.safetensors`` (per-channel
``mean``/``std`` over the train frames, for normalisation) and ``latent_info.json``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from data_prep.corpus import REPORT_FILE, write_report
from data_prep.errors import DataError, exc_summary
from data_prep.features import _accelerator, corpus_rows
from data_prep.shards import encode_into_shards, read_skip_reports, shard_index, start_job
from svae_tts.fileio import atomic_path, atomic_write_json, guard_output, recover_dir
from svae_tts.textio import read_json

log = logging.getLogger(__name__)

INFO_FILE = "latent_info.json"
STATS_FILE = "latent_stats.safetensors"
SHARDS_DIR = "shards"
JOB_FILE = "job.json"
# what an earlier (finished or interrupted) extraction leaves: only such a folder is resumed or replaced
LATENT_MARKERS = (INFO_FILE, JOB_FILE, SHARDS_DIR)


@dataclass
class LatentSet:
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

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean.to(z)) / self.std.to(z)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.to(z) + self.mean.to(z)


def load_vae(ref: str | os.PathLike, device="cpu"):
    """A :class:`vae.SemanticVAE` from a model dir, hub id or preset name (``preset:tiny``)."""
    from vae import SemanticVAE

    ref = str(ref)
    if ref.startswith("preset:"):  # random init: only for tests and smoke runs
        return SemanticVAE.from_preset(ref.split(":", 1)[1]).eval().to(device)
    return SemanticVAE.from_pretrained(ref).eval().to(device)


PAD_MARGIN_SECONDS = 0.5


@torch.no_grad()
def encode_batch(vae, wavs: list[torch.Tensor], sample: bool = False, generator: torch.Generator | None = None,
                 margin_seconds: float = PAD_MARGIN_SECONDS) -> list[torch.Tensor]:
    """Latents ``(ceil(N_i/hop), D)`` for each wav, independent of what it is batched with.

    Every wav gets at least ``margin_seconds`` of trailing zeros (more than the encoder's
    one-sided receptive field, about 0.3 s for the released architecture) before encoding, and
    the output is trimmed to its own ``ceil(N/hop)`` frames. Since the attention is causal and
    the convolutions see no further than the margin, extra padding from longer batch-mates cannot
    change a kept frame: batch size and process count do not change the latents.
    """
    device = next(vae.parameters()).device
    lengths = [int(w.shape[0]) for w in wavs]
    margin = int(round(margin_seconds * vae.sample_rate))
    batch = torch.zeros(len(wavs), max(lengths) + margin)
    for i, w in enumerate(wavs):
        batch[i, : lengths[i]] = w
    z, mu, _ = vae.encode(batch.to(device), generator=generator)
    lat = z if sample else mu
    return [lat[i, : vae.num_frames(n)].float().cpu() for i, n in enumerate(lengths)]


def extract_latents(
    corpus_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    vae: str,
    batch_size: int = 8,
    max_batch_seconds: float | None = 160.0,
    shard_size: int = 256,
    sample: bool = False,
    seed: int = 0,
    overwrite: bool = False,
    accelerator=None,
    keep_shards: bool = False,
) -> Path:
    """Encode every utterance of a corpus with ``vae`` (posterior mean unless ``sample``).

    Resumable: finished shards under ``out_dir/shards`` are kept across interruptions. When the
    latent set is complete a re-run is a no-op; ``overwrite`` rebuilds it. ``out_dir`` may not
    overlap the corpus, its audio or the VAE dir, and an existing one must be an earlier latent
    set (:func:`svae_tts.fileio.guard_output`, checked before anything is written or removed).
    """
    acc = _accelerator(accelerator)
    out_dir = Path(out_dir)
    rows = corpus_rows(corpus_dir)
    guard_output(out_dir, [corpus_dir, vae, *(r["audio"] for r in rows)], overwrite=overwrite, exists_ok=True,
                 markers=LATENT_MARKERS, what="latent set")
    recover_dir(out_dir)
    info_path = out_dir / INFO_FILE
    if info_path.is_file() and not overwrite:
        log.info("%s already holds a complete latent set; nothing to do", out_dir)
        return out_dir
    if overwrite and out_dir.exists():  # complete or not: start afresh
        if acc.is_main_process:
            shutil.rmtree(out_dir)
        acc.wait_for_everyone()
    model = load_vae(vae, acc.device)
    shard_dir = out_dir / SHARDS_DIR
    job = {"vae": str(vae), "sample": sample, "seed": seed, "corpus": str(Path(corpus_dir).resolve())}
    job_path = out_dir / JOB_FILE
    if job_path.is_file() and json.loads(job_path.read_text()) != job:
        raise DataError(f"{out_dir}: holds an unfinished extraction with other settings "
                        f"({job_path.read_text().strip()}); pass --overwrite or use another folder")
    mine = start_job(rows, shard_dir, acc, job_path, job, "latents")
    gen = torch.Generator(device=acc.device).manual_seed(seed + acc.process_index) if sample else None
    encode_into_shards(mine, shard_dir, lambda wavs: encode_batch(model, wavs, sample, gen), model.sample_rate,
                       acc.process_index, batch_size, max_batch_seconds, shard_size, desc="latents",
                       progress=acc.is_local_main_process)
    acc.wait_for_everyone()
    if acc.is_main_process:
        assemble(rows, out_dir, {"vae": str(vae), "frame_rate": float(model.frame_rate), "latent_dim": int(model.latent_dim),
                                 "sample_rate": int(model.sample_rate), "hop_length": int(model.hop_length),
                                 "posterior": "sample" if sample else "mean", "dtype": "float32",
                                 "corpus": str(Path(corpus_dir).resolve())}, keep_shards)
    acc.wait_for_everyone()
    return out_dir


def assemble(rows: list[dict], out_dir: Path, info: dict, keep_shards: bool = False) -> None:
    """Shards -> the latent-set DatasetDict, stats and info (info last: it marks completion)."""
    shard_dir = out_dir / SHARDS_DIR
    index = shard_index(shard_dir)
    skipped = read_skip_reports(shard_dir, done=set(index))
    D = info["latent_dim"]
    total = torch.zeros(D, dtype=torch.float64)
    total_sq = torch.zeros(D, dtype=torch.float64)
    count = 0
    for r in rows:  # stats over train frames only (no test leakage into normalisation)
        if r["split"] == "train" and r["id"] in index:
            with safe_open(str(index[r["id"]]), framework="pt") as h:
                z = h.get_tensor(r["id"]).double()
            total += z.sum(0)
            total_sq += (z * z).sum(0)
            count += z.shape[0]
    with_ph = any("phonemes" in r for r in rows)
    feats = {"id": datasets.Value("string"), "latents": datasets.Sequence(datasets.Sequence(datasets.Value("float32"))),
             "text": datasets.Value("string"), "speaker": datasets.Value("string"), "duration": datasets.Value("float64")}
    if with_ph:
        feats["phonemes"] = datasets.Value("string")
    features = datasets.Features(feats)
    str_index = {k: str(v) for k, v in index.items()}
    splits = list(dict.fromkeys(r["split"] for r in rows if r["id"] in index))  # a split with no latents is left out
    dd = datasets.DatasetDict({
        s: datasets.Dataset.from_generator(
            _latent_rows, features=features, cache_dir=str(out_dir / ".cache"),
            gen_kwargs={"rows": [r for r in rows if r["split"] == s and r["id"] in index], "index": str_index,
                        "with_phonemes": with_ph})
        for s in splits})
    if count == 0:
        raise DataError(f"{out_dir}: no train latents were extracted ({len(skipped)} skipped)")
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-10).sqrt()
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
    with atomic_path(out_dir / STATS_FILE) as tmp:
        save_file({"mean": mean.float().contiguous(), "std": std.float().contiguous()}, str(tmp))
    write_report(out_dir / REPORT_FILE, skipped)
    if not keep_shards:
        shutil.rmtree(shard_dir, ignore_errors=True)
        (out_dir / JOB_FILE).unlink(missing_ok=True)
    atomic_write_json(out_dir / INFO_FILE, {**info, "frames": int(count), "splits": {k: len(v) for k, v in dd.items()}})


def _latent_rows(rows: list[dict], index: dict[str, str], with_phonemes: bool):
    handles: dict[str, object] = {}
    for r in rows:
        path = index[r["id"]]
        if path not in handles:
            handles[path] = safe_open(path, framework="pt")
        ex = {"id": r["id"], "latents": handles[path].get_tensor(r["id"]).float().numpy(), "text": r["text"],
              "speaker": r["speaker"], "duration": r["duration"]}
        if with_phonemes:
            ex["phonemes"] = r.get("phonemes") or ""
        yield ex


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
