"""Waveform -> features -> waveform round trips to evaluate, in the feature spaces the TTS uses.

``load_codec(spec)`` is a :class:`tts_recipes.feature_space.FeatureSpace`, the one codec wrapper
(``encode``: audio -> features, ``decode``: features -> audio, ``reconstruct``: both): ``mel`` or
``mel:<vocos dir or hub id>`` (default hub id ``charactr/vocos-mel-24khz``) is F5-TTS's mel space,
the reference point; anything else a VAE (model dir, hub id or release reference,
:func:`vae.load.load_vae`) in its latent space, left unnormalised (mean 0, std 1: the posterior
means a latent set holds). A VAE encodes with :meth:`vae.model.SemanticVAE.encode_clips` (the end
padding the latent set was made with), so the probe and reconstruction score the very latents the
TTS trains on, deterministically.

The mel space's front end is F5-TTS's log-mel (``MelSpec``, floored at 1e-5) and not the one a Vocos
checkpoint carries for itself (the same STFT and filterbank, floored at 1e-7, and whatever padding
its config names): the mel TTS trains on, and is decoded from, the first, so a reference point
measured on the second would not be the upper bound of that TTS.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from eval.errors import EvalError
from svae_tts.errors import SvaeError
from tts_recipes.decoder_bundle import DEFAULT_VOCOS
from tts_recipes.feature_space import FeatureSpace, LatentFeatureSpace, MelFeatureSpace, load_vocos


def load_codec(spec: str | os.PathLike, device: str = "cpu") -> FeatureSpace:
    """The feature space ``spec`` names (``mel[:VOCOS]`` or a VAE), on ``device``."""
    s = str(spec)
    if s == "mel" or s.startswith("mel:"):
        return mel_codec(s.split(":", 1)[1] if ":" in s else DEFAULT_VOCOS, device)
    return vae_codec(s, device)


def vae_codec(spec: str, device: str = "cpu") -> LatentFeatureSpace:
    """A VAE's latent space, unnormalised."""
    from vae.load import load_vae

    try:
        vae = load_vae(spec, device)
    except SvaeError as exc:
        raise EvalError(f"VAE {spec!r} could not be loaded: {exc}") from None
    d = vae.latent_dim
    return LatentFeatureSpace(str(spec), torch.zeros(d), torch.ones(d), vae_model=vae, source=f"VAE {spec}")


def mel_codec(vocos: str, device: str = "cpu") -> MelFeatureSpace:
    """F5-TTS's mel space with the Vocos ``vocos`` (a dir, safetensors or weights-only .bin, or a hub id)."""
    source = "mel+Vocos reference"
    try:
        model = load_vocos(str(vocos), source=source)
    except SvaeError as exc:
        raise EvalError(f"mel+Vocos reference needs a Vocos model dir (config.yaml + weights) or a hub id such as "
                        f"{DEFAULT_VOCOS} (online): {exc}") from None
    return MelFeatureSpace(str(vocos), vocos_model=model, source=source).to(device)


def codec_facts(space: FeatureSpace) -> dict:
    """What a report says about a space: its kind, whether it is a semantic VAE's, its width and rate."""
    vae = getattr(space, "vae", None)
    return {"kind": space.kind, "semantic": bool(getattr(getattr(vae, "config", None), "semantic", False)),
            "latent_dim": space.dim, "sample_rate": space.sample_rate}


def features(space: FeatureSpace, wav: torch.Tensor) -> torch.Tensor:
    """The features ``(T, D)`` of one waveform ``(N,)`` at the space's rate."""
    return space.encode(wav)[0].cpu()


def parse_named(specs: list[str]) -> list[tuple[str, str]]:
    """``name=spec`` pairs (``--vae semantic=runs/vae``); a bare spec is named after its folder."""
    out = []
    for s in specs:
        if "=" in s and not s.startswith(("/", ".")):
            name, val = s.split("=", 1)
        else:
            name, val = (Path(s).name or s), s
        if not name or not val:
            raise EvalError(f"{s!r}: expected NAME=PATH")
        out.append((name, val))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise EvalError(f"duplicate names in {specs}: give each one NAME=PATH")
    return out
