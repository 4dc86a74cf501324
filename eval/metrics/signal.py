"""Signal metrics between a reference and an estimate: PESQ-WB, STOI, SI-SDR, multi-scale mel distance.

Both signals are float32 mono tensors (or arrays) with explicit sample rates. The estimate is
resampled to the reference rate and both are cut to the shorter length (a vocoder may return a few
samples more or less). PESQ-WB is only defined at 16 kHz, so it resamples both to 16 kHz itself.
PESQ's own failure on a clip without detectable speech yields NaN (aggregates skip NaN and count
them) rather than aborting a whole test list.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torchaudio

from svae_tts.audio import resample, validate_waveform

PESQ_SR = 16_000
# (n_fft, n_mels) pairs; hop = n_fft // 4. Small windows see transients, large ones pitch harmonics.
MEL_SCALES: tuple[tuple[int, int], ...] = ((256, 32), (512, 64), (1024, 100), (2048, 128))


def align(ref, ref_sr: int, est, est_sr: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Validate, bring ``est`` to ``ref_sr``, and trim both to the common length."""
    ref = validate_waveform(torch.as_tensor(np.asarray(ref) if not torch.is_tensor(ref) else ref), "reference")
    est = validate_waveform(torch.as_tensor(np.asarray(est) if not torch.is_tensor(est) else est), "estimate")
    if est_sr != ref_sr:
        est = resample(est, est_sr, ref_sr)
    n = min(ref.numel(), est.numel())
    return ref[:n].contiguous(), est[:n].contiguous(), ref_sr


def pesq_wb(ref, est, sr: int, est_sr: int | None = None) -> float:
    """Wide-band PESQ (P.862.2) at 16 kHz; ~4.64 for identical signals, NaN when no speech is found."""
    from pesq import NoUtterancesError, PesqError, pesq

    ref, est, sr = align(ref, sr, est, est_sr or sr)
    ref16, est16 = resample(ref, sr, PESQ_SR), resample(est, sr, PESQ_SR)
    try:
        return float(pesq(PESQ_SR, ref16.numpy().astype(np.float64), est16.numpy().astype(np.float64), "wb"))
    except (NoUtterancesError, PesqError):
        return float("nan")


def stoi(ref, est, sr: int, est_sr: int | None = None, extended: bool = False) -> float:
    """Short-time objective intelligibility (pystoi, which works at 10 kHz internally); 1 = identical."""
    from pystoi import stoi as _stoi

    ref, est, sr = align(ref, sr, est, est_sr or sr)
    return float(_stoi(ref.double().numpy(), est.double().numpy(), sr, extended=extended))


def si_sdr(ref, est, sr: int, est_sr: int | None = None, eps: float = 1e-8) -> float:
    """Scale-invariant SDR in dB (zero-mean signals, optimal scaling of the reference)."""
    ref, est, _ = align(ref, sr, est, est_sr or sr)
    ref = ref.double() - ref.double().mean()
    est = est.double() - est.double().mean()
    alpha = (est @ ref) / (ref @ ref + eps)
    target = alpha * ref
    noise = est - target
    return float(10 * torch.log10((target @ target + eps) / (noise @ noise + eps)))


@functools.lru_cache(maxsize=32)
def _mel(sr: int, n_fft: int, n_mels: int) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sr, n_fft=n_fft, hop_length=n_fft // 4, n_mels=n_mels, power=1.0, center=True,
        f_min=0.0, f_max=sr / 2, norm="slaney", mel_scale="slaney",
    )


def mel_distance(ref, est, sr: int, est_sr: int | None = None, scales=MEL_SCALES) -> float:
    """Multi-scale log-mel L1 distance: mean over scales of mean |log10 mel(ref) - log10 mel(est)|.

    The same kind of distance VAE/codec papers use as a reconstruction loss; 0 for identical audio.
    """
    ref, est, sr = align(ref, sr, est, est_sr or sr)
    total = 0.0
    with torch.no_grad():
        for n_fft, n_mels in scales:
            mel = _mel(sr, n_fft, n_mels)
            a = torch.log10(mel(ref).clamp_min(1e-5))
            b = torch.log10(mel(est).clamp_min(1e-5))
            total += float((a - b).abs().mean())
    return total / len(scales)

