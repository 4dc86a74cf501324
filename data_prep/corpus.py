"""Building a corpus: per-item validation, splitting, the input fingerprint and the atomic write.

The corpus format itself (schema, reader, writer, skipped-items report) is
:mod:`svae_tts.formats.corpus`, shared with every stage that reads a corpus.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import datasets
import numpy as np

from data_prep.errors import DataError
from svae_tts.audio import audio_info, read_samples
from svae_tts.errors import AudioError, ConfigError, OutputExistsError
from svae_tts.fileio import atomic_dir, guard_output, recover_dir
from svae_tts.config import Checked, nonneg, positive, seed_field
from svae_tts.textio import read_json
from svae_tts.formats.corpus import CORPUS_MARKERS, INFO_FILE, REPORT_FILE, load_corpus, write_corpus

log = logging.getLogger(__name__)


@dataclass
class ValidationLimits(Checked):
    """Bounds an item must meet; outside them it is skipped (and reported), never fatal."""

    min_duration: float = nonneg(0.2)
    max_duration: float = positive(30.0, allow_inf=True)
    max_channels: int = positive(2)

    ORDERED = (("min_duration", "max_duration"),)


@dataclass
class SplitSpec(Checked):
    """How to make the test (and dev) split.

    ``test_speakers`` > 0 holds out that many whole speakers (speaker-disjoint test, for zero-shot
    evaluation); otherwise ``test_size`` (fraction < 1, or a count) of utterances go to test.
    ``dev_speakers`` > 0 holds out that many more whole speakers as ``dev``, for tuning and
    validation, so the voices that report (test) are never the ones a run was tuned on. It needs
    ``test_speakers``: beside a test of utterances, test voices would be train voices.
    """

    test_size: float = nonneg(0.05)  # 0 = no test split (it is saved empty, and loads)
    test_speakers: int = nonneg(0)
    seed: int = seed_field(0)
    dev_speakers: int = nonneg(0)  # 0 = no dev split (none is saved)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_test_size(self.test_size)
        if self.dev_speakers and not self.test_speakers:
            raise ConfigError(f"dev_speakers ({self.dev_speakers}) needs test_speakers > 0: dev holds out whole "
                              "speakers, so test must too")

    def fingerprint_params(self) -> dict:
        """The spec as the build fingerprint sees it; ``dev_speakers`` only when set, so corpora built
        before the dev split existed stay up to date."""
        out = asdict(self)
        if not self.dev_speakers:
            out.pop("dev_speakers")
        return out


def held_out_speakers(speakers: Iterable[str], spec: SplitSpec) -> dict[str, set[str]]:
    """The whole speakers ``spec`` holds out: ``{"test": ..., "dev": ...}`` (empty sets when none).

    The one place the choice is made: the splitter and the eSpeak corpus (which gives held-out
    speakers held-out text before any audio exists) both ask here. Test is drawn first, with the
    draw corpora had before dev existed, so adding dev speakers keeps the test speakers."""
    pool = sorted(set(speakers))
    need = spec.test_speakers + spec.dev_speakers
    if spec.test_speakers == 0:
        return {"test": set(), "dev": set()}
    if need >= len(pool):
        raise DataError(f"cannot hold out {need} speakers ({spec.test_speakers} test, {spec.dev_speakers} dev): "
                        f"the corpus has only {len(pool)}")
    rng = random.Random(spec.seed)
    test = set(rng.sample(pool, spec.test_speakers))
    rest = [s for s in pool if s not in test]
    dev = set(rng.sample(rest, spec.dev_speakers)) if spec.dev_speakers else set()
    return {"test": test, "dev": dev}


def check_test_size(value: float, name: str = "test_size") -> float:
    """A fraction in [0, 1) or a whole count >= 1 (2.5 utterances is neither)."""
    if value >= 1 and not float(value).is_integer():
        raise ConfigError(f"{name}: {value} is neither a fraction below 1 nor a whole number of utterances")
    return value


def check_item(item: dict, limits: ValidationLimits) -> tuple[dict, str | None]:
    """Validate one item ``{id, audio, text, speaker, ...}``.

    Returns ``(item with duration/sample_rate filled in, None)`` or ``(item, reason)``. Reads the
    samples, because a valid header can hide NaNs or a truncated body.
    """
    text = item.get("text")
    path = item.get("audio")
    if text is None or not str(text).strip():
        return item, "missing or empty transcript"
    if not path:
        return item, "no audio path"
    try:
        info = audio_info(path)
    except AudioError as exc:
        return item, _reason(exc, path)
    if info.channels > limits.max_channels:
        return item, f"{info.channels} channels is not supported (at most {limits.max_channels})"
    if info.frames == 0:
        return item, "zero-length audio (no samples)"
    try:
        data, sr = read_samples(path)  # a truncated file is kept, with a warning naming it
    except AudioError as exc:  # corrupt body behind a valid header
        return item, _reason(exc, path)
    if data.shape[0] == 0:
        return item, "zero-length audio (no samples)"
    if not np.isfinite(data).all():
        return item, "audio has non-finite samples (NaN or Inf)"
    duration = data.shape[0] / sr
    if duration < limits.min_duration:
        return item, f"duration {duration:.3f} s is below the minimum {limits.min_duration} s"
    if duration > limits.max_duration:
        return item, f"duration {duration:.3f} s is above the maximum {limits.max_duration} s"
    out = dict(item)
    out["text"] = " ".join(str(text).split())
    out["duration"] = float(duration)
    out["sample_rate"] = int(sr)
    out["audio"] = str(Path(path).resolve())
    return out, None


def _reason(exc: Exception, path: Any) -> str:
    msg = str(exc)
    prefix = f"{path}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def validate_items(
    items: list[dict],
    limits: ValidationLimits | None = None,
    num_proc: int | None = None,
    pre_skipped: Iterable[dict] = (),
) -> tuple[list[dict], list[dict]]:
    """Check every item (in parallel with ``num_proc``); return ``(good, skipped)``.

    Skipped entries are ``{"id", "path", "reason"}``. Items whose id repeats an earlier one are
    skipped too (ids must be unique).
    """
    limits = limits or ValidationLimits()
    skipped = list(pre_skipped)
    if not items:
        return [], skipped
    ds = datasets.Dataset.from_list([{k: _plain(v) for k, v in it.items()} for it in items])
    nproc = num_proc if num_proc and num_proc > 1 and len(items) >= 2 * num_proc else None

    def _check(example):
        out, reason = check_item(dict(example), limits)
        out = dict(out)
        out.setdefault("duration", 0.0)
        out.setdefault("sample_rate", 0)
        out["duration"] = float(out["duration"] or 0.0)
        out["sample_rate"] = int(out["sample_rate"] or 0)
        out["_reason"] = reason or ""
        return out

    checked = ds.map(_check, num_proc=nproc, desc="validating audio", load_from_cache_file=False)
    good, seen = [], set()
    for row in checked:
        reason = row.pop("_reason")
        if not reason and row["id"] in seen:
            reason = "duplicate id"
        if reason:
            skipped.append({"id": row["id"], "path": row.get("audio"), "reason": reason})
            continue
        seen.add(row["id"])
        good.append(row)
    if skipped:
        log.warning("%d item(s) skipped; see %s", len(skipped), REPORT_FILE)
    return good, skipped


def _plain(v: Any) -> Any:
    return str(v) if isinstance(v, Path) else v


def split_items(rows: list[dict], spec: SplitSpec, speakers: Iterable[str] | None = None) -> dict[str, list[dict]]:
    """Deterministic train/(dev/)test split (speaker-disjoint when ``spec.test_speakers`` > 0).

    ``speakers``: every speaker the corpus was made for (default: those in ``rows``), for a builder
    that chose its held-out speakers before it knew which of them would have utterances."""
    if spec.test_speakers > 0:
        held = held_out_speakers(speakers if speakers is not None else (r["speaker"] for r in rows), spec)
        out = {"train": [r for r in rows if r["speaker"] not in held["test"] | held["dev"]],
               "test": [r for r in rows if r["speaker"] in held["test"]]}
        if spec.dev_speakers:
            out["dev"] = [r for r in rows if r["speaker"] in held["dev"]]
        if not out["train"]:
            raise DataError(f"no utterance is left for training: all {len(rows)} belong to held-out speakers")
        return out
    rng = random.Random(spec.seed)
    n_test = int(round(spec.test_size * len(rows))) if spec.test_size < 1 else int(spec.test_size)
    n_test = min(max(n_test, 1 if len(rows) > 1 and spec.test_size > 0 else 0), max(len(rows) - 1, 0))
    order = list(range(len(rows)))
    rng.shuffle(order)
    test_idx = set(order[:n_test])
    return {"train": [r for i, r in enumerate(rows) if i not in test_idx], "test": [r for i, r in enumerate(rows) if i in test_idx]}


def fingerprint(params: dict, files: Iterable[str | os.PathLike] = ()) -> str:
    """Hash of the build parameters and the inputs' (path, size, mtime): same inputs → same hash."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for f in sorted(str(x) for x in files):
        try:
            st = os.stat(f)
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f}\0missing\n".encode())
    return h.hexdigest()[:16]


def _fingerprint_of(info_path: Path) -> str | None:
    """The input fingerprint an earlier build recorded; ``None`` when its info file is damaged,
    which makes the corpus one built from other inputs (replaced only with ``overwrite``)."""
    try:
        return read_json(info_path, dict, error=DataError).get("fingerprint")
    except DataError:
        return None


def up_to_date(out_dir: str | os.PathLike, fp: str, overwrite: bool) -> bool:
    """True when ``out_dir`` already holds a corpus built from the same inputs (re-runs are no-ops).

    A different corpus at ``out_dir`` is only replaced with ``overwrite``.
    """
    out_dir = Path(out_dir)
    recover_dir(out_dir)
    if not out_dir.exists():
        return False
    info_path = out_dir / INFO_FILE
    if info_path.is_file() and not overwrite and _fingerprint_of(info_path) == fp:
        log.info("%s is up to date (same inputs); nothing to do", out_dir)
        return True
    if not overwrite:
        raise OutputExistsError(f"{out_dir}: already exists and was built from other inputs (pass --overwrite to replace it)")
    return False


def relocate(rows: list[dict], old_root: Path, new_root: Path) -> list[dict]:
    """Point audio paths written under a temporary build dir at their final location."""
    old, new = str(old_root.resolve()), str(new_root.resolve())
    for r in rows:
        if r["audio"].startswith(old + os.sep):
            r["audio"] = new + r["audio"][len(old):]
    return rows


def guard_corpus_out(out_dir: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (),
                     overwrite: bool = False) -> Path:
    """The output checks of every corpus builder (:func:`svae_tts.fileio.guard_output`): never
    inside or around an input, and an existing folder is only reused or replaced when it is a
    corpus (whether it is up to date is :func:`up_to_date`'s call)."""
    return guard_output(out_dir, inputs, overwrite=overwrite, exists_ok=True, markers=CORPUS_MARKERS, what="corpus")


def build_corpus_dir(
    out_dir: str | os.PathLike,
    make_items: Callable[[Path], tuple[list[dict], list[dict]]],
    params: dict,
    input_files: Iterable[str] = (),
    split: SplitSpec | None = None,
    limits: ValidationLimits | None = None,
    num_proc: int | None = None,
    overwrite: bool = False,
    validate: bool = True,
    speakers: Iterable[str] | None = None,
) -> datasets.DatasetDict:
    """The shared tail of every builder: collect items, validate, split, write atomically.

    ``make_items(tmp_dir)`` returns ``(items, skipped)``; audio it writes must go under
    ``tmp_dir`` (its paths are rewritten to ``out_dir`` when the build completes). ``out_dir``
    must not overlap ``params["source"]`` or any of ``input_files`` (checked before any work).
    ``speakers``: see :func:`split_items`.
    """
    input_files = list(input_files)
    guard_corpus_out(out_dir, [params.get("source"), *input_files], overwrite)
    out_dir = Path(out_dir).resolve()
    split = split or SplitSpec()
    limits = limits or ValidationLimits()
    fp = fingerprint({**params, "split": split.fingerprint_params(), "limits": asdict(limits)}, input_files)
    if up_to_date(out_dir, fp, overwrite):
        return load_corpus(out_dir)
    with atomic_dir(out_dir) as tmp:
        items, pre_skipped = make_items(tmp)
        if validate:
            good, skipped = validate_items(items, limits, num_proc, pre_skipped)
        else:
            good, skipped = items, list(pre_skipped)
        if not good:
            raise DataError(f"{params.get('source', out_dir)}: no usable items ({len(skipped)} skipped; first reason: "
                            f"{skipped[0]['reason'] if skipped else 'no items found'})")
        good.sort(key=lambda r: r["id"])
        relocate(good, tmp, out_dir)
        splits = split_items(good, split, speakers)
        write_corpus(tmp, splits, skipped, {"fingerprint": fp, **{k: _plain(v) for k, v in params.items()},
                                            "split": asdict(split), "limits": asdict(limits)})
    log.info("corpus written to %s", out_dir)
    return load_corpus(out_dir)


