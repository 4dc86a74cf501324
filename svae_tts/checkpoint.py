"""Model directories: ``config.json`` + ``model.safetensors``, the Hugging Face convention.

``save_pretrained(dir)`` writes both atomically (a crash leaves the previous directory intact);
``from_pretrained(dir_or_hub_id)`` takes a local directory or a hub id (:mod:`svae_tts.hub`).
Foreign PyTorch pickles are only ever read with ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar, Mapping, Type, TypeVar

import torch
from safetensors.torch import load_file, save_file

from svae_tts.config import from_dict, to_dict
from svae_tts.errors import CheckpointError, exc_summary
from svae_tts.fileio import atomic_dir, atomic_write_json, guard_output
from svae_tts.model_card import write_model_card
from svae_tts.hub import model_folder
from svae_tts.textio import read_json

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1

M = TypeVar("M", bound="PretrainedMixin")

# What a folder a user names can be, and what an error calls it (svae_tts.model_kinds tells them apart).
# The first three are what our own model dirs record as ``model_kind`` in their config.json.
VAE_KIND = "svae_tts.vae"
TTS_KIND = "svae_tts.tts"
CTC_KIND = "svae_tts.ctc"  # the small Wav2Vec2ForCTC of ``svae-tts data train-ctc``: ASR judge and offline teacher
RELEASE_KIND = "semantic_vae.release"  # a released Semantic-VAE folder (metainfo.json + dac/*.pth)
RUN_KIND = "svae_tts.run"  # a trainer's run dir (checkpoints/, exports/step_*)
TRANSFORMERS_KIND = "transformers"  # a Hugging Face transformers model dir (config.json with model_type)
TRANSFORMERS_CTC_KIND = "transformers.ctc"  # the same, with a *ForCTC architecture
WHISPER_CT2_KIND = "ctranslate2.whisper"  # CTranslate2 Whisper weights (model.bin), what faster-whisper loads
VOCOS_KIND = "vocos"  # a Vocos vocoder dir (config.yaml + weights)
KIND_NAMES = {
    VAE_KIND: "a VAE",
    TTS_KIND: "a TTS model",
    CTC_KIND: "a CTC judge",
    RELEASE_KIND: "a released Semantic-VAE checkpoint",
    RUN_KIND: "a training run folder",
    TRANSFORMERS_KIND: "a Hugging Face transformers model",
    TRANSFORMERS_CTC_KIND: "a transformers CTC model",
    WHISPER_CT2_KIND: "a CTranslate2 Whisper model",
    VOCOS_KIND: "a Vocos vocoder",
}


def kind_name(kind: str) -> str:
    """What an error calls a kind: ``"a VAE"``; a ``model_kind`` this version does not know is quoted."""
    return KIND_NAMES.get(kind, f"a {kind!r} model")


def resolve_model_dir(ref: str | os.PathLike, files: tuple[str, ...] = (CONFIG_NAME, WEIGHTS_NAME),
                      revision: str | None = None, also: tuple[str, ...] = ()) -> Path:
    """A local directory holding ``files``, from a local dir or a hub id (:func:`svae_tts.hub.model_folder`;
    ``also``: more patterns fetched with them, e.g. a TTS model dir's decoder folder)."""
    path = model_folder(ref, (*files, *also), what="model directory", revision=revision)
    missing = [f for f in files if not (path / f).is_file()]
    if missing:
        raise CheckpointError(f"{path}: not a model directory (missing {', '.join(missing)})")
    return path


def read_config_json(directory: str | os.PathLike) -> dict:
    """A model dir's ``config.json``: a JSON object, or a :class:`CheckpointError` naming the file."""
    path = Path(directory) / CONFIG_NAME
    if not path.exists():
        raise CheckpointError(f"{path}: missing")
    return read_json(path, dict, error=CheckpointError)


def save_state_dict(state: Mapping[str, torch.Tensor], path: str | os.PathLike, metadata: dict | None = None) -> None:
    """safetensors needs contiguous, unshared tensors: clone what aliases."""
    seen: dict[int, str] = {}
    clean = {}
    for k, v in state.items():
        v = v.detach().cpu()
        ptr = v.untyped_storage().data_ptr() if v.numel() else -1
        if ptr in seen and ptr != -1:
            v = v.clone()
        seen.setdefault(ptr, k)
        clean[k] = v.contiguous()
    save_file(clean, str(path), metadata={k: str(v) for k, v in (metadata or {}).items()})


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable safetensors file ({exc_summary(exc, 160)})") from None


def load_torch_weights(path: str | os.PathLike) -> Any:
    """Read a foreign ``.pth``/``.pt`` without ever unpickling code (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: cannot be read as plain weights with weights_only=True ({exc_summary(exc, 160)})"
        ) from None


def compare_state_dicts(expected: Mapping[str, tuple], got: Mapping[str, Any], source: str) -> None:
    """Strict key/shape check; the error lists missing, unexpected and mismatched keys."""
    exp_keys, got_keys = set(expected), set(got)
    missing = sorted(exp_keys - got_keys)
    unexpected = sorted(got_keys - exp_keys)
    mismatched = sorted(
        f"{k} {tuple(got[k].shape)} != {tuple(expected[k])}"
        for k in exp_keys & got_keys
        if tuple(got[k].shape) != tuple(expected[k])
    )
    if missing or unexpected or mismatched:
        parts = []
        for name, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
            if items:
                shown = ", ".join(items[:6]) + (f", ... ({len(items)} in all)" if len(items) > 6 else "")
                parts.append(f"{name}: {shown}")
        raise CheckpointError(f"{source}: weights do not fit the model; " + "; ".join(parts))


class PretrainedMixin:
    """``save_pretrained`` / ``from_pretrained`` for an ``nn.Module`` built from one dataclass config.

    Subclasses set ``config_class`` and ``model_kind`` and take the config as their only
    constructor argument. ``config.json`` holds ``{"model_kind", "format_version", **config}``.
    """

    config_class: ClassVar[Type]
    model_kind: ClassVar[str]

    def save_pretrained(self, directory: str | os.PathLike, overwrite: bool = False,
                        extra: dict | None = None, card: Mapping[str, Any] | None = None) -> Path:
        """``card``: also write a ``README.md`` model card, with these facts
        (:func:`svae_tts.model_card.write_model_card`'s ``training``, ``metrics``, ``license``)."""
        # overwrite replaces a model dir (it holds config.json), never a folder of something else
        directory = guard_output(directory, (), overwrite=overwrite, markers=(CONFIG_NAME,), what="model dir")
        with atomic_dir(directory) as tmp:
            cfg = {"model_kind": self.model_kind, "format_version": FORMAT_VERSION, **to_dict(self.config),
                   **self._save_beside(tmp, Path(directory)), **(extra or {})}
            atomic_write_json(tmp / CONFIG_NAME, cfg)
            save_state_dict(self.state_dict(), tmp / WEIGHTS_NAME, metadata={"model_kind": self.model_kind})
            if card is not None:
                write_model_card(tmp, **card)
        return Path(directory)

    def _save_beside(self, tmp: Path, directory: Path) -> dict:
        """Files a model kind writes beside its weights into ``tmp`` (the folder being swapped in as
        ``directory``), and the config entries that replace its own in ``config.json``: none here."""
        return {}

    @classmethod
    def config_from_json(cls, data: dict, source: str = "config.json"):
        data = dict(data)
        kind = data.pop("model_kind", None)
        if kind is not None and kind != cls.model_kind:
            raise CheckpointError(f"{source}: this is {kind_name(kind)}, not {kind_name(cls.model_kind)}")
        data.pop("format_version", None)
        names = {f.name for f in dataclasses.fields(cls.config_class)}
        return from_dict(cls.config_class, {k: v for k, v in data.items() if k in names}, where=source)

    @classmethod
    def from_pretrained(cls: Type[M], ref: str | os.PathLike, map_location: str | torch.device = "cpu",
                        revision: str | None = None) -> M:
        directory = resolve_model_dir(ref, revision=revision)
        cfg = cls.config_from_json(read_config_json(directory), str(directory / CONFIG_NAME))
        model = cls(cfg)
        state = load_state_dict(directory / WEIGHTS_NAME)
        own = model.state_dict()
        compare_state_dicts({k: tuple(v.shape) for k, v in own.items()}, state, str(directory / WEIGHTS_NAME))
        model.load_state_dict(state, strict=True)
        model.source = str(ref)
        return model.to(map_location).eval()
