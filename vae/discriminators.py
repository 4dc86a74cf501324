"""The GAN discriminators: multi-period (HiFi-GAN) + multi-band multi-resolution complex STFT (DAC).

Both are the ``bigvgan`` package's classes (``MultiPeriodDiscriminator`` and the ``DiscriminatorB``
bands of its ``MultiBandDiscriminator``), combined with its ``CombinedDiscriminator``; they follow
the same designs as the release (REFERENCE §1). The only thing added here is a typed config:
``bigvgan``'s ``MultiBandDiscriminator`` does not expose the channel width or the band edges, so
we build its ``DiscriminatorB`` members ourselves with the configured ``channels``/``bands``
(small widths keep the tiny CPU preset fast; full size is 42.5 M parameters).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class DiscriminatorConfig:
    periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    mpd_channel_mult: float = 1.0          # 1.0 = 32/128/512/1024/1024 channels, as released
    use_spectral_norm: bool = False
    fft_sizes: list[int] = field(default_factory=lambda: [2048, 1024, 512])
    mbd_channels: int = 32
    bands: list[list[float]] = field(default_factory=lambda: [[0.0, 0.1], [0.1, 0.25], [0.25, 0.5], [0.5, 0.75], [0.75, 1.0]])


def build_discriminator(cfg: DiscriminatorConfig) -> nn.Module:
    """MPD + multi-band STFT discriminator; ``forward(y, y_hat)`` with ``(B, 1, N)`` waveforms returns
    ``(real_scores, fake_scores, real_fmaps, fake_fmaps)`` lists over all sub-discriminators."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # bigvgan prints its periods
        warnings.simplefilter("ignore")
        from bigvgan.discriminators import (CombinedDiscriminator, DiscriminatorB, MultiBandDiscriminator,
                                            MultiPeriodDiscriminator)
        from bigvgan.env import AttrDict

        parts: list[nn.Module] = []
        if cfg.periods:
            parts.append(MultiPeriodDiscriminator(AttrDict({
                "mpd_reshapes": list(cfg.periods),
                "discriminator_channel_mult": cfg.mpd_channel_mult,
                "use_spectral_norm": cfg.use_spectral_norm,
            })))
        if cfg.fft_sizes:
            mbd = MultiBandDiscriminator(AttrDict({"mbd_fft_sizes": list(cfg.fft_sizes)}))
            bands = tuple(tuple(b) for b in cfg.bands)
            mbd.discriminators = nn.ModuleList(
                [DiscriminatorB(window_length=w, channels=cfg.mbd_channels, bands=bands) for w in cfg.fft_sizes]
            )
            parts.append(mbd)
        if not parts:
            raise ValueError("discriminator config has neither periods nor fft_sizes")
        disc = CombinedDiscriminator(parts)
    # torch.hann_window(n) returns a view of an (n+1)-sample storage, which safetensors refuses to
    # save (accelerate's save_state): give each STFT window its own storage.
    for module in disc.modules():
        if isinstance(getattr(module, "window", None), torch.Tensor) and "window" in module._buffers:
            module.window = module.window.clone()
    return disc


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def load_discriminator_state(disc: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load discriminator weights saved by this trainer (our key names), strictly."""
    from svae_tts.checkpoint import compare_state_dicts

    own = disc.state_dict()
    compare_state_dicts({k: tuple(v.shape) for k, v in own.items()}, state, source)
    disc.load_state_dict(state, strict=True)
