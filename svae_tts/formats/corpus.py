"""The corpus artefact: a ``datasets.DatasetDict`` saved to disk, plus its info and skipped-items report.

Written by ``data_prep``'s builders, read by VAE training, latent/feature extraction and evaluation,
so its one reader and writer live here in the shared core. Layout of a corpus dir: the
``DatasetDict`` (``save_to_disk``; splits ``train`` and ``test``, and ``dev`` when the corpus
holds out dev speakers: corpora without one, older ones included, simply have no ``dev``), columns ``id``, ``audio``
(absolute path), ``text``, ``speaker``, ``duration``, ``sample_rate`` and optionally ``phonemes``;
``skipped.jsonl`` (one ``{"id", "path", "reason"}`` per bad item); ``corpus_info.json`` (what built
it and a fingerprint of its inputs, so a re-run with the same inputs is a no-op) and, for corpora
whose audio the builder wrote, ``wavs/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sized

import datasets

from svae_tts.errors import DataError, exc_summary
from svae_tts.fileio import atomic_write_json
from svae_tts.textio import read_json, read_jsonl

REQUIRED_COLUMNS = ("id", "audio", "text", "speaker", "duration", "sample_rate")
SPLITS = ("train", "dev", "test")
OPTIONAL_SPLITS = ("dev",)  # written only when it has rows; absent in corpora built before it existed
INFO_FILE = "corpus_info.json"
REPORT_FILE = "skipped.jsonl"
CORPUS_MARKERS = (INFO_FILE, "dataset_dict.json")

FEATURES = datasets.Features({
    "id": datasets.Value("string"),
    "audio": datasets.Value("string"),
    "text": datasets.Value("string"),
    "speaker": datasets.Value("string"),
    "duration": datasets.Value("float64"),
    "sample_rate": datasets.Value("int64"),
})
FEATURES_WITH_PHONEMES = datasets.Features({**FEATURES, "phonemes": datasets.Value("string")})


def validation_split(splits: Mapping[str, Sized]) -> str:
    """The split to validate and tune on: ``dev`` when there is a non-empty one, else ``test``.

    Tuning on dev keeps the test voices and sentences unseen until they report; a corpus (or a
    latent set) without dev speakers falls back to test, as before dev existed."""
    dev = splits.get("dev")
    return "dev" if dev is not None and len(dev) > 0 else "test"


def to_dataset_dict(splits: dict[str, list[dict]]) -> datasets.DatasetDict:
    """Every split of :data:`SPLITS` (``train`` and ``test`` even when empty; ``dev`` only with rows)."""
    with_ph = any("phonemes" in r for rows in splits.values() for r in rows)
    feats = FEATURES_WITH_PHONEMES if with_ph else FEATURES
    cols = list(feats)
    out = {}
    for name in SPLITS:
        rows = splits.get(name, [])
        if name in OPTIONAL_SPLITS and not rows:
            continue
        out[name] = datasets.Dataset.from_dict({c: [r.get(c, "") if c == "phonemes" else r[c] for r in rows] for c in cols}, features=feats)
    return datasets.DatasetDict(out)


def save_splits(dd: datasets.DatasetDict, directory: str | os.PathLike) -> None:
    """``dd.save_to_disk`` that keeps empty splits loadable: ``datasets`` writes no data file for
    an empty split by default and then cannot load it back (an ``IndexError``), so an empty split
    (``--test-size 0``, a one-item corpus) is written as one empty shard."""
    dd.save_to_disk(str(directory), num_shards={name: 1 for name, ds in dd.items() if len(ds) == 0})


def write_corpus(tmp_dir: Path, splits: dict[str, list[dict]], skipped: list[dict], info: dict) -> datasets.DatasetDict:
    """Save splits, report and info into ``tmp_dir`` (the caller's ``atomic_dir``)."""
    dd = to_dataset_dict(splits)
    save_splits(dd, tmp_dir)
    write_report(tmp_dir / REPORT_FILE, skipped)
    info = dict(info)
    info.update({"splits": {k: len(v) for k, v in dd.items()},
                 "hours": {k: round(sum(v["duration"]) / 3600, 4) for k, v in dd.items()},
                 "speakers": {k: len(set(v["speaker"])) for k, v in dd.items()},
                 "skipped": len(skipped)})
    atomic_write_json(tmp_dir / INFO_FILE, info)
    return dd


def write_report(path: Path, skipped: list[dict], append: bool = False) -> None:
    """One ``{"id", "path", "reason"}`` JSON line per skipped item."""
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        for s in skipped:
            f.write(json.dumps({"id": s.get("id"), "path": None if s.get("path") is None else str(s["path"]), "reason": s.get("reason")}) + "\n")


def read_report(corpus_dir: str | os.PathLike) -> list[dict]:
    """The skipped items of a corpus; a damaged report is one :class:`DataError` line naming it."""
    path = Path(corpus_dir) / REPORT_FILE
    if not path.is_file():
        return []
    return [row for _, row in read_jsonl(path, error=DataError)]


def corpus_audio(dd: datasets.DatasetDict) -> list[str]:
    """Every audio path a corpus points at (a command's inputs, for :func:`guard_output`)."""
    return [p for ds in dd.values() for p in ds["audio"]]


def load_corpus(corpus_dir: str | os.PathLike) -> datasets.DatasetDict:
    """Load a corpus saved by a builder; raises :class:`DataError` naming the dir when it is not one."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise DataError(f"{corpus_dir}: no such corpus directory")
    try:
        dd = datasets.load_from_disk(str(corpus_dir))
    except Exception as exc:
        raise DataError(f"{corpus_dir}: not a saved corpus ({exc_summary(exc)})") from None
    if isinstance(dd, datasets.Dataset):
        dd = datasets.DatasetDict({"train": dd})
    for name, ds in dd.items():
        missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
        if missing:
            raise DataError(f"{corpus_dir}: split {name!r} lacks column(s) {missing}")
    return dd


def corpus_info(corpus_dir: str | os.PathLike) -> dict:
    path = Path(corpus_dir) / INFO_FILE
    return read_json(path, dict, error=DataError) if path.is_file() else {}


def corpus_rows(corpus_dir: str | os.PathLike, splits: list[str] | None = None) -> list[dict]:
    """Every utterance of ``splits`` (default all) as a dict with its ``split``: the work list of an extraction."""
    dd = load_corpus(corpus_dir)
    names = splits or list(dd)
    rows = []
    for name in names:
        if name not in dd:
            raise DataError(f"{corpus_dir}: no split {name!r} (has {list(dd)})")
        keep = [c for c in ("id", "audio", "text", "speaker", "duration", "phonemes") if c in dd[name].column_names]
        for r in dd[name].select_columns(keep):
            r["split"] = name
            rows.append(r)
    return rows
