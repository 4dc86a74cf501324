"""Corpus builders from the sources users have: a LibriTTS-style tree, a CSV/TSV, any HF dataset.

Each builder only gathers ``{id, audio, text, speaker}`` items; validation, splitting, the report
and the atomic, idempotent write are shared (:func:`data_prep.corpus.build_corpus_dir`).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import datasets
from tqdm.auto import tqdm

from data_prep.corpus import SplitSpec, ValidationLimits, build_corpus_dir, guard_corpus_out
from data_prep.errors import DataError, exc_summary
from svae_tts.textio import read_csv

log = logging.getLogger(__name__)

_LIBRITTS_NAME = re.compile(r"^(\d+)_(\d+)_")


def _libritts_speaker(wav: Path, root: Path) -> str:
    m = _LIBRITTS_NAME.match(wav.name)
    if m:
        return m.group(1)
    rel = wav.relative_to(root).parts
    # root/.../speaker/chapter/file.wav: the speaker is two levels up, else the parent folder
    return rel[-3] if len(rel) >= 3 else (rel[-2] if len(rel) >= 2 else "unknown")


def libritts_items(root: str | os.PathLike, transcript_suffix: str = ".normalized.txt") -> tuple[list[dict], list[dict], list[str]]:
    """Items of a LibriTTS-style tree: ``X.wav`` beside ``X.normalized.txt``, speaker from the path."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    wavs = sorted(p for p in root.rglob("*.wav") if p.is_file())
    if not wavs:
        raise DataError(f"{root}: no .wav files found")
    items, skipped, inputs = [], [], []
    for wav in tqdm(wavs, desc="scanning", unit="file", disable=len(wavs) < 1000):
        txt = wav.with_name(wav.stem + transcript_suffix)
        inputs.append(str(wav))
        if not txt.is_file():
            skipped.append({"id": wav.stem, "path": str(wav), "reason": f"missing transcript {txt.name}"})
            continue
        inputs.append(str(txt))
        text = txt.read_text(encoding="utf-8", errors="replace").strip()
        items.append({"id": wav.stem, "audio": str(wav.resolve()), "text": text, "speaker": _libritts_speaker(wav, root)})
    return items, skipped, inputs


def build_libritts(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    split: SplitSpec | None = None,
    limits: ValidationLimits | None = None,
    num_proc: int | None = None,
    overwrite: bool = False,
    transcript_suffix: str = ".normalized.txt",
) -> datasets.DatasetDict:
    guard_corpus_out(out_dir, [root], overwrite)  # before the scan: an output in the tree is refused at once
    items, pre, inputs = libritts_items(root, transcript_suffix)
    params = {"source": str(Path(root).resolve()), "kind": "libritts", "transcript_suffix": transcript_suffix}
    return build_corpus_dir(out_dir, lambda tmp: (items, pre), params, inputs, split, limits, num_proc, overwrite)


def csv_items(
    path: str | os.PathLike,
    path_col: str = "path",
    text_col: str = "text",
    speaker_col: str | None = "speaker",
    id_col: str | None = None,
    delimiter: str | None = None,
) -> tuple[list[dict], list[dict], list[str]]:
    """Items of a CSV/TSV (tab when the name ends in .tsv); relative audio paths are relative to it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such CSV file")
    delimiter = delimiter or ("\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    fields, numbered = read_csv(path, delimiter, error=DataError)
    for col in (path_col, text_col):
        if col not in fields:
            raise DataError(f"{path}: no column {col!r} (columns: {fields})")
    if id_col and id_col not in fields:
        raise DataError(f"{path}: no column {id_col!r} (columns: {fields})")
    rows = [row for _, row in numbered]
    use_speaker = bool(speaker_col) and speaker_col in fields
    items, skipped, inputs = [], [], [str(path)]
    for i, row in enumerate(rows):
        raw = (row.get(path_col) or "").strip()
        audio = Path(raw) if Path(raw).is_absolute() else path.parent / raw
        uid = (row.get(id_col) or "").strip() if id_col else Path(raw).stem
        uid = uid or f"row{i:06d}"
        if not raw:
            skipped.append({"id": uid, "path": "", "reason": "empty audio path"})
            continue
        inputs.append(str(audio))
        speaker = (row.get(speaker_col) or "").strip() if use_speaker else ""
        items.append({"id": uid, "audio": str(audio.resolve()), "text": row.get(text_col) or "",
                      "speaker": speaker or "unknown"})
    return items, skipped, inputs


def build_csv(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    path_col: str = "path",
    text_col: str = "text",
    speaker_col: str | None = "speaker",
    id_col: str | None = None,
    delimiter: str | None = None,
    split: SplitSpec | None = None,
    limits: ValidationLimits | None = None,
    num_proc: int | None = None,
    overwrite: bool = False,
) -> datasets.DatasetDict:
    guard_corpus_out(out_dir, [path], overwrite)
    items, pre, inputs = csv_items(path, path_col, text_col, speaker_col, id_col, delimiter)
    params = {"source": str(Path(path).resolve()), "kind": "csv", "columns": [path_col, text_col, speaker_col, id_col]}
    return build_corpus_dir(out_dir, lambda tmp: (items, pre), params, inputs, split, limits, num_proc, overwrite)


def _load_source(source: str, config: str | None, split: str | None, data_dir: str | None) -> datasets.Dataset:
    """``load_dataset`` for hub names and script/data folders; ``load_from_disk`` for saved datasets."""
    p = Path(source)
    try:
        if p.is_dir() and ((p / "dataset_info.json").is_file() or (p / "dataset_dict.json").is_file()):
            ds = datasets.load_from_disk(str(p))
        else:
            ds = datasets.load_dataset(source, config, split=split, data_dir=data_dir)
    except Exception as exc:
        raise DataError(f"{source}: cannot load dataset ({exc_summary(exc)})") from None
    if isinstance(ds, datasets.DatasetDict):
        if split:
            if split not in ds:
                raise DataError(f"{source}: no split {split!r} (has {list(ds)})")
            ds = ds[split]
        else:
            ds = datasets.concatenate_datasets(list(ds.values()))
    return ds


def hf_items(
    source: str,
    tmp_dir: Path,
    config: str | None = None,
    split: str | None = None,
    audio_col: str = "audio",
    text_col: str = "text",
    speaker_col: str | None = "speaker",
    id_col: str | None = "id",
    data_dir: str | None = None,
) -> tuple[list[dict], list[dict]]:
    """Items of a ``datasets`` source; embedded audio bytes are written under ``tmp_dir/audio``.

    The audio column may hold paths (strings) or the ``Audio`` feature; the latter is read with
    ``decode=False`` so the original encoded bytes are kept as they are (no decoder needed).
    """
    ds = _load_source(source, config, split, data_dir)
    cols = ds.column_names
    for col in (audio_col, text_col):
        if col not in cols:
            raise DataError(f"{source}: no column {col!r} (columns: {cols}); map it with --audio-col/--text-col")
    if isinstance(ds.features[audio_col], datasets.Audio):
        ds = ds.cast_column(audio_col, datasets.Audio(decode=False))
    has_spk = bool(speaker_col) and speaker_col in cols
    has_id = bool(id_col) and id_col in cols
    audio_dir = tmp_dir / "audio"
    items, skipped = [], []
    for i, row in enumerate(tqdm(ds, desc="reading dataset", unit="item")):
        uid = str(row[id_col]) if has_id else f"{i:08d}"
        speaker = str(row[speaker_col]) if has_spk and row[speaker_col] is not None else "unknown"
        a = row[audio_col]
        path = None
        if isinstance(a, str):
            path = a
        elif isinstance(a, dict):
            if a.get("bytes"):
                ext = Path(a.get("path") or "x.wav").suffix.lower() or ".wav"
                safe = re.sub(r"[^A-Za-z0-9._-]", "_", uid)
                audio_dir.mkdir(parents=True, exist_ok=True)
                path = str(audio_dir / f"{safe}{ext}")
                with open(path, "wb") as f:
                    f.write(a["bytes"])
            elif a.get("path"):
                path = a["path"]
        if not path:
            skipped.append({"id": uid, "path": None, "reason": "no audio in the row"})
            continue
        items.append({"id": uid, "audio": str(Path(path).resolve()), "text": row[text_col] or "", "speaker": speaker})
    return items, skipped


def build_hf(
    source: str,
    out_dir: str | os.PathLike,
    config: str | None = None,
    hf_split: str | None = None,
    audio_col: str = "audio",
    text_col: str = "text",
    speaker_col: str | None = "speaker",
    id_col: str | None = "id",
    data_dir: str | None = None,
    split: SplitSpec | None = None,
    limits: ValidationLimits | None = None,
    num_proc: int | None = None,
    overwrite: bool = False,
) -> datasets.DatasetDict:
    params = {"source": source, "kind": "hf", "config": config, "hf_split": hf_split,
              "columns": [audio_col, text_col, speaker_col, id_col], "data_dir": data_dir}
    local = Path(source)
    guard_corpus_out(out_dir, [source], overwrite)
    inputs = sorted(str(p) for p in local.rglob("*") if p.is_file()) if local.is_dir() else []
    return build_corpus_dir(
        out_dir,
        lambda tmp: hf_items(source, tmp, config, hf_split, audio_col, text_col, speaker_col, id_col, data_dir),
        params, inputs, split, limits, num_proc, overwrite)
