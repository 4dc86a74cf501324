"""Import a released Semantic-VAE checkpoint folder into our model-directory format.

A release folder (Hugging Face ``zkniu/Semantic-VAE``: ``semantic_vae``, ``acoustic_vae_dim64`` ...)
holds ``metainfo.json`` and ``dac/weights.pth`` (a plain state dict or ``{"state_dict": ...}``)
and/or ``dac/ema_state_dict.pth`` (``ema_model.<key>`` plus ema-pytorch's ``initted``/``step``).

Why our own importer rather than the release's loader: the release builds its model from a
relative config path, unpickles with full ``torch.load`` and loads with ``strict=False``, so a
wrong or truncated file silently leaves random weights in place. Here every file is read with
``weights_only=True`` and every key and shape is checked against the model before anything is
written; a mismatch is an error that lists the offending keys.
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from svae_tts.checkpoint import (CONFIG_NAME, RELEASE_KIND, VAE_KIND, compare_state_dicts, load_torch_weights,
                                 save_state_dict)
from svae_tts.errors import CheckpointError, ConfigError
from svae_tts.hub import hub_snapshot, is_release_ref, split_release_ref, svae_cache_dir
from svae_tts.model_card import write_model_card
from svae_tts.model_kinds import METAINFO_NAME, refuse_other_kind
from svae_tts.fileio import atomic_dir, atomic_write_json, guard_output
from svae_tts.config import from_dict
from svae_tts.textio import read_json
from vae.config import DecoderConfig, VAEConfig
from vae.model import SemanticVAE
from vae.projector import PROJECTOR_FILE

log = logging.getLogger(__name__)

WEIGHTS_REL = Path("dac") / "weights.pth"
EMA_REL = Path("dac") / "ema_state_dict.pth"
METAINFO_COPY_NAME = "official_metainfo.json"

EMA_PREFIX = "ema_model."
EMA_BOOKKEEPING = ("initted", "step")
PROJECTOR_PREFIX = "projectors."
# The release trains its semantic models against WavLM-Large's last layer (its README/scripts);
# metainfo.json only records the ``distill`` flag, so the teacher name comes from there.
RELEASE_TEACHER = "microsoft/wavlm-large"
RELEASE_TEACHER_LAYER = -1
# Fixed in the release's code rather than in metainfo.json.
RELEASE_ATTN_HEADS = 8

_LEGACY_WN = re.compile(r"^(.*)\.weight_([gv])$")


# -- metainfo.json -> VAEConfig ------------------------------------------------------------------
def read_metainfo(official_dir: str | os.PathLike) -> dict:
    path = Path(official_dir) / METAINFO_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (not a released Semantic-VAE folder?)")
    meta = read_json(path, dict, error=CheckpointError)
    for section in ("DAC", "Decoder"):
        if not isinstance(meta.get(section), dict):
            raise CheckpointError(f"{path}: no {section!r} section")
    return meta


def config_from_metainfo(meta: Mapping[str, Any], name: str = "official", source: str = METAINFO_NAME) -> VAEConfig:
    """Our config from the release's ``DAC`` (model) and ``Decoder`` (BigVGAN) sections.

    ``DAC.bigvgan_conf`` is a path relative to the training checkout and is ignored: the
    ``Decoder`` section holds the same BigVGAN hyper-parameters."""
    dac, dec = dict(meta["DAC"]), dict(meta["Decoder"])

    def need(section: dict, key: str, where: str):
        if key not in section:
            raise ConfigError(f"{source}: {where} section has no {key!r}")
        return section[key]

    def integer(section: dict, key: str, where: str) -> int:
        value = need(section, key, where)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {where}.{key}: expected an integer, got {value!r}")
        return value

    def integers(section: dict, key: str, where: str) -> list[int]:
        value = need(section, key, where)
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{source}: {where}.{key}: expected a list of integers, got {value!r}")
        return value

    decoder_type = dac.get("decoder_type", "bigvgan")
    if decoder_type != "bigvgan":
        raise ConfigError(f"{source}: DAC.decoder_type {decoder_type!r} is not supported (only 'bigvgan')")
    if dec.get("attn_proj", False):
        raise ConfigError(f"{source}: Decoder.attn_proj=true (attention conv_pre) is not supported; "
                          "the released models use a convolutional conv_pre")
    encoder_dim = integer(dac, "encoder_dim", "DAC")
    encoder_rates = integers(dac, "encoder_rates", "DAC")
    vae_dim = integer(dac, "vae_dim", "DAC")
    num_mels = dec.get("num_mels", vae_dim)
    if num_mels != vae_dim:
        raise ConfigError(f"{source}: Decoder.num_mels {num_mels} != DAC.vae_dim {vae_dim}")
    encoder_out_dim = dac.get("latent_dim") or encoder_dim * 2 ** len(encoder_rates)
    known = {f for f in DecoderConfig.__dataclass_fields__}
    decoder_kwargs = {k: v for k, v in dec.items() if k in known}
    ignored = sorted(set(dec) - known - {"num_mels", "attn_proj", "num_heads"})
    if ignored:
        log.debug("%s: Decoder keys not used by the model: %s", source, ", ".join(ignored))
    distill = bool(dac.get("distill", False))
    # through from_dict: every value is type- and range-checked and a bad one is named
    return from_dict(VAEConfig, {
        "name": name,
        "sample_rate": integer(dac, "sample_rate", "DAC"),
        "encoder_dim": encoder_dim,
        "encoder_rates": encoder_rates,
        "encoder_out_dim": encoder_out_dim,
        "latent_dim": vae_dim,
        "attn_heads": RELEASE_ATTN_HEADS,
        "decoder": decoder_kwargs,
        "semantic": distill,
        "teacher": RELEASE_TEACHER if distill else None,
        "teacher_layer": RELEASE_TEACHER_LAYER if distill else None,
    }, where=source)


# -- weight files -> our key names -----------------------------------------------------------------
def read_official_weights(official_dir: str | os.PathLike, ema: bool = True) -> tuple[dict[str, torch.Tensor], Path]:
    """The generator state dict of a release folder, with the release's own key names."""
    official_dir = Path(official_dir)
    path = official_dir / (EMA_REL if ema else WEIGHTS_REL)
    if not path.is_file():
        other = "--no-ema" if ema else "--ema"
        raise CheckpointError(f"{path}: missing (try {other} if the folder has the other weight file)")
    obj = load_torch_weights(path)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a state dict, found a {type(obj).__name__}")
    if ema:
        state = {}
        stray = []
        for k, v in obj.items():
            if k.startswith(EMA_PREFIX):
                state[k[len(EMA_PREFIX):]] = v
            elif k not in EMA_BOOKKEEPING:
                stray.append(k)
        if stray:
            shown = ", ".join(sorted(stray)[:6])
            raise CheckpointError(f"{path}: entries without the {EMA_PREFIX!r} prefix: {shown}")
        if not state:
            raise CheckpointError(f"{path}: no {EMA_PREFIX}* entries (not an EMA state dict)")
    else:
        state = obj.get("state_dict", obj) if isinstance(obj.get("state_dict"), Mapping) else obj
        state = dict(state)
    bad = sorted(k for k, v in state.items() if not torch.is_tensor(v))
    if bad:
        raise CheckpointError(f"{path}: non-tensor entries: {', '.join(bad[:6])}")
    return state, path


def split_official_state(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Rename legacy weight-norm keys and split off the training-only projector.

    Returns ``(model_state, projector_state)``; projector keys lose their ``projectors.`` prefix.
    ``X.weight_g`` / ``X.weight_v`` (``torch.nn.utils.weight_norm``) are the magnitude / direction
    that the parametrization API stores as ``X.parametrizations.weight.original0`` / ``original1``.
    """
    model, projector = {}, {}
    for key, value in state.items():
        if key.startswith(PROJECTOR_PREFIX):
            projector[key[len(PROJECTOR_PREFIX):]] = value
            continue
        m = _LEGACY_WN.match(key)
        if m:
            key = f"{m.group(1)}.parametrizations.weight.original{0 if m.group(2) == 'g' else 1}"
        if key in model:
            raise CheckpointError(f"weights hold {key} twice (both legacy and parametrized weight-norm names)")
        model[key] = value.float() if value.is_floating_point() else value
    return model, projector


# -- the import itself -----------------------------------------------------------------------------
def resolve_official_dir(ref: str | os.PathLike, ema: bool = True) -> Path:
    """A local release folder, or ``owner/repo/subfolder`` on the Hugging Face hub: only that
    subfolder's ``metainfo.json`` and the one weight file used are fetched (or found in the hub cache)."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    if not is_release_ref(str(ref)):
        raise CheckpointError(f"{ref}: no such folder (and not a hub reference owner/repo/subfolder)")
    repo, sub = split_release_ref(str(ref))
    weights = EMA_REL if ema else WEIGHTS_REL
    local = hub_snapshot(repo, [f"{sub}/{METAINFO_NAME}", f"{sub}/{weights.as_posix()}"], ref=str(ref)) / sub
    if not (local / METAINFO_NAME).is_file():  # the repo is there, the folder is not (a typo in the subfolder)
        raise CheckpointError(f"{ref}: hub repo {repo} has no release folder {sub!r} (no {sub}/{METAINFO_NAME})")
    return local


def release_cache_dir(ref: str) -> Path:
    """Where the release reference ``owner/repo/subfolder`` is kept once imported:
    ``<svae-tts cache>/vae/<owner>--<repo>--<subfolder>`` (EMA weights, as ``vae import`` makes by default)."""
    return svae_cache_dir("vae") / "--".join(str(ref).strip("/").split("/"))


def cached_release(ref: str) -> Path:
    """The model dir of a release reference, imported on first use and reused after.

    Loading a released VAE by name (``--vae zkniu/Semantic-VAE/semantic_vae``, ``load_vae``, a TTS
    config's ``data.vae``) must not convert 200 MB of pickles on every call, nor leave a half-made
    dir when interrupted: the import is written atomically into :func:`release_cache_dir` under a
    file lock, and a process that finds it there (or waited for another to write it) loads that
    copy. The cache is keyed by the reference, not the hub revision: delete the folder to fetch a
    release that changed on the hub."""
    from filelock import FileLock

    out = release_cache_dir(ref)
    if (out / CONFIG_NAME).is_file():
        return out
    locks = out.parent.parent / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    # One importer at a time (e.g. every rank of an `accelerate launch` naming the same release):
    # the others wait, then find the finished copy instead of importing and swapping it away.
    with FileLock(str(locks / f"{out.name}.lock")):
        if not (out / CONFIG_NAME).is_file():
            import_official(ref, out)
    return out


def import_official(official_dir: str | os.PathLike, out_dir: str | os.PathLike, ema: bool = True,
                    keep_projector: bool = True, overwrite: bool = False, name: str | None = None) -> Path:
    """Release folder -> our model dir (``config.json`` + ``model.safetensors``).

    With ``keep_projector`` the release's alignment projector goes to ``projector.safetensors``
    (keys ``model.0.weight`` ...) so VAE fine-tuning can start from it; ``metainfo.json`` is kept
    as ``official_metainfo.json`` for provenance. Nothing is written unless every key fits."""
    refuse_other_kind(official_dir, RELEASE_KIND, error=CheckpointError,
                      hints={VAE_KIND: "it is already a model dir: give it wherever a VAE is wanted"})
    out_dir = guard_output(out_dir, [official_dir], overwrite=overwrite, markers=(CONFIG_NAME,), what="model dir")
    src = resolve_official_dir(official_dir, ema)
    meta = read_metainfo(src)
    config = config_from_metainfo(meta, name or src.name or "official", str(src / METAINFO_NAME))
    state, weights_path = read_official_weights(src, ema)
    model_state, projector_state = split_official_state(state)
    model = SemanticVAE(config)
    compare_state_dicts({k: tuple(v.shape) for k, v in model.state_dict().items()}, model_state, str(weights_path))
    model.load_state_dict(model_state, strict=True)
    extra = {"source": str(official_dir), "source_weights": "ema" if ema else "weights"}
    with atomic_dir(out_dir) as tmp:  # the whole folder appears at once: model dir + provenance + projector
        model.save_pretrained(tmp, overwrite=True, extra=extra)
        atomic_write_json(tmp / METAINFO_COPY_NAME, meta)
        if keep_projector and projector_state:
            save_state_dict(projector_state, tmp / PROJECTOR_FILE,
                            metadata={"source": str(official_dir), "latent_dim": config.latent_dim})
        write_model_card(tmp, training={"trained by": "the Semantic-VAE release (imported, not trained here)"})
    n_params = sum(math.prod(v.shape) for v in model_state.values())
    log.info("imported %s (%s weights, %.1f M tensors' values) -> %s", src, extra["source_weights"], n_params / 1e6, out_dir)
    return Path(out_dir)
