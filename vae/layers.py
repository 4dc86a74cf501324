"""DAC-style encoder layers (Snake1d, weight-normed convs, residual units, strided blocks).

Written here rather than imported because the released checkpoints use descript-audio-codec's
module layout (``encoder.block.N.block.M...``) and the `descript-audio-codec` package drags in
audiotools and friends; these four small classes reproduce that layout key for key.
Weight norm uses the parametrization API, so state-dict names are
``parametrizations.weight.original0`` (magnitude) / ``original1`` (direction), as released.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def wn_conv1d(*args, **kwargs) -> nn.Module:
    return weight_norm(nn.Conv1d(*args, **kwargs))


class Snake1d(nn.Module):
    """x + 1/(alpha + 1e-9) * sin^2(alpha x): a periodic activation suited to waveforms."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


class ResidualUnit(nn.Module):
    def __init__(self, dim: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(dim),
            wn_conv1d(dim, dim, kernel_size=7, dilation=dilation, padding=3 * dilation),
            Snake1d(dim),
            wn_conv1d(dim, dim, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        crop = (x.shape[-1] - y.shape[-1]) // 2
        if crop > 0:
            x = x[..., crop:-crop]
        return x + y


class EncoderBlock(nn.Module):
    """Three dilated residual units at ``dim // 2`` channels, then a strided conv to ``dim``."""

    def __init__(self, dim: int, stride: int):
        super().__init__()
        half = dim // 2
        self.block = nn.Sequential(
            ResidualUnit(half, 1),
            ResidualUnit(half, 3),
            ResidualUnit(half, 9),
            Snake1d(half),
            wn_conv1d(half, dim, kernel_size=2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Encoder(nn.Module):
    """Waveform (B, 1, N) -> features (B, C, N / prod(strides)); channels double per block."""

    def __init__(self, d_model: int, strides: list[int], d_out: int):
        super().__init__()
        layers: list[nn.Module] = [wn_conv1d(1, d_model, kernel_size=7, padding=3)]
        for stride in strides:
            d_model *= 2
            layers.append(EncoderBlock(d_model, stride))
        layers += [Snake1d(d_model), wn_conv1d(d_model, d_out, kernel_size=3, padding=1)]
        self.block = nn.Sequential(*layers)
        self.out_channels = d_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)
