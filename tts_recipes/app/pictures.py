"""The figures the page shows, drawn with matplotlib's object API into RGB arrays.

``matplotlib.figure.Figure`` with an Agg canvas, never ``pyplot``: pyplot keeps global state that
Gradio's worker threads would share, and an array is what ``gr.Image`` shows without a file.
"""

from __future__ import annotations

import numpy as np
import torch

N_FFT = 512
FLOOR_DB = -80.0  # spectrogram floor below the loudest bin: silence reads as dark, not as noise


def _render(fig) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _figure(rows: int, height_per_row: float = 1.9):
    from matplotlib.figure import Figure

    return Figure(figsize=(7.0, height_per_row * rows), dpi=80, layout="constrained")


def log_spectrogram(wav: torch.Tensor | np.ndarray, n_fft: int = N_FFT) -> np.ndarray:
    """``(bins, frames)`` magnitude in dB relative to the loudest bin, floored at ``FLOOR_DB``
    (a clip shorter than one window is zero-padded to it)."""
    wav = torch.as_tensor(np.asarray(wav, dtype=np.float32)).reshape(-1)
    if wav.numel() < n_fft:
        wav = torch.nn.functional.pad(wav, (0, n_fft - wav.numel()))
    spec = torch.stft(wav, n_fft, hop_length=n_fft // 4, window=torch.hann_window(n_fft), return_complex=True).abs()
    db = 20 * torch.log10(spec.clamp_min(1e-8))
    return (db - db.max()).clamp_min(FLOOR_DB).numpy()


def _draw_spectrogram(ax, wav: np.ndarray, sample_rate: int, title: str) -> None:
    db = log_spectrogram(wav)
    seconds = max(len(wav), 1) / sample_rate
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, sample_rate / 2000))
    ax.set(title=title, xlabel="seconds", ylabel="kHz")


def _draw_waveform(ax, wav: np.ndarray, sample_rate: int, title: str) -> None:
    ax.plot(np.arange(len(wav)) / sample_rate, wav, linewidth=0.5, color="tab:blue")
    ax.set(title=title, xlim=(0, max(len(wav), 1) / sample_rate), ylim=(-1.05, 1.05), xlabel="seconds")


def spectrogram_picture(wav: np.ndarray, sample_rate: int, title: str = "spectrogram") -> np.ndarray:
    """One spectrogram, as an RGB array."""
    fig = _figure(1, 2.4)
    _draw_spectrogram(fig.add_subplot(), wav, sample_rate, title)
    return _render(fig)


def audio_picture(wav: np.ndarray, sample_rate: int, title: str) -> np.ndarray:
    """Waveform above spectrogram, as an RGB array (the Reconstruct tab's input and output)."""
    fig = _figure(2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    _draw_waveform(top, wav, sample_rate, f"{title}: waveform")
    _draw_spectrogram(bottom, wav, sample_rate, f"{title}: spectrogram")
    return _render(fig)


def latent_picture(latents: np.ndarray, frame_rate: float, title: str = "latents") -> np.ndarray:
    """``(frames, dims)`` latents drawn as dims × frames (time across, like a spectrogram), a
    diverging colour scale centred on zero so sign and size both show."""
    z = np.asarray(latents, dtype=np.float32)
    lim = float(np.abs(z).max()) or 1.0
    fig = _figure(1, 2.4)
    ax = fig.add_subplot()
    shown = ax.imshow(z.T, origin="lower", aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim,
                      extent=(0, z.shape[0] / frame_rate, -0.5, z.shape[1] - 0.5), interpolation="nearest")
    ax.set(title=f"{title}: {z.shape[1]} dims × {z.shape[0]} frames", xlabel="seconds", ylabel="dim")
    fig.colorbar(shown, ax=ax)
    return _render(fig)


__all__ = ["audio_picture", "latent_picture", "log_spectrogram", "spectrogram_picture"]
