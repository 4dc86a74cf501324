"""The GAN discriminators: multi-period (HiFi-GAN) + multi-band multi-resolution complex STFT (DAC).

Both are the ``bigvgan`` package's classes (``MultiPeriodDiscriminator`` and the ``DiscriminatorB``
bands of its ``MultiBandDiscriminator``), combined with its ``CombinedDiscriminator``; they follow
the designs the Semantic-VAE release (arXiv 2509.22167) trains with. The only thing added here is a typed config:
``bigvgan``'s ``MultiBandDiscriminator`` does not expose the channel width or the band edges, so
we build its ``DiscriminatorB`` members ourselves with the configured ``channels``/``bands``
(small widths keep the tiny CPU preset fast; full size is 42.5 M parameters).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from svae_tts.config import Checked, in_range, positive


@dataclass
class DiscriminatorConfig(Checked):
    periods: list[int] = positive(default_factory=lambda: [2, 3, 5, 7, 11])
    mpd_channel_mult: float = positive(1.0)  # 1.0 = 32/128/512/1024/1024 channels, as released
    use_spectral_norm: bool = False
    fft_sizes: list[int] = positive(default_factory=lambda: [2048, 1024, 512])
    mbd_channels: int = positive(32)
    bands: list[list[float]] = in_range(lo=0, hi=1, default_factory=lambda: [[0.0, 0.1], [0.1, 0.25], [0.25, 0.5], [0.5, 0.75], [0.75, 1.0]])


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


_SEQ_CONV = re.compile(r"^(convs|band_convs\.\d+)\.(\d+)\.0\.(weight_g|weight_v|bias)$")


def _sub_discriminators(disc: nn.Module) -> list[str]:
    """State-dict prefixes of our sub-discriminators, in the release's order (periods, then FFT sizes)."""
    prefixes = []
    for i, part in enumerate(disc.discrimiantor):  # (sic) bigvgan's attribute name
        for j in range(len(part.discriminators)):
            prefixes.append(f"discrimiantor.{i}.discriminators.{j}.")
    return prefixes


def release_discriminator_state(disc: nn.Module, state: dict, source: str) -> dict[str, torch.Tensor]:
    """Map the release's ``discriminator/weights.pth`` (DAC's ``Discriminator``: ``discriminators.N`` =
    one MPD per period, then one multi-band STFT discriminator per FFT size; convs wrapped as
    ``Sequential(conv, LeakyReLU)``; legacy or parametrized weight norm) onto our key names.

    Written from the DAC layout, which uses the same layers in the same order as ``bigvgan``'s; the
    final strict key/shape check turns any mismatch into an error naming the keys. Not yet checked
    against a downloaded release file (none can be fetched here)."""
    from svae_tts.errors import CheckpointError

    if isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    subs: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        m = re.match(r"^(?:module\.)?discriminators\.(\d+)\.(.+)$", key)
        if not m or not torch.is_tensor(value):
            continue
        name = (m.group(2).replace("parametrizations.weight.original0", "weight_g")
                .replace("parametrizations.weight.original1", "weight_v"))
        name = _SEQ_CONV.sub(r"\1.\2.\3", name)
        subs.setdefault(int(m.group(1)), {})[name] = value
    prefixes = _sub_discriminators(disc)
    if len(subs) != len(prefixes):
        raise CheckpointError(f"{source}: {len(subs)} sub-discriminators, this discriminator config has {len(prefixes)} "
                              "(set discriminator.periods / fft_sizes like the release's metainfo.json)")
    out = {}
    for prefix, idx in zip(prefixes, sorted(subs)):
        for name, value in subs[idx].items():
            out[prefix + name] = value
    for key, value in disc.state_dict().items():  # STFT windows are buffers the release may not store
        if key.endswith("spec_fn.window") and key not in out:
            out[key] = value
    return out


def load_discriminator_file(disc: nn.Module, path: str | os.PathLike) -> None:
    """Our ``discriminator.safetensors`` or the release's ``discriminator/weights.pth`` (or its folder)."""
    from svae_tts.checkpoint import load_state_dict, load_torch_weights

    path = Path(path)
    if path.is_dir():
        path = path / "weights.pth"
    if path.suffix == ".safetensors":
        load_discriminator_state(disc, load_state_dict(path), str(path))
    else:
        state = load_torch_weights(path)
        load_discriminator_state(disc, release_discriminator_state(disc, state, str(path)), str(path))
