"""Training losses of the Semantic-VAE (arXiv 2509.22167): multi-scale mel L1, LSGAN, feature
matching, KL and the semantic alignment loss.

The mel loss, the least-squares GAN losses come from the ``bigvgan`` package (its
``MultiScaleMelSpectrogramLoss`` is the DAC loss the release uses: log10 magnitudes clamped at 1e-5,
L1, hop = window / 4). Feature matching is written here because ``bigvgan.loss.feature_loss``
bakes its weight (x2) into the function; ours is unweighted so the weight lives in the config.
The alignment loss is the release's masked negative cosine, which no library provides.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vae.model import kl_divergence

__all__ = [
    "MultiScaleMelLoss", "generator_adv_loss", "discriminator_adv_loss", "feature_matching_loss",
    "kl_divergence", "alignment_loss", "interpolate_features", "frame_mask",
]

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from bigvgan.loss import MultiScaleMelSpectrogramLoss as _BigVGANMelLoss
    from bigvgan.loss import discriminator_loss as _bigvgan_d_loss
    from bigvgan.loss import generator_loss as _bigvgan_g_loss


class MultiScaleMelLoss(nn.Module):
    """Sum over scales of L1 between log10 mel magnitudes (7 scales by default, as released).

    Thin wrapper over ``bigvgan.loss.MultiScaleMelSpectrogramLoss`` that takes ``(B, N)`` waveforms
    and always computes in float32 (STFTs under bf16/fp16 autocast are inaccurate or unsupported).
    """

    def __init__(self, sample_rate: int, n_mels: Sequence[int] = (5, 10, 20, 40, 80, 160, 320),
                 window_lengths: Sequence[int] = (32, 64, 128, 256, 512, 1024, 2048), clamp_eps: float = 1e-5):
        super().__init__()
        if len(n_mels) != len(window_lengths):
            raise ValueError(f"mel loss: {len(n_mels)} n_mels for {len(window_lengths)} window lengths")
        self.inner = _BigVGANMelLoss(
            sampling_rate=sample_rate, n_mels=list(n_mels), window_lengths=list(window_lengths),
            clamp_eps=clamp_eps, mel_fmin=[0.0] * len(n_mels), mel_fmax=[None] * len(n_mels),
        )

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=y.device.type, enabled=False):
            return self.inner(y_hat.float().unsqueeze(1), y.float().unsqueeze(1))


def generator_adv_loss(fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN generator loss: sum over discriminators of mean (1 - D(G(x)))²."""
    return _bigvgan_g_loss([s.float() for s in fake_scores])[0]


def discriminator_adv_loss(real_scores: list[torch.Tensor], fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN discriminator loss: sum over discriminators of mean (1 - D(x))² + mean D(G(x))²."""
    return _bigvgan_d_loss([s.float() for s in real_scores], [s.float() for s in fake_scores])[0]


def feature_matching_loss(fmap_real: list[list[torch.Tensor]], fmap_fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Sum over discriminators and layers of mean |f(x) - f(G(x))|, unweighted (real maps detached)."""
    loss = fmap_fake[0][0].new_zeros((), dtype=torch.float32)
    for real_layers, fake_layers in zip(fmap_real, fmap_fake):
        for r, g in zip(real_layers, fake_layers):
            loss = loss + (r.detach().float() - g.float()).abs().mean()
    return loss


def frame_mask(lengths: torch.Tensor, hop: int, num_frames: int) -> torch.Tensor:
    """``(B, T)`` bool mask of latent frames that cover real samples: ceil(length / hop) per item."""
    valid = torch.div(lengths + hop - 1, hop, rounding_mode="floor")
    return torch.arange(num_frames, device=lengths.device)[None, :] < valid[:, None]


def interpolate_features(feats: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Teacher features ``(B, Tt, C)`` linearly resampled in time to ``(B, num_frames, C)``."""
    if feats.shape[1] == num_frames:
        return feats
    out = F.interpolate(feats.transpose(1, 2).float(), size=num_frames, mode="linear", align_corners=False)
    return out.transpose(1, 2)


def alignment_loss(z: torch.Tensor, projected: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over valid frames of −cos(z_t, proj_t); ``z`` is the sampled latent ``(B, T, D)``."""
    cos = F.cosine_similarity(z.float(), projected.float(), dim=-1, eps=1e-8)
    if mask is None:
        return -cos.mean()
    m = mask.to(cos.dtype)
    return -(cos * m).sum() / m.sum().clamp_min(1.0)
