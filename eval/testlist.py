"""Zero-shot TTS test lists: prompt (audio + text) from one utterance, target text from another.

Two sources, one in-memory form (:class:`TestItem`):

* the LibriSpeech-PC cross-sentence list used by F5-TTS (``*.lst``; tab-separated
  ``prompt_id, prompt_dur, prompt_text, target_id, target_dur, target_text``; ids like
  ``1089-134686-0000`` resolve to ``<librispeech_root>/1089/134686/1089-134686-0000.flac``);
* our own JSON-lines list (``*.jsonl``, one :class:`TestItem` a line) built from a corpus test
  split by :func:`build_test_list`: prompt and target are different utterances of the same
  speaker, and speakers seen in the train split are left out so the test is zero-shot.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections import defaultdict
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Iterable

from eval.errors import EvalError
from svae_tts.fileio import OutputManifest, atomic_write_text, guard_output
from svae_tts import textio
from svae_tts.config import Checked, from_dict, nonneg
from svae_tts.errors import ConfigError
from svae_tts.formats.corpus import load_corpus


@dataclass
class TestItem(Checked):
    id: str  # the target utterance id; names the generated file
    prompt_audio: str
    prompt_text: str
    text: str  # what to synthesise
    target_audio: str | None = None  # ground truth of ``text`` when it exists
    speaker: str | None = None
    prompt_id: str | None = None
    target_duration: float | None = nonneg(None)  # seconds of the ground truth (a duration hint for synthesis)
    # the corpus split the pair comes from ("test" reports, "dev" tunes); None: an external list, or
    # one written before the field existed
    split: str | None = None

    __test__ = False  # not a pytest class


def read_librispeech_pc(path: str | os.PathLike, librispeech_root: str | os.PathLike | None = None) -> list[TestItem]:
    """Read the LibriSpeech-PC cross-sentence list; audio paths resolve under ``librispeech_root``."""
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"{path}: no such test list")
    root = Path(librispeech_root) if librispeech_root else None
    if root is not None and not root.is_dir():
        raise EvalError(f"{root}: LibriSpeech test-clean folder not found (needed to resolve {path.name})")
    items = []
    for n, line in textio.read_lines(path, error=EvalError):
        cols = line.rstrip("\n").split("\t")
        if len(cols) != 6:
            raise EvalError(f"{path}:{n}: expected 6 tab-separated columns "
                            f"(prompt_id, prompt_dur, prompt_text, target_id, target_dur, target_text), got {len(cols)}")
        p_id, _p_dur, p_txt, t_id, t_dur, t_txt = cols
        try:
            spk, chap, _ = t_id.split("-")
            p_spk, p_chap, _ = p_id.split("-")
            duration = float(t_dur)
            if not math.isfinite(duration) or duration < 0:
                raise ValueError
        except ValueError:
            raise EvalError(f"{path}:{n}: ids must look like SPEAKER-CHAPTER-UTT and durations be numbers") from None
        def wav(s, c, u):
            return str(root / s / c / f"{u}.flac") if root else f"{s}/{c}/{u}.flac"
        items.append(TestItem(id=t_id, prompt_audio=wav(p_spk, p_chap, p_id), prompt_text=p_txt, text=t_txt,
                              target_audio=wav(spk, chap, t_id), speaker=spk, prompt_id=p_id, target_duration=duration))
    if not items:
        raise EvalError(f"{path}: the test list is empty")
    return items


def read_jsonl(path: str | os.PathLike) -> list[TestItem]:
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"{path}: no such test list")
    names = {f.name for f in fields(TestItem)}
    items = []
    for n, row in textio.read_jsonl(path, error=EvalError):
        missing = sorted(f.name for f in fields(TestItem) if f.default is MISSING and f.name not in row)
        if missing:
            raise EvalError(f"{path}:{n}: not a test-list record (missing {', '.join(missing)})")
        try:  # types and ranges checked like any config: a bad value is named with its line
            items.append(from_dict(TestItem, {k: v for k, v in row.items() if k in names}, where=f"{path}:{n}"))
        except ConfigError as exc:
            raise EvalError(str(exc)) from None
    if not items:
        raise EvalError(f"{path}: the test list is empty")
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        raise EvalError(f"{path}: duplicate item ids (each target id names one generated file)")
    return items


def load_test_list(path: str | os.PathLike, librispeech_root: str | os.PathLike | None = None,
                   limit: int | None = None) -> list[TestItem]:
    """A ``.lst`` (LibriSpeech-PC) or ``.jsonl`` (ours) test list, optionally its first ``limit`` items."""
    p = Path(path)
    items = read_librispeech_pc(p, librispeech_root) if p.suffix == ".lst" else read_jsonl(p)
    return items[:limit] if limit else items


def item_audio(items: list[TestItem]) -> list[str]:
    """Every audio file a test list reads (the inputs an eval output must keep clear of)."""
    return [a for it in items for a in (it.prompt_audio, it.target_audio) if a]


def write_test_list(items: list[TestItem], path: str | os.PathLike, overwrite: bool = False,
                    inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write ``items`` as JSON lines; the file may not replace or sit inside its audio or ``inputs``
    (the corpus it was built from)."""
    path = guard_output(path, [*inputs, *item_audio(items)], overwrite=overwrite, kind="file", what="test list",
                        command=TESTLIST_COMMAND)
    check_test_list_name(path)
    atomic_write_text(path, "".join(json.dumps(asdict(it), ensure_ascii=False) + "\n" for it in items))
    OutputManifest.of(path.parent).add(TESTLIST_COMMAND, path)  # so --overwrite may replace it, and nothing else
    return path


TESTLIST_COMMAND = "eval testlist"  # the command name in output manifests


def check_test_list_name(path: str | os.PathLike) -> None:
    """A test list is written as JSON lines, and :func:`load_test_list` reads a file by its extension
    (``.lst`` as LibriSpeech-PC): any name but ``.jsonl`` would not read back as written."""
    if Path(path).suffix.lower() != ".jsonl":
        raise EvalError(f"{path}: a test list is written as JSON lines; give it a .jsonl name")


def build_test_list(
    corpus_dir: str | os.PathLike,
    num_items: int | None = None,
    seed: int = 0,
    min_duration: float = 0.0,
    max_duration: float = float("inf"),
    split: str = "test",
    allow_seen_speakers: bool = False,
) -> list[TestItem]:
    """Pair each target utterance with a prompt: another utterance of the same speaker.

    Targets outside ``[min_duration, max_duration]`` are skipped; speakers that also occur in the
    train split are dropped unless ``allow_seen_speakers``. With ``num_items`` the pairs are taken
    round-robin over speakers so no speaker dominates. Deterministic for a given ``seed``. Each
    item records ``split``, so a score says which split it read (``dev`` to tune, ``test`` to report).
    """
    ds = load_corpus(corpus_dir)
    if split not in ds:
        raise EvalError(f"{corpus_dir}: corpus has no {split!r} split (has {sorted(ds)})")
    test = ds[split]  # load_corpus has checked the contract's columns
    seen = set(ds["train"]["speaker"]) if "train" in ds and not allow_seen_speakers else set()
    by_spk: dict[str, list[dict]] = defaultdict(list)
    for uid, audio, text, spk, dur in zip(test["id"], test["audio"], test["text"], test["speaker"], test["duration"]):
        if spk in seen:
            continue
        by_spk[str(spk)].append({"id": uid, "audio": audio, "text": text, "duration": dur})
    rng = random.Random(seed)
    per_speaker: dict[str, list[TestItem]] = {}
    for spk in sorted(by_spk):
        utts = by_spk[spk]
        if len(utts) < 2:
            continue
        pairs = []
        for j, tgt in enumerate(utts):
            dur = tgt["duration"]
            if dur is not None and not (min_duration <= dur <= max_duration):
                continue
            others = [u for k, u in enumerate(utts) if k != j]
            prm = others[rng.randrange(len(others))]
            pairs.append(TestItem(id=str(tgt["id"]), prompt_audio=str(prm["audio"]), prompt_text=prm["text"], text=tgt["text"],
                                  target_audio=str(tgt["audio"]), speaker=spk, prompt_id=str(prm["id"]),
                                  target_duration=None if dur is None else float(dur), split=split))
        rng.shuffle(pairs)
        if pairs:
            per_speaker[spk] = pairs
    items: list[TestItem] = []
    queues = [per_speaker[s] for s in sorted(per_speaker)]
    while any(queues) and (num_items is None or len(items) < num_items):
        for q in queues:
            if q and (num_items is None or len(items) < num_items):
                items.append(q.pop(0))
    if not items:
        why = " (every test speaker also occurs in train; pass allow_seen_speakers=True)" if seen and not by_spk else ""
        raise EvalError(f"{corpus_dir}: no prompt/target pairs could be built from split {split!r}{why}: "
                        "need speakers with at least two utterances within the duration range")
    return items
