"""A speech-like clip made from nothing: a harmonic tone, syllable-modulated, with a trace of noise.

Enough structure for PESQ, STOI and a voice-activity detector to treat it as speech, so the judges
can be exercised (their tests) and timed (``benchmarks/eval_judges.py``) without a corpus or a download.
"""

from __future__ import annotations

import math

import torch


def speechlike(sr: int = 16_000, seconds: float = 2.0, f0: float = 140.0, seed: int = 0) -> torch.Tensor:
    """``seconds`` of mono audio at ``sr`` around pitch ``f0``, peak 0.25; ``seed`` picks the noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(sr * seconds)) / sr
    pitch = f0 * (1 + 0.05 * torch.sin(2 * math.pi * 0.7 * t))
    phase = 2 * math.pi * torch.cumsum(pitch / sr, 0)
    wav = sum(torch.sin(k * phase) / k for k in range(1, 12))
    env = (0.5 + 0.5 * torch.sin(2 * math.pi * 4 * t)).clamp_min(0) ** 2
    wav = wav * env + 0.002 * torch.randn(t.shape, generator=g)
    return (0.25 * wav / wav.abs().max()).float()
