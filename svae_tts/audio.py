"""Audio I/O for every stage: soundfile in, float32 mono tensors in [-1, 1] out.

torchaudio 2.11 cannot load or save without torchcodec, so files go through soundfile and only the
resampling uses torchaudio. Every failure raises :class:`AudioError` naming the file and the
problem, so a batch job can skip the item and report why. A file cut short (its header promises
more samples than it holds) is used as far as it goes, with one warning per file naming it.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from svae_tts.errors import AudioError, exc_summary
from svae_tts.fileio import atomic_path, check_writable

log = logging.getLogger(__name__)

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 2

# libsndfile's major formats as files are named: most are named after the format (FLAC -> .flac),
# these not; RAW (headerless: unreadable without being told its rate and encoding) and the Matlab
# formats (a .mat file is far more often data than sound) are read when named but never scanned for
_FILE_NAMES = {"AIFF": (".aiff", ".aif"), "OGG": (".ogg", ".oga"), "MPEG": (".mp3",), "WAVEX": (".wav",),
               "NIST": (".nist", ".sph"), "IRCAM": (".sf",), "MPC2K": (".mpc",), "RAW": (), "MAT4": (), "MAT5": ()}
# subtypes that have a file name of their own: Opus audio is an OGG container named .opus
_SUBTYPE_NAMES = {("OGG", "OPUS"): ".opus"}
_COMMON_FIRST = (".wav", ".flac", ".ogg", ".opus", ".mp3")


def _readable_extensions() -> tuple[str, ...]:
    """Every file extension this soundfile build reads, the common speech formats first.

    Derived from the library rather than written down, so a folder scan and a file given by name
    accept the same files: a format libsndfile gains (or lacks in an older build) is found or left
    out in both alike."""
    formats = set(sf.available_formats())
    exts = {e for name in formats for e in _FILE_NAMES.get(name, (f".{name.lower()}",))}
    exts |= {e for (name, sub), e in _SUBTYPE_NAMES.items() if name in formats and sub in sf.available_subtypes(name)}
    return tuple(e for e in _COMMON_FIRST if e in exts) + tuple(sorted(exts - set(_COMMON_FIRST)))


# the one set of audio inputs: what a folder scan finds and what every help text lists
AUDIO_EXTENSIONS = _readable_extensions()
AUDIO_FORMATS = ", ".join(e[1:] for e in AUDIO_EXTENSIONS)


@dataclass
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def check_sample_rate(sample_rate: int, name: str = "audio") -> int:
    if not isinstance(sample_rate, (int, np.integer)) or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{name}: sample rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    return int(sample_rate)


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Header-only look at a file (cheap: no samples are decoded)."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for corrupt headers
        raise AudioError(f"{path}: unreadable audio ({exc_summary(exc)})") from None
    check_sample_rate(info.samplerate, str(path))
    return AudioInfo(str(path), int(info.samplerate), int(info.channels), int(info.frames))


# WAV-family data chunk sizes at or above this are "length unknown" placeholders written by
# streaming tools (sox writes 0x7ffff000, others 0xffffffff), not promises that were broken
_UNKNOWN_LENGTH = 0x7FFFF000
_TRUNCATION_WARNED: set[str] = set()


def _declared_frames(f: sf.SoundFile) -> int:
    """Frames the file's header promises. libsndfile already counts only the frames present, but
    for WAV-like files its log keeps the header's figure (``data : 64000 (should be 956)``)."""
    m = re.search(r"^data\s*:\s*(\d+)\s*\(should be \d+\)", f.extra_info, re.M)
    align = re.search(r"Block Align\s*:\s*(\d+)", f.extra_info)
    if m and align and int(align.group(1)) > 0 and int(m.group(1)) < _UNKNOWN_LENGTH:
        return max(f.frames, int(m.group(1)) // int(align.group(1)))
    return f.frames


def read_samples(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Every sample of a file as float32 ``(frames, channels)`` and its rate.

    A file shorter than its header says (an interrupted copy or download) is not refused: what it
    holds is returned, and the first time a process reads it a warning names the file and both
    durations, so a corpus with cut files is noticed instead of silently trained on. A file with
    nothing readable raises :class:`AudioError`.
    """
    try:
        with sf.SoundFile(str(path)) as f:
            declared = _declared_frames(f)
            data = f.read(dtype="float32", always_2d=True)
            sr = int(f.samplerate)
    except Exception as exc:
        raise AudioError(f"{path}: unreadable audio ({exc_summary(exc)})") from None
    if declared > data.shape[0] > 0 and str(path) not in _TRUNCATION_WARNED:
        _TRUNCATION_WARNED.add(str(path))
        log.warning("%s: truncated file: its header says %.3f s, only %.3f s are present; using what is there",
                    path, declared / sr, data.shape[0] / sr)
    return data, sr


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    max_channels: int = MAX_CHANNELS,
) -> tuple[torch.Tensor, int]:
    """Read a file as a float32 mono tensor ``(N,)`` in [-1, 1].

    Multi-channel audio (up to ``max_channels``) is mixed down by averaging; ``sample_rate``
    resamples when given. Returns ``(wav, sample_rate)``.
    """
    path = Path(path)
    info = audio_info(path)
    if info.channels > max_channels:
        raise AudioError(f"{path}: {info.channels} channels is not supported (at most {max_channels})")
    data, sr = read_samples(path)
    if data.shape[0] == 0:
        raise AudioError(f"{path}: zero-length audio (no samples)")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio has non-finite samples (NaN or Inf)")
    wav = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    wav = wav.clamp_(-1.0, 1.0)
    if sample_rate is not None and sample_rate != sr:
        wav = resample(wav, sr, sample_rate)
        sr = sample_rate
    return wav, int(sr)


def resample(wav: torch.Tensor, orig_sr: int, target_sr: int) -> torch.Tensor:
    """Band-limited resampling along the last axis (any leading shape)."""
    check_sample_rate(orig_sr, "resample source")
    check_sample_rate(target_sr, "resample target")
    if orig_sr == target_sr:
        return wav
    return AF.resample(wav, orig_sr, target_sr)


def validate_waveform(wav: torch.Tensor, name: str = "audio") -> torch.Tensor:
    """Check an in-memory waveform: 1-D or (1, N), non-empty, finite. Returns it as (N,) float32."""
    if not torch.is_tensor(wav):
        wav = torch.as_tensor(np.asarray(wav))
    if wav.dim() == 2 and wav.shape[0] == 1:
        wav = wav[0]
    if wav.dim() != 1:
        raise AudioError(f"{name}: expected a mono waveform (N,), got shape {tuple(wav.shape)}")
    if wav.numel() == 0:
        raise AudioError(f"{name}: zero-length audio (no samples)")
    wav = wav.float()
    if not torch.isfinite(wav).all():
        raise AudioError(f"{name}: audio has non-finite samples (NaN or Inf)")
    return wav


OUTPUT_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}  # what save_audio writes, by extension


def audio_output_format(path: str | os.PathLike) -> str:
    """The soundfile format :func:`save_audio` writes ``path`` in, from its extension; an extension
    it cannot write is one :class:`AudioError` naming the path. Commands call it on their output
    before any work, so ``-o out.mp3`` stops at once rather than after the synthesis."""
    suffix = Path(path).suffix.lower()
    fmt = OUTPUT_FORMATS.get(suffix)
    if fmt is None:
        shown = f"a {suffix} file" if suffix else "a file without an extension"
        raise AudioError(f"{path}: cannot write audio as {shown} (use {', '.join(OUTPUT_FORMATS)})")
    return fmt


def save_audio(
    path: str | os.PathLike,
    wav: torch.Tensor | np.ndarray,
    sample_rate: int,
    overwrite: bool = False,
    subtype: str = "PCM_16",
) -> Path:
    """Write a mono waveform atomically; refuse to replace an existing file unless ``overwrite``."""
    fmt = audio_output_format(path)
    path = check_writable(path, overwrite, kind="file")
    check_sample_rate(sample_rate, str(path))
    wav = validate_waveform(torch.as_tensor(wav).detach().cpu(), str(path))
    data = wav.clamp(-1.0, 1.0).numpy()
    if fmt == "OGG":
        subtype = "VORBIS"
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data, sample_rate, subtype=subtype, format=fmt)
    return path


def list_audio_files(root: str | os.PathLike, exts: tuple[str, ...] = AUDIO_EXTENSIONS) -> list[Path]:
    """A file, or every audio file below a folder (``exts``: by default every format
    :func:`read_samples` reads, so a folder holds no file that would work given by name yet is left
    out), sorted for determinism."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise AudioError(f"{root}: no such file or folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)

