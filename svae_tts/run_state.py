"""Training checkpoints that can be resumed without running code: the one place both trainers save and load them.

A run dir shared by a colleague or downloaded is untrusted, and a pickle can run any code when it is
loaded. accelerate's ``load_state`` unpickles the objects registered with
``register_for_checkpointing`` (``custom_checkpoint_N.pkl``) with ``weights_only=False``, so this
module never registers any. A checkpoint ``<run_dir>/checkpoints/step_XXXXXXXX/`` holds:

- what only accelerate can save and restore (models as safetensors, optimizers, the fp16 grad
  scaler, the RNG states of every process), loaded with ``weights_only=True``;
- ``trainer_state.json`` + ``trainer_state.safetensors``: the trainer's own stateful objects (step
  counters, LR schedulers, EMA weights), their ``state_dict()`` split into plain JSON values and
  tensors, so reading them needs no unpickler at all.

Before anything is loaded the folder is scanned, and a file that would need full unpickling (any
``custom_checkpoint_*.pkl``; any pickle that does not load with ``weights_only=True``) stops the
resume with a one-line :class:`~svae_tts.errors.CheckpointError` naming it: nothing from the folder
is executed and nothing in the run is changed.

Saving is atomic (built under ``.step_X.tmp``, then swapped in) and keeps the newest ``keep``
checkpoints; :func:`recover_run_dir` tidies what a crash left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import re
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Protocol

import torch
from safetensors import SafetensorError

from svae_tts.checkpoint import load_state_dict, save_state_dict
from svae_tts.errors import CheckpointError, exc_summary
from svae_tts.fileio import atomic_path, atomic_write_json, clean_stale, swap_in_dir
from svae_tts.textio import read_json

log = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
EXPORTS_DIR = "exports"
STATE_JSON = "trainer_state.json"
STATE_TENSORS = "trainer_state.safetensors"
STATE_FORMAT = "svae-tts trainer state"
STATE_VERSION = 1
STEP_RE = re.compile(r"^step_(\d{8})$")
_CUSTOM_PICKLE = re.compile(r"^custom_checkpoint_\d+\.pkl$")
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".bin", ".pt", ".pth", ".ckpt"})  # what torch.load would read


class Stateful(Protocol):
    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> Any: ...


# -- names and listing ------------------------------------------------------------------------------
def step_name(step: int) -> str:
    return f"step_{step:08d}"




def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints, oldest first (temporary and trash dirs of an interrupted save are ignored)."""
    ck = Path(run_dir) / CHECKPOINTS_DIR
    if not ck.is_dir():
        return []
    return sorted((p for p in ck.iterdir() if p.is_dir() and STEP_RE.match(p.name)), key=lambda p: p.name)


def latest_checkpoint(run_dir: str | os.PathLike) -> Optional[Path]:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def export_dir(run_dir: str | os.PathLike, step: int) -> Path:
    return Path(run_dir) / EXPORTS_DIR / step_name(step)


def list_exports(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, export dir)`` of every finished export (one holding ``config.json``), oldest first."""
    exports = Path(run_dir) / EXPORTS_DIR
    if not exports.is_dir():
        return []
    found = [(int(m.group(1)), d) for d in exports.iterdir()
             if (m := STEP_RE.match(d.name)) and d.is_dir() and (d / "config.json").is_file()]
    return sorted(found)


def recover_run_dir(run_dir: str | os.PathLike, accelerator=None) -> None:
    """After a crash: put back checkpoints/exports stranded under a trash name, delete half-written ones.

    Main process only, then a barrier, so every process then sees the same checkpoints."""
    if accelerator is None or accelerator.is_main_process:
        for sub in (CHECKPOINTS_DIR, EXPORTS_DIR):
            for path in clean_stale(Path(run_dir) / sub):
                log.warning("restored %s, left under a temporary name by an interrupted save", path)
    if accelerator is not None:
        accelerator.wait_for_everyone()


# -- saving -----------------------------------------------------------------------------------------
def save_checkpoint(accelerator, run_dir: str | os.PathLike, step: int, objects: Mapping[str, Stateful],
                    keep: int) -> Path:
    """Write ``checkpoints/step_X`` atomically (accelerate state + ``objects``), then keep the newest ``keep``.

    Every process calls it (accelerate writes each process's RNG state); the temporary dir has a
    name all processes can compute, and only the main process swaps it in and rotates.
    """
    ck = Path(run_dir) / CHECKPOINTS_DIR
    final = ck / step_name(step)
    tmp = ck / f".{final.name}.tmp"
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    if accelerator.is_main_process:
        write_trainer_state(tmp, objects)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        swap_in_dir(tmp, final)
        for old in list_checkpoints(run_dir)[:-max(1, keep)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def write_trainer_state(directory: str | os.PathLike, objects: Mapping[str, Stateful]) -> None:
    """``{name: obj.state_dict()}`` as JSON, its tensors in a safetensors file (written atomically)."""
    tensors: dict[str, torch.Tensor] = {}
    body = {name: _encode(obj.state_dict(), name, tensors) for name, obj in objects.items()}
    directory = Path(directory)
    with atomic_path(directory / STATE_TENSORS) as tmp:
        save_state_dict(tensors, tmp)
    atomic_write_json(directory / STATE_JSON, {"format": STATE_FORMAT, "version": STATE_VERSION, "objects": body})


def _encode(value: Any, where: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON values as they are; tensors replaced by ``{"__tensor__": key}``; tuples kept as tuples."""
    if torch.is_tensor(value):
        if where in tensors:
            raise ValueError(f"trainer state: two tensors named {where!r}")
        tensors[where] = value
        return {"__tensor__": where}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{where}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{where}/{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, Mapping) and all(isinstance(k, str) and not k.startswith("__") for k in value):
        return {k: _encode(v, f"{where}/{k}", tensors) for k, v in value.items()}
    raise TypeError(f"trainer state {where}: cannot store a {type(value).__name__} as JSON or a tensor")


def _decode(value: Any, tensors: Mapping[str, torch.Tensor], source: Path) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors, source) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"__tensor__"}:
        key = value["__tensor__"]
        if not isinstance(key, str) or key not in tensors:
            raise CheckpointError(f"{source}: names tensor {key!r}, which {STATE_TENSORS} does not hold")
        return tensors[key]
    if set(value) == {"__tuple__"} and isinstance(value["__tuple__"], list):
        return tuple(_decode(v, tensors, source) for v in value["__tuple__"])
    return {k: _decode(v, tensors, source) for k, v in value.items()}


# -- loading ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _accelerate_safe_globals() -> Iterator[None]:
    """The numpy types accelerate's RNG-state file holds: what accelerate itself allows with weights_only=True."""
    try:
        from accelerate.utils.other import TORCH_SAFE_GLOBALS
    except ImportError:  # pragma: no cover - another accelerate layout: torch's own allowlist only
        TORCH_SAFE_GLOBALS = []
    with torch.serialization.safe_globals(list(TORCH_SAFE_GLOBALS)):
        yield


def _weights_only_reason(exc: BaseException) -> str:
    """torch's refusal in one line: the global it would have had to import, without the advice to disable the check."""
    text = str(exc)
    m = re.search(r"WeightsUnpickler error: ([^\n]*?)(?: Please use|\n|$)", text)
    if m:
        return m.group(1).strip().rstrip(".")
    return exc_summary(exc, 160)


def check_plain_data(path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointError` unless ``path`` loads with ``torch.load(weights_only=True)``.

    Tensor data is memory-mapped, so checking a multi-GB optimizer state reads little more than its pickle.
    """
    path = Path(path)
    with _accelerate_safe_globals():
        try:
            try:
                torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            except pickle.UnpicklingError:
                raise
            except Exception:  # noqa: BLE001 - mmap needs torch's zip format: read a legacy file whole
                torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure means "not plain data"
            raise CheckpointError(f"{path}: needs full unpickling, which can run code "
                                  f"({_weights_only_reason(exc)}); refusing to load it") from None


def scan_checkpoint(path: str | os.PathLike) -> Path:
    """Refuse a checkpoint folder holding any file that would need full unpickling; run nothing from it."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a checkpoint directory")
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        if _CUSTOM_PICKLE.match(f.name):
            raise CheckpointError(f"{f}: a pickled object accelerate would load with weights_only=False, which can run "
                                  "code; refusing it (this toolkit no longer writes such files: a checkpoint from an "
                                  "earlier version cannot be resumed)")
        if f.suffix.lower() in PICKLE_SUFFIXES:
            check_plain_data(f)
    for name in (STATE_JSON, STATE_TENSORS):
        if not (path / name).is_file():
            raise CheckpointError(f"{path}: not a checkpoint of this toolkit (missing {name})")
    return path


def read_trainer_state(directory: str | os.PathLike) -> dict[str, Any]:
    """``{name: state_dict}`` from :data:`STATE_JSON` + :data:`STATE_TENSORS` (no unpickling)."""
    directory = Path(directory)
    src = directory / STATE_JSON
    doc = read_json(src, None, error=CheckpointError)  # the shape is checked below, in this file's own words
    if not (isinstance(doc, dict) and doc.get("format") == STATE_FORMAT and isinstance(doc.get("objects"), dict)):
        raise CheckpointError(f"{src}: not a trainer state file (no \"format\": \"{STATE_FORMAT}\" with \"objects\")")
    if doc.get("version") != STATE_VERSION:
        raise CheckpointError(f"{src}: version {doc.get('version')!r}; this toolkit reads version {STATE_VERSION}")
    tensors = load_state_dict(directory / STATE_TENSORS)
    try:
        return {name: _decode(value, tensors, src) for name, value in doc["objects"].items()}
    except RecursionError:
        raise CheckpointError(f"{src}: nested too deeply") from None


def load_checkpoint(accelerator, path: str | os.PathLike, objects: Mapping[str, Stateful]) -> Path:
    """Scan ``path``, restore accelerate's part with ``weights_only=True``, then ``objects`` from JSON/safetensors."""
    path = scan_checkpoint(path)
    states = read_trainer_state(path)
    missing = [name for name in objects if name not in states]
    if missing:
        raise CheckpointError(f"{path / STATE_JSON}: holds no state for {', '.join(missing)}")
    if not (path / f"random_states_{accelerator.process_index}.pkl").is_file():  # accelerate would only log it
        log.warning("%s: no RNG state for process %d (saved with fewer processes?): the resumed run will not "
                    "repeat an uninterrupted one exactly", path, accelerator.process_index)
    try:
        accelerator.load_state(str(path), load_kwargs={"weights_only": True})
    except torch.OutOfMemoryError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, pickle.UnpicklingError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: cannot be restored into this run ({exc_summary(exc, 200)})") from None
    for name, obj in objects.items():
        try:
            obj.load_state_dict(states[name])
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"{path / STATE_JSON}: state of {name!r} does not fit this run "
                                  f"({exc_summary(exc, 200)})") from None
    return path
