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
from typing import Callable, Iterable

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from svae_tts.boundary import item_boundary
from svae_tts.fileio import atomic_path, atomic_write_json

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


def start_job(rows: list[dict], shard_dir: str | Path, acc, job_file: str | Path, job: dict, desc: str) -> list[dict]:
    """Set up (or resume) a sharded extraction under ``accelerate``; returns this process' rows.

    Rows whose id is in a finished shard of ``shard_dir`` are done; the rest is split over the
    processes. The main process creates ``shard_dir`` and writes ``job`` to ``job_file`` (callers
    check an existing one first: what may differ is theirs to say); then every process waits, so
    none starts before the folder and the job file exist.
    """
    done = set(shard_index(shard_dir))
    todo = [r for r in rows if r["id"] not in done]
    if acc.is_main_process:
        Path(shard_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_json(job_file, job)
        log.info("%s: %d utterances, %d already done, %d to do over %d process(es)",
                 desc, len(rows), len(rows) - len(todo), len(todo), acc.num_processes)
    acc.wait_for_everyone()
    return my_share(todo, acc.process_index, acc.num_processes)


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


def load_batch_audio(batch: list[dict], sample_rate: int, skipped: list[dict]) -> tuple[list[torch.Tensor], list[dict]]:
    """Read a batch of corpus rows at ``sample_rate``; unreadable items go to ``skipped`` (id, path,
    reason) instead of sinking the batch. Returns the waveforms and the rows they belong to."""
    from svae_tts.audio import load_audio

    wavs, ok = [], []
    for r in batch:
        with item_boundary(r["id"], log) as item:
            wavs.append(load_audio(r["audio"], sample_rate=sample_rate)[0])
            ok.append(r)
        if item.failed:
            skipped.append({"id": r["id"], "path": r["audio"], "reason": item.reason})
    return wavs, ok


def encode_or_skip(rows: list[dict], wavs: list[torch.Tensor], encode: Callable[[list[torch.Tensor]], list[torch.Tensor]],
                   skipped: list[dict]) -> list[tuple[dict, torch.Tensor]]:
    """``encode`` a batch; when it fails (one huge file running out of memory, one bad input),
    encode its items one by one so only the item that fails is skipped (and reported)."""
    with item_boundary(rows[0]["id"] if len(rows) == 1 else f"batch at {rows[0]['id']}", log, quiet=len(rows) > 1) as batch:
        return list(zip(rows, encode(wavs)))
    if len(rows) == 1:
        skipped.append({"id": rows[0]["id"], "path": rows[0].get("audio"), "reason": batch.reason})
        return []
    log.info("a batch of %d failed (%s); encoding its items one by one", len(rows), batch.reason)
    out = []
    for r, w in zip(rows, wavs):
        out += encode_or_skip([r], [w], encode, skipped)
    return out


def encode_into_shards(
    rows: list[dict],
    folder: str | Path,
    encode: Callable[[list[torch.Tensor]], list[torch.Tensor]],
    sample_rate: int,
    rank: int = 0,
    batch_size: int = 8,
    max_batch_seconds: float | None = None,
    shard_size: int = 256,
    metadata: dict | None = None,
    desc: str = "encode",
    progress: bool = True,
) -> list[dict]:
    """The extraction loop shared by teacher features and VAE latents.

    Reads ``rows`` in length-sorted batches at ``sample_rate``, writes ``encode(wavs)[i]`` under
    each row's id into shards of ``folder`` (flushed even when interrupted), and appends the
    unreadable items to ``folder/skipped-r<rank>.jsonl``. Returns those skipped items.
    """
    from data_prep.corpus import write_report

    skipped: list[dict] = []
    with ShardWriter(folder, rank, shard_size, metadata) as writer:
        bar = tqdm(total=len(rows), desc=f"{desc}[{rank}]", unit="utt", disable=not progress)
        for batch in batches_by_length(rows, batch_size, max_batch_seconds):
            wavs, ok = load_batch_audio(batch, sample_rate, skipped)
            if ok:
                for r, out in encode_or_skip(ok, wavs, encode, skipped):
                    writer.add(r["id"], out)
            bar.update(len(batch))
        bar.close()
    if skipped:
        write_report(Path(folder) / f"skipped-r{rank:03d}.jsonl", skipped, append=True)
    return skipped
