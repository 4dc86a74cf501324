"""Typed configs for the Semantic-VAE model and its named presets (``vae/presets/*.yaml``).

A preset is an architecture: what a model dir's ``config.json`` holds, nothing about training.
How a model is trained (data, losses, steps) is a training config, ``vae/configs/*.yaml``
(:mod:`vae.train_config`); every released preset has one of the same name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from svae_tts.config import Checked, load_config, positive, sample_rate_field
from svae_tts.errors import ConfigError


@dataclass
class DecoderConfig(Checked):
    """BigVGAN-v2 generator hyper-parameters (``num_mels`` is the latent dim, set by the VAE)."""

    upsample_rates: list[int] = positive(default_factory=lambda: [5, 5, 2, 2, 2, 2])
    upsample_kernel_sizes: list[int] = positive(default_factory=lambda: [9, 9, 4, 4, 4, 4])
    upsample_initial_channel: int = positive(1024)
    resblock: str = "1"
    resblock_kernel_sizes: list[int] = positive(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = positive(default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]])
    activation: str = "snakebeta"
    snake_logscale: bool = True
    use_tanh_at_final: bool = False
    use_bias_at_final: bool = False


@dataclass
class SpectralConfig(Checked):
    """Sizes of the frame-rate blocks (``encoder_type: mel`` / ``decoder_type: vocos``, see
    :mod:`vae.spectral`); unused by the released waveform encoder + BigVGAN decoder."""

    mel_n_fft: int = positive(1024)
    mel_bins: int = positive(100)
    encoder_intermediate_dim: int = positive(768)
    encoder_layers: int = positive(6)
    decoder_dim: int = positive(256)
    decoder_intermediate_dim: int = positive(768)
    decoder_layers: int = positive(8)
    istft_n_fft: int = positive(1600)  # 4 hops: each frame's waveform overlaps its neighbours'


ENCODER_TYPES = ("waveform", "mel")
DECODER_TYPES = ("bigvgan", "vocos")


@dataclass
class VAEConfig(Checked):
    """Architecture of one VAE. ``semantic``/``teacher``/``teacher_layer`` record how it was trained."""

    name: str = "semantic_vae"
    sample_rate: int = sample_rate_field(16000)
    encoder_dim: int = positive(64)
    encoder_rates: list[int] = positive(default_factory=lambda: [4, 4, 5, 5])
    encoder_out_dim: int = positive(1024)
    latent_dim: int = positive(64)
    attn_heads: int = positive(8)
    mlp_ratio: int = positive(2)
    logvar_clamp: float = positive(12.0)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    # the release: "waveform" (DAC-style strided convs) and "bigvgan"; "mel" and "vocos" are the
    # frame-rate blocks of vae.spectral, for budgets of CPU minutes
    encoder_type: str = "waveform"
    decoder_type: str = "bigvgan"
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    semantic: bool = True
    teacher: Optional[str] = "microsoft/wavlm-large"
    teacher_layer: Optional[int] = -1
    # the alignment target: "projector" (the release's learned one), "pca" (vae/pca_target.py); None
    # for acoustic VAEs and for models trained before this was recorded
    teacher_target: Optional[str] = None

    def __post_init__(self) -> None:
        super().__post_init__()  # field ranges first: the checks below divide by them
        for what, value, known in (("encoder_type", self.encoder_type, ENCODER_TYPES),
                                   ("decoder_type", self.decoder_type, DECODER_TYPES)):
            if value not in known:
                raise ConfigError(f"VAE config {self.name!r}: {what} {value!r} is not one of {', '.join(known)}")
        enc_hop = math.prod(self.encoder_rates)
        dec_hop = math.prod(self.decoder.upsample_rates) if self.decoder_type == "bigvgan" else enc_hop
        if enc_hop != dec_hop:
            raise ConfigError(
                f"VAE config {self.name!r}: encoder hop {enc_hop} (rates {self.encoder_rates}) != "
                f"decoder hop {dec_hop} (upsample rates {self.decoder.upsample_rates})"
            )
        if self.sample_rate % enc_hop:
            raise ConfigError(f"VAE config {self.name!r}: sample rate {self.sample_rate} is not a multiple of hop {enc_hop}")
        if self.encoder_out_dim % self.attn_heads:
            raise ConfigError(f"VAE config {self.name!r}: encoder_out_dim {self.encoder_out_dim} not divisible by {self.attn_heads} heads")

    @property
    def hop_length(self) -> int:
        """Samples per latent frame: the product of the encoder rates (the mel encoder's STFT hop)."""
        return math.prod(self.encoder_rates)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length


PRESETS_DIR = Path(__file__).resolve().parent / "presets"
# The presets that rebuild a checkpoint of the Semantic-VAE release (``zkniu/Semantic-VAE``) key for
# key; each has the training config that reproduces it under the same name in ``vae/configs/``.
RELEASED_PRESETS = ("semantic_vae", "acoustic_vae_dim64", "acoustic_vae_dim16")


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_preset(name_or_path: str, overrides: list[str] | None = None) -> VAEConfig:
    """A preset name (``tiny``, ``semantic_vae`` ...) or a YAML path, with ``key=value`` overrides."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESETS_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ConfigError(f"unknown VAE preset {name_or_path!r} (known: {', '.join(preset_names())})")
    return load_config(VAEConfig, path, overrides)
