"""Which models the page offers, and the loaded models it reuses across requests.

Model dirs are recognised by their ``config.json`` (``model_kind``), not by folder names: a run
dir, a copied export or an imported release all look the same there. The search does not enter a
model dir, so the VAE every TTS export carries in its ``vae/`` folder is not offered twice (the VAE
run's own exports are), and it skips the large folders a runs tree holds (corpora, latents) by
never reading anything but ``config.json`` files.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Hashable

from svae_tts.checkpoint import CONFIG_NAME, TTS_KIND, VAE_KIND, kind_name
from svae_tts.errors import SvaeError
from svae_tts.model_kinds import Found, mismatch_message
from svae_tts.textio import read_json

log = logging.getLogger(__name__)
_STEP = re.compile(r"step_(\d+)$")


@dataclass(frozen=True)
class FoundModel:
    label: str  # the dir relative to the runs folder, what the drop-down shows
    path: str


@dataclass
class FoundModels:
    tts: list[FoundModel] = field(default_factory=list)
    vae: list[FoundModel] = field(default_factory=list)


def model_kind(directory: str | os.PathLike) -> str | None:
    """``model_kind`` from a dir's ``config.json``, or None when it is not one of our model dirs
    (no file, unreadable JSON, a Hugging Face config such as the demo's teacher)."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        return None
    try:
        kind = read_json(path, dict).get("model_kind")
    except SvaeError:
        log.warning("%s: unreadable, skipped", path)
        return None
    return kind if kind in (TTS_KIND, VAE_KIND) else None


def _sort_key(path: Path) -> tuple:
    """Run by run, then by training step as a number (``step_900`` before ``step_1000``)."""
    m = _STEP.search(path.name)
    return (str(path.parent), int(m.group(1)) if m else -1, path.name)


def find_models(runs: str | os.PathLike | None) -> FoundModels:
    """Every TTS and VAE model dir under ``runs`` (exports sit in ``RUN/exports/step_*``), in run
    then step order. A missing folder finds nothing: the page then says how to get a model."""
    found = FoundModels()
    if runs is None or not Path(runs).is_dir():
        return found
    root = Path(runs)
    hits: list[tuple[Path, str]] = []
    for here, dirs, _files in os.walk(root):
        kind = model_kind(here)
        if kind is not None:
            hits.append((Path(here), kind))
            dirs.clear()  # a model dir's own folders (the VAE a TTS export carries) are not offered
        else:
            dirs.sort()
    for path, kind in sorted(hits, key=lambda h: _sort_key(h[0])):
        label = path.relative_to(root).as_posix() if path != root else path.name
        (found.tts if kind == TTS_KIND else found.vae).append(FoundModel(label, str(path)))
    return found


def add_given(models: list[FoundModel], given: str | None) -> tuple[list[FoundModel], str | None]:
    """The choices with a model named on the command line first (when not already found), and
    which one the page starts on: the given one, else the newest found (the last)."""
    if not given:
        return models, (models[-1].path if models else None)
    same = [m for m in models if Path(m.path).resolve() == Path(given).expanduser().resolve()]
    if same:
        return models, same[0].path
    return [FoundModel(given, given), *models], given


def canonical(ref: str) -> str:
    """One name per model: an existing dir's resolved path (``runs/a/`` and ``./runs/a`` are one),
    else ``ref`` as given (a hub id, or a name no file system takes: too long, a NUL byte)."""
    try:
        path = Path(ref).expanduser()
        return str(path.resolve()) if path.exists() else ref
    except (OSError, ValueError, RuntimeError):  # RuntimeError: ``~nosuchuser`` or a symlink loop
        return ref


@dataclass(frozen=True)
class Offered:
    """The models a page lets its visitors run when it does not let them name any (a page others
    can reach): those found under ``--runs`` and those given on the command line."""

    tts: frozenset[str]
    vae: frozenset[str]

    @classmethod
    def of(cls, tts: list[FoundModel], vae: list[FoundModel]) -> "Offered":
        return cls(frozenset(canonical(m.path) for m in tts), frozenset(canonical(m.path) for m in vae))

    def allows(self, kind: str, ref: str) -> bool:
        return canonical(ref) in (self.tts if kind == TTS_KIND else self.vae)

    def refusal(self, kind: str, ref: str) -> str | None:
        """Why a request may not load ``ref`` as ``kind``: None when it may; the loaders' own kind
        message (:func:`svae_tts.model_kinds.mismatch_message`) when the page offers it as the other
        kind (a TTS model chosen in the VAE tab), else that the page does not offer it."""
        if self.allows(kind, ref):
            return None
        other = VAE_KIND if kind == TTS_KIND else TTS_KIND
        if self.allows(other, ref):
            return mismatch_message(ref, Found(other), kind_name(kind))
        name = ref if len(ref) <= 200 else ref[:200] + "..."
        return (f"model {name!r} is not offered by this page: choose one from the list (the server loads "
                f"other model dirs or hub ids only when started with --allow-any-model)")


class _Entry:
    """One cache slot: ``loading`` is held while its model loads, ``use`` by a request using it."""

    def __init__(self):
        self.loading = threading.Lock()
        self.use = threading.Lock()
        self.value: object = None
        self.loaded = False


class ModelCache:
    """Loaded models keyed by (kind, path, device), the least recently used dropped beyond ``size``.

    Loading a model takes seconds (a VAE decoder, a DiT; minutes for a hub download), a request
    milliseconds to seconds, so a page that loaded per click would be mostly loading. The cache's
    own lock is held only to find or add a key's entry; the load runs under that entry's lock, so
    two requests for one model load it once while requests for other models go on meanwhile. Each
    entry also has a lock held while a request uses it: ``Synthesizer.last_seed`` and the models'
    buffers are per-object state, and Gradio runs the tabs' events in parallel threads."""

    def __init__(self, size: int = 4):
        self.size = size
        self._items: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], object]) -> tuple[object, threading.Lock]:
        """The cached object for ``key`` and its lock, loading it (once, even when asked twice at
        the same time) on a miss. A load that fails is not cached, so a fixed file loads later;
        requests that were waiting for it then try again themselves."""
        while True:
            with self._lock:
                entry = self._items.get(key)
                if entry is None:
                    entry = self._items[key] = _Entry()
                self._items.move_to_end(key)
            with entry.loading:
                if entry.loaded:
                    return entry.value, entry.use
                with self._lock:
                    dropped = self._items.get(key) is not entry  # its load failed while this one waited
                if dropped:
                    continue
                try:
                    value = load()
                except BaseException:
                    with self._lock:
                        if self._items.get(key) is entry:
                            del self._items[key]
                    raise
                with self._lock:
                    entry.value, entry.loaded = value, True
                    self._drop_oldest()
                return value, entry.use

    def _drop_oldest(self) -> None:
        """Beyond ``size``, the least recently used loaded models go (ones still loading stay)."""
        loaded = [k for k, e in self._items.items() if e.loaded]
        for k in loaded[:max(0, len(self._items) - self.size)]:
            del self._items[k]

    def __len__(self) -> int:
        with self._lock:
            return sum(e.loaded for e in self._items.values())


__all__ = ["FoundModel", "FoundModels", "ModelCache", "Offered", "add_given", "canonical", "find_models",
           "model_kind"]
