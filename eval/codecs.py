"""Waveform -> latent/feature -> waveform round trips to evaluate: our VAEs and mel + Vocos.

``load_codec(spec)``: ``mel:<vocos dir or hub id>`` (default hub id ``charactr/vocos-mel-24khz``)
is the mel-spectrogram reference point (F5-TTS's feature space); anything else is a
:class:`vae.SemanticVAE` directory or hub id. A VAE encodes with
:meth:`vae.model.SemanticVAE.encode_clips` (the end padding the latent set was made with) and takes the
posterior mean, so the probe and reconstruction score the very latents the TTS trains on, deterministically.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from eval.errors import EvalError
from svae_tts.errors import CheckpointError, SvaeError
from tts_recipes.decoder_bundle import DEFAULT_VOCOS



class Codec:
    name: str
    sample_rate: int
    kind: str

    def reconstruct(self, wav: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class VAECodec(Codec):
    kind = "vae"

    def __init__(self, spec: str, device: str = "cpu"):
        from vae.load import load_vae

        self.name = str(spec)
        self.device = device
        try:
            self.model = load_vae(spec, device)
        except CheckpointError as exc:
            raise EvalError(f"VAE {spec!r} could not be loaded: {exc}") from None
        self.sample_rate = self.model.sample_rate
        self.semantic = bool(getattr(self.model.config, "semantic", False))
        self.latent_dim = self.model.latent_dim

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """Posterior means ``(T, D)`` of one waveform ``(N,)``, as in the latent set."""
        return self.model.encode_clips([wav])[0]

    @torch.no_grad()
    def reconstruct(self, wav: torch.Tensor) -> torch.Tensor:
        mu = self.encode(wav)
        return self.model.decode(mu[None].to(self.device), length=wav.numel())[0].cpu()


class MelVocosCodec(Codec):
    """Log-mel analysis and Vocos resynthesis: the upper bound of a mel-space TTS."""

    kind = "mel"

    def __init__(self, spec: str = DEFAULT_VOCOS, device: str = "cpu"):
        # the TTS stage's loader: local dir (safetensors or weights_only .bin) or hub id, never unpickling code
        from tts_recipes.feature_space import load_vocos

        self.name = f"mel:{spec}"
        try:
            model = load_vocos(str(spec), source="mel+Vocos reference")
        except SvaeError as exc:
            raise EvalError(f"mel+Vocos reference needs a Vocos model dir (config.yaml + weights) or a hub id such as "
                            f"{DEFAULT_VOCOS} (online): {exc}") from None
        self.model = model.to(device).eval()
        self.device = device
        self.sample_rate = int(self.model.feature_extractor.mel_spec.sample_rate)
        self.semantic = False
        self.latent_dim = int(self.model.feature_extractor.mel_spec.n_mels)

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model.feature_extractor(wav[None].to(self.device))[0].T.cpu()  # (T, n_mels)

    @torch.no_grad()
    def reconstruct(self, wav: torch.Tensor) -> torch.Tensor:
        out = self.model(wav[None].to(self.device))[0].cpu()
        n = wav.numel()
        return out[:n] if out.numel() >= n else torch.nn.functional.pad(out, (0, n - out.numel()))


def load_codec(spec: str | os.PathLike, device: str = "cpu") -> Codec:
    s = str(spec)
    if s == "mel" or s.startswith("mel:"):
        return MelVocosCodec(s.split(":", 1)[1] if ":" in s else DEFAULT_VOCOS, device)
    p = Path(s).expanduser()
    return VAECodec(str(p) if p.exists() else s, device)


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
