"""Atomic writes: a crash mid-write never leaves a half-written file or directory in place.

Files are written to a temporary sibling and renamed (``os.replace`` is atomic on POSIX within a
file system). Directories are built under a temporary sibling name and swapped in, the previous
version being removed only after the new one is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

from svae_tts.errors import OutputExistsError


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse to overwrite an existing output unless asked to."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists (pass --overwrite / overwrite=True to replace it)")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path next to ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory; when the block succeeds it replaces ``path``.

    The swap is two renames (old -> trash, tmp -> path) so at every instant either the old or the
    new complete directory sits at ``path`` (or, between the renames, under the trash name, from
    which :func:`recover_dir` restores it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        swap_in_dir(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def swap_in_dir(tmp: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Move the complete directory ``tmp`` to ``path``, replacing what is there, never leaving ``path`` half-made.

    Two renames (old -> ``.{name}.old-XXXXXXXX``, tmp -> path): a crash between them leaves the old
    version under the trash name, which :func:`recover_dir` / :func:`clean_stale` put back.
    """
    tmp, path = Path(tmp), Path(path)
    trash = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
    if path.exists():
        os.replace(path, trash)
    os.replace(tmp, path)
    if trash.exists():
        shutil.rmtree(trash, ignore_errors=True)
    return path


def recover_dir(path: str | os.PathLike) -> None:
    """Put back a directory left under its trash name by a crash between the two renames."""
    path = Path(path)
    if path.exists():
        return
    olds = sorted(path.parent.glob(f".{path.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds:
        os.replace(olds[-1], path)


# ``.{name}.tmp-XXXXXXXX`` / ``.{name}.old-XXXXXXXX`` (atomic_dir, swap_in_dir), ``.{name}.tmp`` (a temporary
# with a name every process of a distributed run can compute), ``.{name}.XXXX.tmp`` (atomic_path), and
# ``.tmp-{name}`` (checkpoints of earlier versions).
_STALE = re.compile(r"^\.(?:(?P<name>.+)\.(?P<kind>tmp|old)(?:-[0-9a-f]{8})?|tmp-(?P<legacy>.+))$")


def clean_stale(parent: str | os.PathLike) -> list[Path]:
    """Tidy what a crash left in ``parent``: restore directories stranded under their trash name
    (:func:`recover_dir`), then delete every leftover temporary and trash entry; returns what was restored.

    Only call it on a folder this program writes with the functions above (a run's ``checkpoints/``,
    ``exports/``) and while nothing else is writing there: such names are never the user's.
    """
    parent = Path(parent)
    if not parent.is_dir():
        return []
    stale = [(p, _STALE.match(p.name)) for p in sorted(parent.iterdir())]
    stale = [(p, m) for p, m in stale if m]
    restored = []
    for name in sorted({m["name"] for _, m in stale if m["kind"] == "old"}):
        if not (parent / name).exists():
            recover_dir(parent / name)
            restored.append(parent / name)
    for p, _ in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()
    return restored
