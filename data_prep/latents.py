"""VAE latents of a corpus: the latent set that TTS training and the probe read.

Extraction runs in two phases. (1) Every process encodes its share of the not-yet-done utterances
into ``<out>/shards/`` (resumable, see :mod:`data_prep.shards`) with the VAE's one padded encode
(:meth:`vae.model.SemanticVAE.encode_clips`). (2) The main process assembles the latent set
(:func:`svae_tts.formats.latent_set.write_latent_set`: the format, its reader and its statistics).

Two encodes make two kinds of latents that differ in every clip's last ~12 frames: the project's
margin padding (the default; the same latents whatever the batch, the process count or a resume)
and the release's ``scripts/extract_latent.py`` (``padding="release"``: for sets that mix with ones
its authors' script made). The set's info records which one (``padding``, ``posterior``, ``noise``),
and an extraction into a folder holding a set made the other way is refused, not resumed or kept.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

import torch

from data_prep.errors import DataError
from data_prep.features import _accelerator
from data_prep.shards import encode_into_shards, read_skip_reports, start_job
from svae_tts.errors import nothing_done
from svae_tts.fileio import guard_output, make_output_dir, recover_dir
from svae_tts.textio import read_own_json
from svae_tts.formats.corpus import REPORT_FILE, corpus_rows, write_report
from svae_tts.formats.latent_set import INFO_FILE, write_latent_set
from svae_tts.formats.shards import ShardReader, shard_files, shard_index
from vae.load import load_vae
from vae.model import ENCODE_PADDINGS, RELEASE_SEED

log = logging.getLogger(__name__)

SHARDS_DIR = "shards"
JOB_FILE = "job.json"
# what an earlier (finished or interrupted) extraction leaves: only such a folder is resumed or replaced
LATENT_MARKERS = (INFO_FILE, JOB_FILE, SHARDS_DIR)
# what to do about an unfinished extraction that cannot be resumed (other settings, a damaged job file)
_START_AFRESH = "pass --overwrite or use another folder"


def extract_latents(
    corpus_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    vae: str,
    batch_size: int = 8,
    max_batch_seconds: float | None = 160.0,
    shard_size: int = 256,
    sample: bool = False,
    seed: int | None = None,
    overwrite: bool = False,
    accelerator=None,
    keep_shards: bool = False,
    padding: str = "margin",
) -> Path:
    """Encode every utterance of a corpus with ``vae`` (posterior mean unless ``sample``).

    ``padding``: ``"margin"`` (default) or ``"release"`` (:meth:`vae.model.SemanticVAE.encode_clips`).
    A sample's noise is, with the margin, drawn per utterance from ``(seed, id)`` (default seed 0),
    so the set does not depend on batches, processes or resumes; with the release's padding, as its
    script draws it: one stream per process seeded ``seed * processes + rank`` (default seed 42, the
    script's), clip after clip in this job's order (by length), so an utterance's sample depends on
    the utterances before it, and equals the script's only where the order does. Audio at another
    rate than the VAE's is resampled with torchaudio here, with julius by the script (it can differ
    by one sample of length at 24 kHz), so equality holds for audio at the VAE's rate.

    Resumable: finished shards under ``out_dir/shards`` are kept across interruptions. When the
    latent set is complete a re-run is a no-op; ``overwrite`` rebuilds it. ``out_dir`` may not
    overlap the corpus, its audio or the VAE dir, and an existing one must be an earlier latent
    set (:func:`svae_tts.fileio.guard_output`, checked before anything is written or removed) made
    with the same padding and posterior (else :class:`DataError`: the two do not mix).
    """
    if padding not in ENCODE_PADDINGS:
        raise DataError(f"latent padding must be one of {', '.join(ENCODE_PADDINGS)}, got {padding!r}")
    if seed is None:
        seed = RELEASE_SEED if padding == "release" else 0
    acc = _accelerator(accelerator)
    out_dir = Path(out_dir)
    rows = corpus_rows(corpus_dir)
    guard_output(out_dir, [corpus_dir, vae, *(r["audio"] for r in rows)], overwrite=overwrite, exists_ok=True,
                 markers=LATENT_MARKERS, what="latent set")
    recover_dir(out_dir)
    info_path = out_dir / INFO_FILE
    making = latent_making(padding, sample, seed, acc.num_processes)
    if info_path.is_file() and not overwrite:
        check_same_making(out_dir, read_own_json(info_path, _START_AFRESH, dict, error=DataError), making)
        log.info("%s already holds a complete latent set; nothing to do", out_dir)
        return out_dir
    if overwrite and out_dir.exists():  # complete or not: start afresh
        if acc.is_main_process:
            shutil.rmtree(out_dir)
        acc.wait_for_everyone()
    created = make_output_dir(out_dir) if acc.is_main_process else None  # taken back if nothing is extracted
    model = load_vae(vae, acc.device)
    shard_dir = out_dir / SHARDS_DIR
    job = {"vae": str(vae), "sample": sample, "seed": seed, "padding": padding,
           "corpus": str(Path(corpus_dir).resolve())}
    job_path = out_dir / JOB_FILE
    if job_path.is_file() and read_own_json(job_path, _START_AFRESH, dict, error=DataError) != job:
        raise DataError(f"{out_dir}: holds an unfinished extraction with other settings "
                        f"({job_path.read_text().strip()}); {_START_AFRESH}")
    if making.get("noise") == "release" and acc.is_main_process and shard_files(shard_dir):
        log.warning("%s: resuming a release-sampled extraction: the noise stream starts again from its seed, so "
                    "the remaining utterances get other samples than one uninterrupted run would draw", out_dir)
    mine = start_job(rows, shard_dir, acc, job_path, job, "latents")
    # the release's sampling: one stream per process, seeded as its script seeds torch's global RNG
    stream = (torch.Generator(device=acc.device).manual_seed(seed * acc.num_processes + acc.process_index)
              if sample and padding == "release" else None)

    def encode(wavs: list[torch.Tensor], ids: list[str]) -> list[torch.Tensor]:
        if padding == "release":
            return model.encode_clips(wavs, sample, stream, padding="release")
        return model.encode_clips(wavs, sample, utterance_generators(ids, seed, acc.device) if sample else None)

    encode_into_shards(mine, shard_dir, encode, model.sample_rate, acc.process_index, batch_size, max_batch_seconds,
                       shard_size, desc="latents", progress=acc.is_local_main_process)
    acc.wait_for_everyone()
    if acc.is_main_process:
        if created is not None and not shard_index(shard_dir):  # every item failed: no folder of reports is left
            skipped = read_skip_reports(shard_dir)
            shutil.rmtree(created)
            raise nothing_done("data latents", [(str(s.get("path") or s.get("id")), str(s.get("reason")))
                                                for s in skipped])
        assemble(rows, out_dir, {"vae": str(vae), "frame_rate": float(model.frame_rate), "latent_dim": int(model.latent_dim),
                                 "sample_rate": int(model.sample_rate), "hop_length": int(model.hop_length),
                                 **making, "dtype": "float32",
                                 "semantic": bool(model.config.semantic), "corpus": str(Path(corpus_dir).resolve())},
                 keep_shards)
    acc.wait_for_everyone()
    return out_dir


def assemble(rows: list[dict], out_dir: Path, info: dict, keep_shards: bool = False) -> None:
    """Shards -> the latent set (its info last: it marks completion), the skipped-items report."""
    shard_dir = out_dir / SHARDS_DIR
    index = shard_index(shard_dir)
    skipped = read_skip_reports(shard_dir, done=set(index))
    write_report(out_dir / REPORT_FILE, skipped)
    done = [r for r in rows if r["id"] in index]
    if not any(r["split"] == "train" for r in done):
        raise DataError(f"{out_dir}: no train latents were extracted ({len(skipped)} skipped)")
    write_latent_set(out_dir, done, ShardReader(index), info)
    if not keep_shards:
        shutil.rmtree(shard_dir, ignore_errors=True)
        (out_dir / JOB_FILE).unlink(missing_ok=True)


def utterance_generators(ids: list[str], seed: int, device) -> list[torch.Generator]:
    """One posterior-noise generator per utterance, seeded from ``(seed, id)``: a sampled latent set
    is the same whatever the batch size, the process count or a resume (a generator per process,
    as before, made it depend on which process drew which utterance)."""
    def seed_of(uid: str) -> int:
        return int.from_bytes(hashlib.sha256(f"{seed}:{uid}".encode()).digest()[:8], "little")

    return [torch.Generator(device=device).manual_seed(seed_of(uid)) for uid in ids]


def latent_making(padding: str, sample: bool, seed: int, processes: int) -> dict:
    """How a set's latents were made, as its info records it: ``padding`` (``margin``/``release``),
    ``posterior`` (``mean``/``sample``) and, for samples, ``noise`` (``per-utterance``: from
    ``(seed, id)``; ``release``: one stream per process, so ``processes`` is recorded too) and ``seed``."""
    making = {"padding": padding, "posterior": "sample" if sample else "mean"}
    if sample:
        making.update(noise="release" if padding == "release" else "per-utterance", seed=seed)
        if padding == "release":
            making["processes"] = processes
    return making


def check_same_making(out_dir: Path, info: dict, making: dict) -> None:
    """Refuse to keep a complete set made otherwise than asked: latents of the two paddings (or a mean
    and a sample) do not mix. A set without ``padding`` predates the release option: the margin made it."""
    made = {k: info.get(k, "margin" if k == "padding" else None) for k in making}
    if made != making:
        def show(d: dict) -> str:
            return ", ".join(f"{k}={'unrecorded' if v is None else v}" for k, v in d.items())

        raise DataError(f"{out_dir}: holds a latent set made with {show(made)}, not {show(making)} as asked "
                        f"(latents made one way do not mix with the other); {_START_AFRESH}")
