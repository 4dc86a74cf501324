"""A stand-in "TTS run" made of real, briefly trained VAEs, for exercising the convergence pipeline.

Until a TTS trainer's run dirs exist, a run dir whose ``exports/step_XXXXXXXX/`` hold VAE model
dirs saved along a short real training (multi-scale mel L1 reconstruction, Adam) lets the
convergence code synthesise, score, cache, tabulate and plot something that genuinely changes with
the step: the "synthesis" of an item is the VAE's reconstruction of its ground-truth target audio.
It answers nothing about TTS convergence; it tests the machinery. Used by the tests and the sample
report in ``docs/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from eval.testlist import TestItem
from svae_tts.audio import load_audio


def _mel_loss(ref: torch.Tensor, est: torch.Tensor, sr: int) -> torch.Tensor:
    from eval.metrics.signal import MEL_SCALES, _mel

    loss = 0.0
    for n_fft, n_mels in MEL_SCALES[:3]:
        m = _mel(sr, n_fft, n_mels)
        loss = loss + (torch.log10(m(ref).clamp_min(1e-5)) - torch.log10(m(est).clamp_min(1e-5))).abs().mean()
    return loss / 3


def train_standin_run(run_dir: str | os.PathLike, audio_paths: list[str], export_steps: list[int], semantic: bool = True,
                      preset: str = "tiny", lr: float = 3e-3, seed: int = 0, segment: float = 1.0) -> list[float]:
    """Train a VAE preset on ``audio_paths`` and export it at each step of ``export_steps``; returns losses."""
    from vae import SemanticVAE

    torch.manual_seed(seed)
    model = SemanticVAE.from_preset(preset, [f"semantic={str(semantic).lower()}"])
    sr = model.sample_rate
    wavs = [load_audio(p, sr)[0] for p in audio_paths]
    n = int(segment * sr)
    wavs = [torch.nn.functional.pad(w, (0, max(0, n - w.numel())))[:n] for w in wavs]
    batch = torch.stack(wavs)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    exports = Path(run_dir) / "exports"
    losses = []
    for step in range(max(export_steps) + 1):
        if step in export_steps:
            model.eval()
            model.save_pretrained(exports / f"step_{step:08d}")
            model.train()
        if step == max(export_steps):
            break
        out = model(batch)
        loss = _mel_loss(batch, out["audio"], sr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def vae_reconstruction_factory(device: str = "cpu"):
    """``synth_factory`` for :func:`eval.convergence.run_convergence`: reconstruct the item's target audio."""
    from eval.codecs import VAECodec

    def factory(model_dir: Path):
        codec = VAECodec(str(model_dir), device)

        def run(item: TestItem, seed: int):
            wav, sr = load_audio(item.target_audio, codec.sample_rate)
            return codec.reconstruct(wav), sr

        return run

    return factory
