"""Teacher features: hidden states of a ``transformers`` speech encoder, per utterance, on disk.

The store's format (shards of ``(T, C)`` tensors keyed by utterance id plus ``features.json``) is
:mod:`svae_tts.formats.teacher_features`; the teacher is VAE training's own
:class:`vae.teacher.OnlineTeacher`, run here in batches, so the precomputed features equal what the
trainer would compute itself. Resumable and shardable across ``accelerate launch`` processes.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import torch

from data_prep.errors import DataError
from data_prep.shards import encode_into_shards, read_skip_reports, start_job
from svae_tts.errors import nothing_done
from svae_tts.fileio import atomic_path, guard_output, make_output_dir
from svae_tts.formats.corpus import REPORT_FILE, corpus_rows, write_report
from svae_tts.formats.shards import shard_index
from svae_tts.formats.teacher_features import META_FILE, read_store_info
from vae.teacher import OnlineTeacher, TeacherError

log = logging.getLogger(__name__)


def load_teacher(ref: str | os.PathLike, layer: int = -1, device: str | torch.device = "cpu",
                 sample_rate: int | None = None) -> OnlineTeacher:
    """The teacher of :class:`vae.teacher.OnlineTeacher` on ``device``; a teacher that cannot be used
    is a :class:`DataError` (the data stage's error) naming it."""
    try:
        return OnlineTeacher(ref, layer, sample_rate).to(device)
    except TeacherError as exc:
        raise DataError(str(exc)) from None


def _accelerator(accelerator):
    if accelerator is not None:
        return accelerator
    from accelerate import Accelerator

    return Accelerator()


def extract_features(
    corpus_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    teacher: str,
    layer: int = -1,
    batch_size: int = 8,
    max_batch_seconds: float | None = 160.0,
    shard_size: int = 256,
    splits: list[str] | None = None,
    dtype: str = "float32",
    accelerator=None,
) -> Path:
    """Extract ``layer`` of ``teacher`` for every utterance of the corpus into ``out_dir``.

    Re-running continues where a previous run stopped; under ``accelerate launch`` every process
    takes its own share. Unreadable audio is skipped and listed in ``skipped.jsonl`` (one line
    per id, however often the job was re-run). ``out_dir`` may not overlap the corpus, its audio or
    the teacher, and an existing non-empty one must be a features folder (checked before any work).
    """
    if dtype not in ("float32", "float16"):
        raise DataError(f"features dtype {dtype!r}: use float32 or float16")
    acc = _accelerator(accelerator)
    out_dir = Path(out_dir)
    rows = corpus_rows(corpus_dir, splits)
    guard_output(out_dir, [corpus_dir, teacher, *(r["audio"] for r in rows)], exists_ok=True,
                 markers=(META_FILE,), what="teacher-features folder")
    t = load_teacher(teacher, layer, acc.device)
    created = make_output_dir(out_dir) if acc.is_main_process else None  # taken back if nothing is extracted
    meta = {"teacher": str(teacher), "layer": layer, "frame_rate": t.frame_rate, "width": t.width,
            "sample_rate": t.sample_rate, "dtype": dtype, "corpus": str(Path(corpus_dir).resolve())}
    old = read_store_info(out_dir)
    for k in ("teacher", "layer", "width"):
        if old is not None and old.get(k) != meta[k]:
            raise DataError(f"{out_dir}: holds features of {k}={old.get(k)!r}, not {meta[k]!r}; use another folder")
    mine = start_job(rows, out_dir, acc, out_dir / META_FILE, meta, "features")
    torch_dtype = getattr(torch, dtype)
    encode_into_shards(mine, out_dir, lambda wavs, _ids: [h.to(torch_dtype) for h in t.encode_clips(wavs)],
                       t.sample_rate, acc.process_index, batch_size, max_batch_seconds, shard_size,
                       {"teacher": teacher, "layer": layer}, "features", acc.is_local_main_process)
    acc.wait_for_everyone()
    if acc.is_main_process:
        skipped = read_skip_reports(out_dir, done=set(shard_index(out_dir)))
        if created is not None and not shard_index(out_dir):  # every item failed: no folder of reports is left
            shutil.rmtree(created)
            raise nothing_done("data features", [(str(s.get("path") or s.get("id")), str(s.get("reason")))
                                                 for s in skipped])
        with atomic_path(out_dir / REPORT_FILE) as tmp:
            write_report(tmp, skipped)
    acc.wait_for_everyone()
    return out_dir
