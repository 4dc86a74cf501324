"""Zero-shot synthesis around ``CFM.sample``: reference in, speech in the reference's voice out.

F5-TTS's own inference code is mel-only and downloads its models, so this is written against the
feature-space interface instead: the same code drives VAE-latent and mel models. Steps:
1. reference cleaned: mono, resampled to the space's rate, edge silence trimmed, raised to
   ``target_rms`` when quieter (the output gets the original loudness back). A reference longer
   than ``max_ref_seconds`` is cut at a pause (:func:`cut_at_pause`), and since its transcript
   covers the whole, it is refused unless an ASR model (``asr``) is given to transcribe the part
   kept: a prompt whose text runs past its audio conditions the model on the wrong pace and words;
2. text split at sentence boundaries into chunks that fit the model's window with the reference;
3. each chunk's length estimated from the reference's speaking rate (UTF-8 bytes per *frame* of the
   feature space, so 40 Hz latents and 93.75 Hz mel both come out right), divided by ``speed``;
   or exactly ``duration`` seconds when given;
4. ``CFM.sample`` infills the frames after the prompt; the generated frames alone are decoded;
5. chunks are joined with a linear cross-fade.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from svae_tts.audio import load_audio, resample, save_audio, validate_waveform
from svae_tts.checkpoint import is_hub_id
from svae_tts.errors import SvaeError
from svae_tts.fileio import guard_output
from svae_tts.boundary import item_boundary
from svae_tts.textio import read_lines
from tts_recipes.errors import TTSError
from tts_recipes.feature_space import FeatureSpace
from tts_recipes.model import TTSModel
from svae_tts.text import tts_text
from tts_recipes.text import check_fits

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 5000  # per call; longer input should be split by the caller (or use --batch)
SILENCE_PEAK = 1e-3  # a reference whose peak stays below this (-60 dBFS) is treated as silent
MIN_ROOM_SECONDS = 5.0  # generated speech per chunk at least, however much of the window a long reference takes


@dataclass
class Reference:
    wav: torch.Tensor  # (N,) at the space's sample rate, loudness-normalised
    gain: float  # what the loudness normalisation multiplied by (output is divided by it)
    name: str
    text: str | None = None  # its transcript (the ASR's, when the reference had to be cut)


class Synthesizer:
    """``asr``: a character CTC model dir or hub id (``data_prep.ctc``) that transcribes the kept
    part of a reference longer than ``max_ref_seconds``; without one such a reference is refused."""

    def __init__(self, model: TTSModel, space: FeatureSpace, device: str | torch.device = "cpu",
                 max_ref_seconds: float = 15.0, max_total_seconds: float = 30.0, target_rms: float = 0.1,
                 cross_fade_seconds: float = 0.15, asr: str | os.PathLike | None = None):
        if not (isinstance(max_ref_seconds, (int, float)) and math.isfinite(max_ref_seconds) and max_ref_seconds > 0):
            raise TTSError(f"max_ref_seconds must be a positive number of seconds, got {max_ref_seconds!r}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.space = space.to(self.device)
        self.asr = _check_asr(asr) if asr is not None else None
        self.max_ref_seconds = float(max_ref_seconds)
        self.max_total_seconds = max_total_seconds
        self.target_rms = target_rms
        self.cross_fade_seconds = cross_fade_seconds
        self.last_seed: int | None = None

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike, device: str | torch.device = "cpu", **kwargs) -> "Synthesizer":
        """Load the TTS model dir and the decoder it names (its VAE, or Vocos) once."""
        model = TTSModel.from_pretrained(model_dir)
        space = model.load_feature_space(source=f"model dir {model_dir}")
        return cls(model, space, device, **kwargs)

    @property
    def sample_rate(self) -> int:
        return self.space.sample_rate

    # -- reference -----------------------------------------------------------------------------
    def prepare_reference(self, ref_audio: str | os.PathLike | tuple, ref_text: str | None = None) -> Reference:
        """The cleaned reference and its transcript (``ref_text``, or the ASR's when it had to be cut)."""
        sr_out = self.sample_rate
        if isinstance(ref_audio, (str, os.PathLike)):
            name = str(ref_audio)
            wav, _ = load_audio(ref_audio, sr_out)
        elif isinstance(ref_audio, (tuple, list)) and len(ref_audio) == 2:
            name = "reference audio"
            wav, sr = ref_audio
            wav = torch.as_tensor(wav).float()
            if wav.dim() == 2 and wav.shape[0] in (1, 2) and wav.shape[1] > 2:
                wav = wav.mean(0)
            wav = validate_waveform(wav, name)
            wav = resample(wav, int(sr), sr_out)
        else:
            raise TTSError("ref_audio must be a file path or a (waveform, sample_rate) pair")
        if wav.abs().max().item() < SILENCE_PEAK:
            raise TTSError(f"{name}: reference audio is silent (peak below {SILENCE_PEAK:g})")
        wav = _trim_silence(wav, sr_out)
        if wav.numel() > int(self.max_ref_seconds * sr_out):
            wav, ref_text = self._shorten_reference(wav, ref_text, name)
        rms = wav.pow(2).mean().sqrt().item()
        gain = self.target_rms / rms if rms < self.target_rms else 1.0
        return Reference(wav * gain, gain, name, ref_text)

    def _shorten_reference(self, wav: torch.Tensor, ref_text: str | None, name: str) -> tuple[torch.Tensor, str]:
        """Cut at a pause before ``max_ref_seconds``; the kept part's transcript comes from the ASR
        model, or the reference is refused (the given transcript is of the whole)."""
        sr = self.sample_rate
        whole = wav.numel() / sr
        kept = _trim_silence(wav[: cut_at_pause(wav, sr, int(self.max_ref_seconds * sr))], sr)
        kept_s = kept.numel() / sr
        if self.asr is None:
            raise TTSError(
                f"{name}: reference is {whole:.1f} s, over the {self.max_ref_seconds:g} s limit, and its transcript "
                f"would not match a cut; pass --max-ref-seconds {math.ceil(whole)} to use it whole, give a reference "
                f"under {self.max_ref_seconds:g} s with its transcript, or --asr CTC_MODEL to transcribe the part kept "
                f"(its first {kept_s:.1f} s, cut at a pause)")
        from data_prep.ctc import transcribe

        heard = " ".join(transcribe(self.asr, [kept.cpu()], sample_rate=sr, device=str(self.device))[0].split())
        if not heard:
            raise TTSError(f"{name}: reference is {whole:.1f} s, over the {self.max_ref_seconds:g} s limit, and the "
                           f"ASR model {self.asr} heard no words in the {kept_s:.1f} s kept; give a shorter reference")
        log.warning("%s: reference is %.1f s, cut at a pause to %.1f s; its transcript replaced by what %s heard "
                    "there: %r (the given one, %r, is of the whole)", name, whole, kept_s, self.asr, heard, ref_text)
        return kept, heard

    # -- text ----------------------------------------------------------------------------------
    def split_text(self, text: str, max_bytes: int) -> list[str]:
        """Sentences packed greedily into chunks of at most ``max_bytes`` (a long sentence splits at commas, then words)."""
        pieces = []
        for sent in re.split(r"(?<=[.!?;:。！？；])\s+", text):
            pieces.extend(_split_long(sent, max_bytes))
        return _pack(pieces, max_bytes)

    # -- synthesis -----------------------------------------------------------------------------
    @torch.no_grad()
    def synthesize(self, text: str, ref_audio, ref_text: str, nfe: int = 32, cfg_strength: float = 2.0,
                   sway: float = -1.0, seed: int | None = None, speed: float = 1.0,
                   duration: float | None = None) -> torch.Tensor:
        """Speech for ``text`` in the voice of ``ref_audio`` (whose transcript is ``ref_text``).

        ``duration`` (seconds of generated speech, the reference excluded) overrides the estimate
        from the reference's speaking rate and ``speed``. Returns ``(N,)`` float32 at ``sample_rate``.
        """
        text, ref_text = tts_text(text or ""), tts_text(ref_text or "")
        if not text:
            raise TTSError("text is empty")
        if not ref_text:
            raise TTSError("ref_text is empty (the reference's transcript is needed to clone its voice and pace)")
        if len(text) > MAX_TEXT_CHARS:
            raise TTSError(f"text has {len(text)} characters, over the limit of {MAX_TEXT_CHARS}; split it into several calls")
        if nfe < 1:
            raise TTSError(f"nfe must be at least 1, got {nfe}")
        if speed <= 0:
            raise TTSError(f"speed must be positive, got {speed}")
        if duration is not None and duration <= 0:
            raise TTSError(f"duration must be positive, got {duration}")
        ref = self.prepare_reference(ref_audio, ref_text)
        ref_text = tts_text(ref.text)
        if seed is None:
            seed = random.randrange(2**31)
            log.info("seed %d", seed)
        self.last_seed = seed

        space = self.space
        ref_frames = space.num_frames(ref.wav.numel())
        ref_bytes = len(ref_text.encode()) + 1
        frames_per_byte = ref_frames / ref_bytes
        if duration is not None:
            chunks = [text]
            gen_frames = [max(1, round(duration * space.frame_rate))]
        else:
            room = max(int(self.max_total_seconds * space.frame_rate) - ref_frames,
                       int(MIN_ROOM_SECONDS * space.frame_rate))
            max_bytes = max(8, int(room * speed / frames_per_byte))
            chunks = self.split_text(text, max_bytes)
            gen_frames = [max(1, math.ceil(frames_per_byte * len(c.encode()) / speed)) for c in chunks]

        cond = space.encode(ref.wav.to(self.device))[:, :ref_frames]
        wavs = []
        for i, (chunk, n_gen) in enumerate(zip(chunks, gen_frames)):
            total = ref_frames + n_gen
            ids = self.model.vocab.encode([f"{ref_text} {chunk}"]).to(self.device)
            if duration is not None:
                check_fits(ids.shape[1], total, what=f"reference text + text ({duration:g} s requested)")
            elif ids.shape[1] > total:
                log.warning("chunk %d: %d characters do not fit the %d frames estimated from the reference's "
                            "rate; lengthened to %d frames", i + 1, ids.shape[1], total, ids.shape[1] + 1)
                total = ids.shape[1] + 1
            devices = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                out, _ = self.model.cfm.sample(cond, ids, total, steps=nfe, cfg_strength=cfg_strength,
                                               sway_sampling_coef=sway, seed=seed + i)
            wav = space.decode(out[:, ref_frames:total])[0].float().cpu()
            wavs.append(wav / ref.gain)
        out = _cross_fade(wavs, int(self.cross_fade_seconds * self.sample_rate))
        return out.clamp(-1.0, 1.0).contiguous()

    # -- many lines ----------------------------------------------------------------------------
    def synthesize_batch(self, rows: Sequence["BatchRow"], out_dir: str | os.PathLike, overwrite: bool = False,
                         **kwargs) -> tuple[list[Path], list[tuple[str, str]]]:
        """Write ``out_dir/<name>.wav`` per row; bad rows are skipped and returned as (name, reason)."""
        out_dir = guard_output(out_dir, [r.ref_audio for r in rows], overwrite=overwrite, exists_ok=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        written, skipped = [], []
        from tqdm import tqdm

        for row in tqdm(rows, desc="synthesize"):
            with item_boundary(row.name, log) as item:  # any failure, out of memory included, skips the row
                wav = self.synthesize(row.text, row.ref_audio, row.ref_text, **kwargs)
                written.append(save_audio(out_dir / f"{row.name}.wav", wav, self.sample_rate, overwrite=overwrite))
            if item.failed:
                skipped.append((row.name, item.reason))
        if skipped:
            (out_dir / "skipped.tsv").write_text("".join(f"{n}\t{r}\n" for n, r in skipped), encoding="utf-8")
        return written, skipped


@dataclass
class BatchRow:
    name: str
    text: str
    ref_audio: str | None
    ref_text: str | None


def read_batch_tsv(path: str | os.PathLike, ref_audio: str | None = None, ref_text: str | None = None) -> list[BatchRow]:
    """Lines ``name<TAB>text`` (the command line's reference) or ``name<TAB>ref_audio<TAB>ref_text<TAB>text``.

    Empty lines and lines starting with ``#`` are ignored; a malformed line is an error naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise TTSError(f"{path}: batch list not found")
    rows, names = [], set()
    for n, line in read_lines(path, error=TTSError):  # one-line errors for non-UTF-8 files
        if line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) == 2:
            name, text = parts
            if not ref_audio or not ref_text:
                raise TTSError(f"{path}:{n}: two-column line needs --ref-audio and --ref-text")
            row = BatchRow(name.strip(), text, ref_audio, ref_text)
        elif len(parts) == 4:
            name, ra, rt, text = parts
            row = BatchRow(name.strip(), text, ra.strip(), rt)
        else:
            raise TTSError(f"{path}:{n}: expected 2 or 4 tab-separated columns, got {len(parts)}")
        if not re.fullmatch(r"[\w.-]+", row.name) or row.name in names:
            raise TTSError(f"{path}:{n}: output name {row.name!r} is empty, has odd characters, or repeats")
        names.add(row.name)
        rows.append(row)
    if not rows:
        raise TTSError(f"{path}: batch list has no lines")
    return rows


def _pack(pieces: list[str], max_bytes: int) -> list[str]:
    """Join consecutive pieces with spaces into runs of at most ``max_bytes`` (a longer piece stays whole)."""
    out, cur = [], ""
    for p in pieces:
        if not p:
            continue
        cand = f"{cur} {p}" if cur else p
        if len(cand.encode()) <= max_bytes or not cur:
            cur = cand
        else:
            out.append(cur)
            cur = p
    if cur:
        out.append(cur)
    return out


def _split_long(sentence: str, max_bytes: int) -> list[str]:
    if len(sentence.encode()) <= max_bytes:
        return [sentence] if sentence else []
    return _pack(re.split(r"(?<=[,，、])\s*|\s+", sentence), max_bytes)


def _check_asr(asr: str | os.PathLike) -> str:
    """A CTC model that writes text (not phonemes), loaded once now so a bad one fails before any work."""
    from data_prep.ctc import ctc_info

    if not Path(str(asr)).expanduser().is_dir() and not is_hub_id(str(asr)):
        raise TTSError(f"asr model {asr}: no such directory (and not a hub id of the form owner/name)")
    try:
        targets = ctc_info(asr).get("targets", "char")
    except SvaeError as exc:
        raise TTSError(f"asr model: {exc}") from None
    if targets != "char":
        raise TTSError(f"asr model {asr}: this CTC model writes {targets}s, not text; give a character model")
    return str(asr)


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


def _trim_silence(wav: torch.Tensor, sr: int, rel_db: float = -40.0, margin_s: float = 0.05) -> torch.Tensor:
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


def _cross_fade(wavs: list[torch.Tensor], fade: int) -> torch.Tensor:
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


__all__ = ["Synthesizer", "Reference", "BatchRow", "read_batch_tsv", "cut_at_pause", "MAX_TEXT_CHARS"]
