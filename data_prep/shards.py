"""Resumable, multi-process extraction into safetensors shards keyed by utterance id
(the shard format, its reader and writer: :mod:`svae_tts.formats.shards`).

Why our own: ``datasets.map`` caches by fingerprint, not by finished item, and cannot split work
across ``accelerate`` processes that each hold a GPU model. Here each process takes its share of
the not-yet-done ids (``process_index::num_processes``), writes shards atomically
(``shard-r<rank>-<uuid>.safetensors``), and a re-run skips every id already in a finished shard,
so an interrupted job resumes without redoing or duplicating work. A shard that cannot be opened
on resume (truncated by a full disk, a bad copy) is set aside under ``<name>.bad`` with a one-line
warning and its utterances are redone; items that could not be read are reported per rank in
``skipped-r<rank>.jsonl``, one line per id however often the job is re-run.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable, Iterable

import torch
from tqdm.auto import tqdm

from data_prep.errors import DataError
from svae_tts.boundary import item_boundary
from svae_tts.fileio import atomic_path, atomic_write_json
from svae_tts.formats.shards import ShardWriter, shard_files, shard_index, shard_keys

log = logging.getLogger(__name__)

SKIP_GLOB = "skipped-r*.jsonl"
BAD_SUFFIX = ".bad"


def set_aside_bad_shards(folder: str | Path) -> list[Path]:
    """Rename every shard that cannot be opened to ``<name>.bad`` (kept, not deleted: it is
    evidence) so that its utterances count as not done and a resumed job redoes them."""
    moved = []
    for f in shard_files(folder):
        try:
            shard_keys(f)
        except DataError as exc:
            bad = f.with_name(f.name + BAD_SUFFIX)
            os.replace(f, bad)
            log.warning("%s; set aside as %s, its utterances will be redone", exc, bad.name)
            moved.append(bad)
    return moved


def _read_jsonl(path: Path) -> list[dict]:
    """The records of a report; a line cut short by a crash is dropped, not fatal."""
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "id" in row:
            rows.append(row)
    return rows


def update_skip_report(path: str | Path, skipped: list[dict]) -> None:
    """Merge ``skipped`` into the report at ``path`` keyed by id (a re-run's reason replaces the
    earlier one instead of adding a second line); written atomically."""
    from svae_tts.formats.corpus import write_report

    path = Path(path)
    merged = {r["id"]: r for r in (_read_jsonl(path) if path.is_file() else [])}
    merged.update((s["id"], s) for s in skipped)
    with atomic_path(path) as tmp:
        write_report(tmp, list(merged.values()))


def read_skip_reports(folder: str | Path, done: set[str] | None = None) -> list[dict]:
    """Every rank's skipped items, one per id (the latest report wins), without the ids in
    ``done`` (an item that was fixed and encoded by a later run is no longer skipped)."""
    merged: dict[str, dict] = {}
    for f in sorted(Path(folder).glob(SKIP_GLOB), key=lambda p: (p.stat().st_mtime_ns, p.name)):
        merged.update((r["id"], r) for r in _read_jsonl(f))
    return [r for uid, r in merged.items() if not done or uid not in done]


def my_share(ids: list, process_index: int, num_processes: int) -> list:
    return ids[process_index::num_processes]


def start_job(rows: list[dict], shard_dir: str | Path, acc, job_file: str | Path, job: dict, desc: str) -> list[dict]:
    """Set up (or resume) a sharded extraction under ``accelerate``; returns this process' rows.

    Rows whose id is in a finished shard of ``shard_dir`` are done; the rest is split over the
    processes. The main process creates ``shard_dir`` and writes ``job`` to ``job_file`` (callers
    check an existing one first: what may differ is theirs to say); then every process waits, so
    none starts before the folder and the job file exist. Shards a crash or a full disk left
    unreadable are set aside first (main process), so that every process sees the same done set.
    """
    if acc.is_main_process:
        set_aside_bad_shards(shard_dir)
    acc.wait_for_everyone()
    done = set(shard_index(shard_dir))
    todo = [r for r in rows if r["id"] not in done]
    if acc.is_main_process:
        Path(shard_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_json(job_file, job)
        log.info("%s: %d utterances, %d already done, %d to do over %d process(es)",
                 desc, len(rows), len(rows) - len(todo), len(todo), acc.num_processes)
    acc.wait_for_everyone()
    return my_share(todo, acc.process_index, acc.num_processes)


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


Encoder = Callable[[list[torch.Tensor], list[str]], list[torch.Tensor]]  # (waveforms, their ids) -> outputs


def encode_or_skip(rows: list[dict], wavs: list[torch.Tensor], encode: Encoder,
                   skipped: list[dict]) -> list[tuple[dict, torch.Tensor]]:
    """``encode`` a batch; when it fails (one huge file running out of memory, one bad input),
    encode its items one by one so only the item that fails is skipped (and reported)."""
    with item_boundary(rows[0]["id"] if len(rows) == 1 else f"batch at {rows[0]['id']}", log, quiet=len(rows) > 1) as batch:
        return list(zip(rows, encode(wavs, [r["id"] for r in rows])))
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
    encode: Encoder,
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

    Reads ``rows`` in length-sorted batches at ``sample_rate``, writes ``encode(wavs, ids)[i]`` under
    each row's id into shards of ``folder`` (flushed even when interrupted), and records the
    unreadable items in ``folder/skipped-r<rank>.jsonl`` (keyed by id: a re-run after a crash
    does not list an item twice). Returns those skipped items.
    """
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
        update_skip_report(Path(folder) / f"skipped-r{rank:03d}.jsonl", skipped)
    return skipped
