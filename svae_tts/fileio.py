"""Output paths and atomic writes: nothing the user owns is lost, a crash never leaves half a file.

:func:`guard_output` is the one check every command makes on each of its outputs before doing any
work: an output never overlaps an input (either way round, symlinks resolved), a folder is not a
file, the place is writable, and an existing output is only replaced when asked (and only when it
is an earlier output of the same kind). Every refusal is one :class:`OutputPathError` /
:class:`OutputExistsError` line naming the path.

What is "an earlier output" is told by the markers a command's folder always holds (a corpus'
``corpus_info.json``, a run dir's ``config.yaml``) or, for every other command, by the folder's
:class:`OutputManifest` (``.svae-tts-output.json``: the command whose folder it is, and which files
which command wrote), so ``--overwrite`` replaces only files the command itself wrote. A command
that could do nothing takes back the folder it made (:func:`make_output_dir`, :func:`remove_created_dir`).

Files are written to a temporary sibling and renamed (``os.replace`` is atomic on POSIX within a
file system), with the permissions a plain ``open()`` would give (``0o666 & ~umask``). Directories
are built under a temporary sibling name and swapped in, the previous version being removed only
after the new one is complete; all they hold gets the same permissions (``0o777 & ~umask`` for
folders), whichever library wrote it.
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
from typing import Any, Iterable, Iterator, Literal, Sequence

from svae_tts.errors import OutputExistsError, SvaeError


class OutputPathError(SvaeError):
    """An output path that cannot be used: it overlaps an input, is a file where a folder is wanted
    (or the reverse), or cannot be written."""


PathLike = str | os.PathLike

# what a trainer leaves in its run dir: only such a folder is resumed in or started afresh over
RUN_DIR_MARKERS = ("config.yaml", "checkpoints", "exports", "tb")


def _resolve(path: PathLike) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise OutputPathError(f"{path}: cannot resolve the path ({exc.strerror or exc})") from None


def _inside(child: Path, parent: Path) -> bool:
    """``child`` is ``parent`` or below it (both resolved)."""
    return child == parent or parent in child.parents


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _existing_inputs(inputs: Iterable[PathLike | None]) -> Iterator[tuple[str, Path]]:
    """``(as given, resolved)`` for every input that exists on disk. Hub ids, presets and ``None``
    are skipped: they are not files the command could overwrite. Parent folders are resolved once
    (a corpus lists many files per folder)."""
    parents: dict[str, str] = {}
    for given in inputs:
        if given is None or str(given) == "":
            continue
        path = os.path.abspath(os.path.expanduser(str(given)))
        head, name = os.path.split(path)
        real_head = parents.get(head)
        if real_head is None:
            real_head = parents[head] = os.path.realpath(head)
        full = os.path.join(real_head, name)
        if os.path.islink(full):
            full = os.path.realpath(full)
        if os.path.lexists(full):
            yield str(given), Path(full)


def _check_overlap(out: Path, shown: str, inputs: Iterable[PathLike | None]) -> None:
    out_exists = out.exists()
    for given, inp in _existing_inputs(inputs):
        if out == inp:
            raise OutputPathError(f"{shown}: is also an input of this command; write the output somewhere else")
        if _inside(out, inp):
            raise OutputPathError(f"{shown}: is inside the input {given}; write the output outside it")
        if out_exists and _inside(inp, out):
            raise OutputPathError(f"{shown}: holds the input {given}; write the output to a folder "
                                  "that holds none of the inputs")


def _check_kind(out: Path, shown: str, kind: str) -> None:
    if out.exists():
        if kind == "dir" and not out.is_dir():
            raise OutputPathError(f"{shown}: is an existing file; a folder is needed here")
        if kind == "file" and out.is_dir():
            raise OutputPathError(f"{shown}: is an existing folder; a file path is needed here")
        return
    anchor = _nearest_existing(out.parent)
    if not anchor.is_dir():
        raise OutputPathError(f"{shown}: cannot be created, {anchor} is a file, not a folder")


def _check_writable(out: Path, shown: str) -> None:
    """The folders the command will create files in must take one: the nearest existing folder
    above ``out`` (temporary siblings, the atomic swap) and ``out`` itself when it is a folder.
    A real probe, because permission bits miss read-only mounts, ACLs and root on /proc."""
    anchors = [_nearest_existing(out.parent)] + ([out] if out.is_dir() else [])
    for anchor in anchors:
        try:
            with tempfile.TemporaryFile(dir=anchor):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise OutputPathError(f"{shown}: cannot write in {anchor} ({reason})") from None


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and next(path.iterdir(), None) is None


def _check_recognised(folder: Path, shown: str, command: str, markers: Sequence[str]) -> None:
    """An existing non-empty ``folder`` is an earlier output of ``command`` (its manifest says so,
    or it holds one of ``markers``), or :class:`OutputExistsError`."""
    if any(next(folder.glob(m), None) for m in markers):
        return
    owner = (OutputManifest.read(folder) or OutputManifest(folder)).folder_command
    if owner is None:
        raise OutputExistsError(f"{shown}: holds files `svae-tts {command}` did not write (no {MANIFEST_FILE} of "
                                "it); give a new or empty folder")
    if owner != command:
        raise OutputExistsError(f"{shown}: is an output of `svae-tts {owner}`, not of `svae-tts {command}`; give "
                                "a new or empty folder")


def _check_own_file(path: Path, shown: str, command: str) -> None:
    """An existing file may be replaced only when ``command`` wrote it (its folder's manifest says so)."""
    if (OutputManifest.read(path.parent) or OutputManifest(path.parent)).written_by(path) != command:
        raise OutputExistsError(f"{shown}: exists and was not written by `svae-tts {command}`; --overwrite replaces "
                                "only files it wrote: move it away or give another path")


def guard_output(
    out: PathLike,
    inputs: Iterable[PathLike | None] = (),
    *,
    overwrite: bool = False,
    kind: Literal["dir", "file", "any"] = "dir",
    exists_ok: bool = False,
    markers: Sequence[str] = (),
    what: str = "output",
    command: str | None = None,
) -> Path:
    """Check an output path before any work; returns it as a :class:`Path` (as given, not resolved).

    Refused, whatever ``overwrite`` says (:class:`OutputPathError`):

    - ``out`` equal to an input, inside an input folder, or an existing ``out`` holding an input
      (paths compared after resolving symlinks; inputs that do not exist, such as hub ids, are
      skipped): replacing or filling the output must never touch what the command reads;
    - ``out`` an existing file where ``kind="dir"`` is wanted, or an existing folder where
      ``kind="file"`` is; a file among its parents;
    - a place where no file can be created (the nearest existing folder is probed).

    An existing output (an empty folder counts as absent) is refused with
    :class:`OutputExistsError` unless ``overwrite`` (it will be replaced) or ``exists_ok`` (the
    command resumes or reuses it). When ``markers`` (names or glob patterns) are given, an existing
    non-empty folder holding none of them is not an earlier ``what`` of this command and is refused
    even then: ``overwrite`` replaces earlier outputs, never an unrelated folder. ``command``
    (``"vae reconstruct"``) recognises an earlier output by its :class:`OutputManifest`: an existing
    non-empty folder is then used only when its manifest names ``command`` (or it holds one of
    ``markers``), whatever ``overwrite`` and ``exists_ok`` say, and an existing file (``kind="file"``)
    is replaced only when the manifest beside it says ``command`` wrote it; anything else is refused
    here, before any work.
    """
    if out is None or str(out).strip() == "":
        raise OutputPathError(f"{what}: empty output path")
    given = Path(out).expanduser()
    shown = str(out)
    resolved = _resolve(given)
    _check_overlap(resolved, shown, inputs)
    _check_kind(resolved, shown, kind)
    if resolved.exists() and not _is_empty_dir(resolved):
        # someone else's folder or file first: --overwrite would not help, so the message must not suggest it
        if command is not None and resolved.is_dir():
            _check_recognised(resolved, shown, command, markers)
        elif command is not None:
            _check_own_file(resolved, shown, command)
        if not overwrite and not exists_ok:
            raise OutputExistsError(f"{shown}: already exists (pass --overwrite / overwrite=True to replace it)")
        if markers and resolved.is_dir() and not any(next(resolved.glob(m), None) for m in markers):
            raise OutputExistsError(f"{shown}: exists and is not an earlier {what} (it holds none of "
                                    f"{', '.join(markers)}); give a new or empty folder")
    _check_writable(resolved, shown)
    return given


def check_writable(path: PathLike, overwrite: bool, kind: Literal["dir", "file", "any"] = "any") -> Path:
    """:func:`guard_output` for an output with no inputs to compare: refuse to overwrite an
    existing output unless asked to, and refuse a path that cannot be written."""
    return guard_output(path, (), overwrite=overwrite, kind=kind)


# -- what a command wrote: the manifest of an output folder ------------------------------------------
MANIFEST_FILE = ".svae-tts-output.json"


class OutputManifest:
    """Which files of a folder this toolkit wrote, and by which command: ``.svae-tts-output.json``.

    Why: an output folder is written only when it is new, empty or an earlier output of the same
    command, and ``--overwrite`` may replace only what the command itself wrote. A file name alone
    cannot tell a reconstruction from a user's file of the same name; the manifest can.

    ``folder_command`` is the command whose output folder this is (``None`` in a folder that only
    received single named files, such as ``synthesize -o out.wav``); ``files`` maps each file the
    toolkit wrote (relative to the folder, with ``/``, so a moved folder keeps its manifest) to the
    command that wrote it. It is saved after each file (:meth:`add`), so an interrupted run still
    owns what it finished.
    """

    def __init__(self, folder: PathLike, folder_command: str | None = None, files: dict[str, str] | None = None):
        self.folder = Path(folder)
        self.folder_command = folder_command
        self.files: dict[str, str] = dict(files or {})

    @classmethod
    def read(cls, folder: PathLike) -> "OutputManifest | None":
        """The manifest of ``folder``; ``None`` when it has none, or one that is damaged (then the
        folder is not recognisably any command's output and none of its files is the toolkit's)."""
        try:
            data = json.loads((Path(folder) / MANIFEST_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        owner, files = data.get("folder_command"), data.get("files")
        if (owner is not None and not isinstance(owner, str)) or not isinstance(files, dict) \
                or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            return None
        return cls(folder, owner, files)

    @classmethod
    def of(cls, folder: PathLike) -> "OutputManifest":
        """The manifest of ``folder``, or a new empty one (saved on the first :meth:`add`)."""
        return cls.read(folder) or cls(folder)

    def _key(self, path: PathLike) -> str:
        return Path(os.path.relpath(Path(path), self.folder)).as_posix()

    def written_by(self, path: PathLike) -> str | None:
        """The command that wrote ``path`` (a path in the folder), ``None`` if it is not the toolkit's."""
        return self.files.get(self._key(path))

    def existing(self, command: str, targets: Iterable[PathLike]) -> set[Path]:
        """The ``targets`` (paths in the folder) already present, all written by ``command``: the
        command keeps them, or replaces them when asked. A present target written by anyone else
        (the user, another command) is refused (:class:`OutputExistsError`, naming it), with or
        without ``--overwrite``, before any work."""
        present = set()
        for target in map(Path, targets):
            if not os.path.lexists(target):
                continue
            if self.written_by(target) != command:
                raise OutputExistsError(f"{target}: exists and was not written by `svae-tts {command}` (not in "
                                        f"{self.folder / MANIFEST_FILE}); move it away or give another path")
            present.add(target)
        return present

    def claim(self, command: str) -> None:
        """Mark the folder as ``command``'s output folder (saved with the next :meth:`add`)."""
        self.folder_command = command

    def add(self, command: str, *paths: PathLike) -> None:
        """Record ``paths`` as written by ``command``, and save the manifest."""
        self.files.update((self._key(p), command) for p in paths)
        atomic_write_json(self.folder / MANIFEST_FILE, {"folder_command": self.folder_command,
                                                        "files": dict(sorted(self.files.items()))})


def claim_report_dir(out_dir: PathLike, command: str, names: Iterable[str], overwrite: bool = False) -> OutputManifest:
    """The per-file check of a command that writes the files ``names`` (relative to ``out_dir``) into a
    folder :func:`guard_output` accepted for ``command``, before any work: files an earlier run wrote
    are replaced only with ``overwrite`` (else :class:`OutputExistsError`), a file by one of those
    names that someone else wrote never (:meth:`OutputManifest.existing`). Returns the folder's
    manifest, claimed for ``command``, for the command to :meth:`~OutputManifest.add` what it writes."""
    out_dir = Path(out_dir)
    manifest = OutputManifest.of(out_dir)
    present = manifest.existing(command, [out_dir / n for n in names])
    if present and not overwrite:
        raise OutputExistsError(f"{out_dir}: already exists, holding an earlier `svae-tts {command}` "
                                f"({min(present).relative_to(out_dir)}); pass --overwrite to replace it")
    manifest.claim(command)
    return manifest


def make_output_dir(path: PathLike) -> Path | None:
    """``mkdir -p path``; returns the topmost folder this created (``None`` when ``path`` existed),
    for :func:`remove_created_dir` to take back should the command write nothing into it."""
    path = Path(path)
    top = None
    probe = path
    while not probe.exists() and probe != probe.parent:
        top, probe = probe, probe.parent
    path.mkdir(parents=True, exist_ok=True)
    return top


def remove_created_dir(top: PathLike | None) -> None:
    """Remove ``top`` (from :func:`make_output_dir`) and the empty folders below it: a command that
    could do nothing leaves no folder behind. A folder holding only its :data:`MANIFEST_FILE` counts
    as empty; one holding any other file is left whole (no other file is ever deleted here)."""
    if top is None or not Path(top).is_dir():
        return
    for root, _dirs, _files in os.walk(top, topdown=False):  # the deepest first, so emptied parents go too
        with contextlib.suppress(OSError):
            if os.listdir(root) == [MANIFEST_FILE]:
                os.unlink(os.path.join(root, MANIFEST_FILE))
            os.rmdir(root)  # fails, and is kept, when anything is left in it


def _umask() -> int:
    """The process umask, read without changing it where the OS tells (Linux: /proc/self/status).

    Elsewhere it is set and restored (the only portable way to read it). That changes the umask of
    the whole process for an instant, so a file another thread creates in that instant gets the
    temporary mask: 0o022, never 0, so such a file is at worst readable, never world-writable."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def give_umask_modes(path: PathLike) -> None:
    """Give ``path`` (a file, or a folder and everything in it; symlinks are left alone) the modes a
    plain ``open()`` / ``mkdir()`` gives: ``0o666 & ~umask`` and ``0o777 & ~umask``.

    Why: the writers this toolkit calls do not. ``mkstemp`` makes 0600 files, and safetensors (so
    also accelerate's checkpoints and transformers' ``save_pretrained``) renames its own private
    0600 temporary into place, so weights sat 0600 beside a 0644 ``config.json`` and a model dir
    copied to a shared folder was unreadable to colleagues. Outputs are shared as the umask says."""
    mask = _umask()  # read once for the whole tree
    path = Path(path)
    if path.is_symlink():
        return
    if not path.is_dir():
        os.chmod(path, 0o666 & ~mask)
        return
    os.chmod(path, 0o777 & ~mask)
    for root, dirs, files in os.walk(path):
        for names, mode in ((dirs, 0o777), (files, 0o666)):
            for name in names:
                if not os.path.islink(entry := os.path.join(root, name)):
                    os.chmod(entry, mode & ~mask)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary file path next to ``path``; rename it onto ``path`` if the block succeeds.

    The file gets the mode a plain ``open(path, "w")`` would give (:func:`give_umask_modes`), set
    after the block, since a writer may have replaced the temporary file with one of its own."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        give_umask_modes(tmp_path)
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
    version under the trash name, which :func:`recover_dir` / :func:`clean_stale` put back. What
    ``tmp`` holds gets the umask's modes first (:func:`give_umask_modes`), whoever wrote it.
    """
    tmp, path = Path(tmp), Path(path)
    give_umask_modes(tmp)
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
