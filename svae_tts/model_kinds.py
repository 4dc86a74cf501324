"""What a folder a user names as a model is, told from its small files; and the one refusal of a mix-up.

Every loader calls :func:`refuse_other_kind` before it loads anything, so a folder of another kind
stops the command with one line naming the folder, what it is and what was wanted
(``runs/ctc: this is a CTC judge, not a VAE``) instead of a weight-key list, a deep config error or
another library's load report. :func:`detect_kind` reads only names and small JSON files, never
weights, and tells apart (first match wins):

- our model dirs, by ``model_kind`` in ``config.json`` (VAE, TTS model, CTC judge;
  :data:`svae_tts.checkpoint.KIND_NAMES` names them); a CTC judge written before it recorded its
  kind still has its ``ctc_info.json``;
- a released Semantic-VAE folder (``metainfo.json``);
- a trainer's run dir (``checkpoints/`` or ``exports/``), with its newest export, the folder the
  user most likely meant;
- CTranslate2 Whisper weights (``model.bin`` + ``config.json``);
- a Hugging Face transformers model dir (``config.json`` with ``model_type`` or ``architectures``;
  a ``*ForCTC`` architecture is a kind of its own);
- a Vocos vocoder dir (``config.yaml`` + weights).

A folder it cannot place (a model dir without ``model_kind`` from before kinds were recorded, an
unreadable ``config.json``, a hub id, a path that does not exist) is let through: the loader then
loads it, or fails, as it always did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from svae_tts.checkpoint import (CONFIG_NAME, CTC_KIND, RELEASE_KIND, RUN_KIND, TRANSFORMERS_CTC_KIND,
                                 TRANSFORMERS_KIND, VOCOS_KIND, WHISPER_CT2_KIND, kind_name)
from svae_tts.errors import CheckpointError, SvaeError
from svae_tts.run_state import CHECKPOINTS_DIR, EXPORTS_DIR, list_exports
from svae_tts.textio import read_json

CTC_INFO_NAME = "ctc_info.json"  # written beside every CTC judge (data_prep.ctc.INFO_FILE)
METAINFO_NAME = "metainfo.json"  # the release format's config (vae.official.METAINFO_NAME)
CT2_WEIGHTS = "model.bin"
VOCOS_CONFIG = "config.yaml"
VOCOS_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Found:
    """What :func:`detect_kind` made of a folder. ``detail``: the transformers model type; for a run
    dir, ``newest_export`` is its newest finished export and ``export_kind`` what that export is."""

    kind: str
    detail: str = ""
    newest_export: Path | None = None
    export_kind: str | None = None

    @property
    def name(self) -> str:
        """``"a CTC judge"``, ``"a Hugging Face transformers model (wavlm)"`` ..."""
        return kind_name(self.kind) + (f" ({self.detail})" if self.detail else "")


def _config(folder: Path) -> dict | None:
    """``config.json`` as a dict, or None when there is none or it is not a readable JSON object
    (the loader reports a damaged file in its own words)."""
    if not (folder / CONFIG_NAME).is_file():
        return None
    try:
        return read_json(folder / CONFIG_NAME, dict, error=CheckpointError)
    except SvaeError:
        return None


def detect_kind(folder: str | os.PathLike) -> Found | None:
    """What ``folder`` is (see the module docstring), or None when it is not a folder or not one
    this can place. Reads no weights."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        return None
    cfg = _config(path)
    if cfg is not None and isinstance(cfg.get("model_kind"), str):
        return Found(cfg["model_kind"])
    if (path / CTC_INFO_NAME).is_file() and cfg is not None:
        return Found(CTC_KIND)  # a judge saved before the kind was recorded
    if (path / METAINFO_NAME).is_file():
        return Found(RELEASE_KIND)
    if cfg is None and ((path / CHECKPOINTS_DIR).is_dir() or (path / EXPORTS_DIR).is_dir()):
        exports = list_exports(path)
        newest = exports[-1][1] if exports else None
        inner = detect_kind(newest) if newest is not None else None
        return Found(RUN_KIND, newest_export=newest, export_kind=inner.kind if inner else None)
    if cfg is not None and (path / CT2_WEIGHTS).is_file():
        return Found(WHISPER_CT2_KIND)
    if cfg is not None and (cfg.get("model_type") or cfg.get("architectures")):
        archs = [a for a in cfg.get("architectures") or [] if isinstance(a, str)]
        ctc = any(a.endswith("ForCTC") for a in archs)
        return Found(TRANSFORMERS_CTC_KIND if ctc else TRANSFORMERS_KIND, str(cfg.get("model_type") or ", ".join(archs)))
    if cfg is None and (path / VOCOS_CONFIG).is_file() and any((path / w).is_file() for w in VOCOS_WEIGHTS):
        return Found(VOCOS_KIND)
    return None


def mismatch_message(ref: str | os.PathLike, found: Found, wanted: str, expected: Iterable[str] = ()) -> str:
    """The one line for ``ref`` being ``found`` where ``wanted`` (a name: ``"a VAE"``) was expected.
    A run dir whose newest export is of an ``expected`` kind points to that export."""
    ref = str(ref)
    if found.kind != RUN_KIND:
        return f"{ref}: this is {found.name}, not {wanted}"
    if found.newest_export is None:
        return (f"{ref}: this is a training run folder, not {wanted}, and it has no export yet "
                f"(its models appear in {Path(ref) / EXPORTS_DIR}/step_* as it trains)")
    export = Path(ref) / EXPORTS_DIR / found.newest_export.name
    if found.export_kind is not None and found.export_kind not in set(expected):
        return f"{ref}: this is a training run folder of {kind_name(found.export_kind)}, not {wanted}"
    return f"{ref}: this is a training run folder, not {wanted}; its newest export is {export} (give that)"


def refuse_other_kind(ref: str | os.PathLike, expected: str | Iterable[str], wanted: str | None = None,
                      error: type[SvaeError] = CheckpointError, hints: Mapping[str, str] | None = None) -> Found | None:
    """Raise ``error`` (one line: :func:`mismatch_message`) when ``ref`` is a local folder of a kind
    not in ``expected``; return what it is (None: not a local folder, or one it cannot place, which
    the loader then loads as before). ``wanted`` names what was expected (default: the first kind's
    name); ``hints`` adds, per kind found, what to do instead (``"; import it first: ..."``). Call
    it before loading anything, so nothing of the wrong folder is read or printed."""
    kinds = (expected,) if isinstance(expected, str) else tuple(expected)
    found = detect_kind(ref)
    if found is None or found.kind in kinds:
        return found
    hint = (hints or {}).get(found.kind)
    raise error(mismatch_message(ref, found, wanted or kind_name(kinds[0]), kinds) + (f"; {hint}" if hint else ""))


__all__ = ["Found", "detect_kind", "mismatch_message", "refuse_other_kind"]
