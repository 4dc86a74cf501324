"""Cutting and joining waveforms for synthesis: where to cut a long reference, its silent edges,
and the cross-fade between generated chunks.

Plain tensor functions with no model in them, kept apart from :mod:`tts_recipes.synthesis` so they
can be tested on synthetic signals.
"""

from __future__ import annotations

import torch


def cut_at_pause(wav: torch.Tensor, sr: int, max_samples: int, search_fraction: float = 0.5,
                 frame_s: float = 0.01, pause_s: float = 0.1) -> int:
    """Where to cut ``wav`` to keep at most ``max_samples``: the middle of its quietest ``pause_s``
    stretch in the last ``search_fraction`` of the allowed length (the latest of equals, to keep
    more). F5-TTS clips a long reference at a silence for the same reason: a cut inside a word
    leaves a fragment whose sound no transcript matches. ``wav.numel()`` when it fits.
    """
    if wav.numel() <= max_samples:
        return wav.numel()
    hop = max(1, int(sr * frame_s))
    frames = max_samples // hop
    if frames < 2:
        return max_samples
    energy = wav[: frames * hop].reshape(frames, hop).pow(2).mean(1)
    k = max(1, min(frames, round(pause_s / frame_s)))
    smooth = torch.nn.functional.avg_pool1d(energy[None, None], k, stride=1)[0, 0]  # smooth[i]: frames i..i+k-1
    lo = min(int(frames * (1 - search_fraction)), smooth.numel() - 1)
    tail = smooth[lo:]
    best = lo + tail.numel() - 1 - int(torch.argmin(tail.flip(0)))
    return min(max_samples, best * hop + k * hop // 2)


def trim_silence(wav: torch.Tensor, sr: int, rel_db: float = -40.0, margin_s: float = 0.05) -> torch.Tensor:
    """Cut leading/trailing stretches quieter than ``rel_db`` below the loudest 10 ms frame."""
    hop = max(1, sr // 100)
    n = wav.numel() // hop
    if n < 3:
        return wav
    rms = wav[: n * hop].view(n, hop).pow(2).mean(1).sqrt()
    loud = (rms > rms.max() * 10 ** (rel_db / 20)).nonzero().flatten()
    margin = int(margin_s * sr)
    start = max(0, int(loud[0]) * hop - margin)
    end = min(wav.numel(), (int(loud[-1]) + 1) * hop + margin)
    return wav[start:end]


def cross_fade(wavs: list[torch.Tensor], fade: int) -> torch.Tensor:
    """Join ``wavs`` with a linear cross-fade of ``fade`` samples (shorter where a piece is shorter),
    so chunk boundaries do not click."""
    out = wavs[0]
    for w in wavs[1:]:
        f = min(fade, out.numel(), w.numel())
        if f <= 0:
            out = torch.cat([out, w])
            continue
        ramp = torch.linspace(0, 1, f)
        mixed = out[-f:] * (1 - ramp) + w[:f] * ramp
        out = torch.cat([out[:-f], mixed, w[f:]])
    return out
