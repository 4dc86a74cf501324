"""Zero-shot synthesis around ``CFM.sample``: reference in, speech in the reference's voice out.

F5-TTS's own inference code is mel-only and downloads its models, so this is written against the
feature-space interface instead: the same code drives VAE-latent and mel models. Steps:
1. reference cleaned: mono, resampled to the space's rate, edge silence trimmed, raised to
   ``target_rms`` when quieter (the output gets the original loudness back). A reference longer
   than ``max_ref_seconds`` is cut at a pause (:func:`cut_at_pause`), and since its transcript
   covers the whole, it is refused unless an ASR model (``asr``) is given to transcribe the part
   kept: a prompt whose text runs past its audio conditions the model on the wrong pace and words.
   A reference given without a transcript is transcribed by the same ASR model (with a warning
   showing what it heard), or refused when there is none;
2. text split at sentence boundaries into chunks that fit the model's window with the reference;
3. each chunk's length estimated from the reference's speaking rate (UTF-8 bytes per *frame* of the
   feature space, so 40 Hz latents and 93.75 Hz mel both come out right), divided by ``speed``;
   or exactly ``duration`` seconds when given;
4. ``CFM.sample`` infills the frames after the prompt; the generated frames alone are decoded;
5. chunks are joined with a linear cross-fade.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import hashlib
import random
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from svae_tts.audio import load_audio, resample, save_audio, validate_waveform
from svae_tts.device import resolve_device
from svae_tts.errors import CheckpointError, SvaeError, nothing_done
from svae_tts.fileio import OutputManifest, atomic_write_text, guard_output, make_output_dir, remove_created_dir
from svae_tts.hub import model_folder
from svae_tts.boundary import item_boundary
from tts_recipes.audio_edits import cross_fade, cut_at_pause, trim_silence
from tts_recipes.batch_list import BatchRow
from tts_recipes.errors import TTSError
from tts_recipes.feature_space import FeatureSpace
from tts_recipes.model import TTSModel
from tts_recipes.synthesis_settings import SynthesisSettings
from svae_tts.text import tts_text
from tts_recipes.text import check_fits, check_positions, check_readable

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 5000  # per call; longer input should be split by the caller (or use --batch)
SILENCE_PEAK = 1e-3  # a reference whose peak stays below this (-60 dBFS) is treated as silent
MIN_ROOM_SECONDS = 5.0  # generated speech per chunk at least, however much of the window a long reference takes
REFERENCE_CACHE = 8  # encoded references kept per Synthesizer (a batch list or an app reuses a few voices)
# The plausible pace of a reference transcript, in its characters per second of reference audio.
# Speech runs at about 10-20 characters a second (English ~14, spaces included); slow reading with
# pauses and fast talk stay within these bounds (a one-word placeholder for a 5 s clip, 2.2 a second,
# does not). Outside them the transcript is almost surely not this clip's
# (a placeholder, a paragraph for one sentence), and since the output's length and pace are taken
# from this ratio, the output would be seconds too long or too short: warn before synthesising.
MIN_REF_CHARS_PER_SECOND = 5.0
MAX_REF_CHARS_PER_SECOND = 40.0


def sampling_times(nfe: int, epss: bool = True, sway: float | None = -1.0) -> list[float]:
    """The times at which ``CFM.sample`` evaluates the flow for ``nfe`` steps.

    f5-tts replaces the uniform grid by its empirically pruned schedule (EPSS: dense near t=0,
    where the flow changes fastest) for NFE 5, 6, 7, 10, 12 and 16 whenever ``use_epss`` is on,
    its default; other NFEs stay uniform. Sway sampling then bends the grid toward t=0 as well.
    Written out here so the schedule a call used can be shown (:attr:`Synthesizer.last_schedule`)."""
    from f5_tts.model.utils import get_epss_timesteps

    t = get_epss_timesteps(nfe, device="cpu", dtype=torch.float64) if epss else torch.linspace(0, 1, nfe + 1, dtype=torch.float64)
    if sway is not None:
        t = t + sway * (torch.cos(torch.pi / 2 * t) - 1 + t)
    return [round(float(v), 6) for v in t]


@dataclass
class Reference:
    wav: torch.Tensor  # (N,) at the space's sample rate, loudness-normalised
    gain: float  # what the loudness normalisation multiplied by (output is divided by it)
    name: str
    text: str | None = None  # its transcript (the ASR's, when the reference had to be cut)


class Synthesizer:
    """``asr``: a character CTC model dir or hub id (``data_prep.ctc``) that transcribes a reference
    given without its transcript, and the kept part of one longer than ``max_ref_seconds``; without
    one such references are refused. ``device``: ``auto``, ``cpu``, ``cuda`` ... (:mod:`svae_tts.device`).
    ``decoder_dtype``: ``bfloat16`` decodes latents in bf16 (``SemanticVAE.set_decode_dtype``: ~1.6x the
    fp32 decode at batch 1 on CPUs with bf16 units, waveform error of a few 1e-3); mel models ignore it."""

    def __init__(self, model: TTSModel, space: FeatureSpace, device: str | torch.device = "cpu",
                 max_ref_seconds: float = 15.0, max_total_seconds: float = 30.0, target_rms: float = 0.1,
                 cross_fade_seconds: float = 0.15, asr: str | os.PathLike | None = None,
                 decoder_dtype: str = "float32"):
        if not (isinstance(max_ref_seconds, (int, float)) and math.isfinite(max_ref_seconds) and max_ref_seconds > 0):
            raise TTSError(f"max_ref_seconds must be a positive number of seconds, got {max_ref_seconds!r}")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.space = space.to(self.device)
        vae = getattr(self.space, "vae", None)
        if vae is not None and hasattr(vae, "set_decode_dtype"):  # latent models: the VAE's decode precision
            vae.set_decode_dtype(decoder_dtype)
        self.asr = _check_asr(asr) if asr is not None else None
        self.max_ref_seconds = float(max_ref_seconds)
        self.max_total_seconds = max_total_seconds
        self.target_rms = target_rms
        self.cross_fade_seconds = cross_fade_seconds
        self.last_seed: int | None = None
        self.last_schedule: list[float] | None = None  # the ODE times of the last call, sway included
        self._references: OrderedDict[tuple, tuple[Reference, torch.Tensor]] = OrderedDict()

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike, device: str | torch.device = "cpu", **kwargs) -> "Synthesizer":
        """Load the TTS model dir and the decoder it names (its VAE, or Vocos) once."""
        model = TTSModel.from_pretrained(model_dir)
        space = model.load_feature_space(source=f"model dir {model_dir}")
        return cls(model, space, device, **kwargs)

    @property
    def sample_rate(self) -> int:
        return self.space.sample_rate

    @property
    def expected_vae(self) -> dict[str, str | None] | None:
        """The VAE this model's latents came from, as its config.json records it: ``{"name": hub id
        or folder name, "weights_sha256": ...}``; ``None`` for a mel model."""
        from svae_tts.model_card import expected_vae

        return expected_vae(self.model.config.feature)

    @property
    def max_positions(self) -> int | None:
        """Frames (reference + generated) the DiT can place: the length of its text embedding's
        position table (F5-TTS's ``precompute_max_pos``, 8192), None when it has none (no text conv layers)."""
        return getattr(self.model.cfm.transformer.text_embed, "precompute_max_pos", None)

    # -- reference -----------------------------------------------------------------------------
    def prepare_reference(self, ref_audio: str | os.PathLike | tuple, ref_text: str | None = None) -> Reference:
        """The cleaned reference and its transcript (``ref_text``, or the ASR's when it had to be cut;
        ``None`` when none was given and it was not cut: :meth:`synthesize` then asks the ASR model)."""
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
        wav = trim_silence(wav, sr_out)
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
        kept = trim_silence(wav[: cut_at_pause(wav, sr, int(self.max_ref_seconds * sr))], sr)
        kept_s = kept.numel() / sr
        if self.asr is None:
            raise TTSError(
                f"{name}: reference is {whole:.1f} s, over the {self.max_ref_seconds:g} s limit, and its transcript "
                f"would not match a cut; pass --max-ref-seconds {math.ceil(whole)} to use it whole, give a reference "
                f"under {self.max_ref_seconds:g} s with its transcript, or --asr CTC_MODEL to transcribe the part kept "
                f"(its first {kept_s:.1f} s, cut at a pause)")
        heard = self._transcribe_reference(
            kept, name, f"reference is {whole:.1f} s, over the {self.max_ref_seconds:g} s limit, and the part kept "
                        f"({kept_s:.1f} s) needs its own transcript")
        given = f" (the given one, {ref_text!r}, is of the whole)" if ref_text else " (none was given)"
        log.warning("%s: reference is %.1f s, cut at a pause to %.1f s; its transcript replaced by what %s heard "
                    "there: %r%s", name, whole, kept_s, self.asr, heard, given)
        return kept, heard

    def _transcribe_reference(self, wav: torch.Tensor, name: str, why: str) -> str:
        """What the ASR model hears in ``wav`` (the one transcription of a reference); ``why`` says
        why it was needed, for the errors: no ASR model given, or no words heard."""
        if self.asr is None:
            raise TTSError(f"{name}: {why}; pass --ref-text (its transcript) or --asr CTC_MODEL to transcribe it")
        from data_prep.ctc import transcribe

        heard = " ".join(transcribe(self.asr, [wav.cpu()], sample_rate=self.sample_rate, device=str(self.device))[0].split())
        if not heard:
            raise TTSError(f"{name}: {why}, and the ASR model {self.asr} heard no words in it; pass --ref-text")
        return heard

    def _encoded_reference(self, ref_audio, ref_text: str) -> tuple[Reference, torch.Tensor]:
        """The prepared reference (transcript filled in) and its features ``(1, T, D)``, from the
        cache when this reference was used before: cleaning, ASR and the VAE encode are the
        costly part of a short synthesis, and batch lists and the app repeat a few voices."""
        key = _reference_key(ref_audio, ref_text)
        if key is not None and key in self._references:
            self._references.move_to_end(key)
            return self._references[key]
        ref = self.prepare_reference(ref_audio, ref_text or None)
        if not ref.text:
            ref.text = self._transcribe_reference(ref.wav / ref.gain, ref.name, "no transcript was given")
            log.warning("%s: no transcript given; %s heard %r, which is used as the reference text "
                        "(pass --ref-text if it is wrong)", ref.name, self.asr, ref.text)
        cond = self.space.encode(ref.wav.to(self.device))[:, : self.space.num_frames(ref.wav.numel())]
        if key is not None:
            self._references[key] = (ref, cond)
            while len(self._references) > REFERENCE_CACHE:
                self._references.popitem(last=False)
        return ref, cond

    # -- text ----------------------------------------------------------------------------------
    def split_text(self, text: str, max_bytes: int) -> list[str]:
        """Sentences packed greedily into chunks of at most ``max_bytes`` (a long sentence splits at commas, then words)."""
        pieces = []
        for sent in re.split(r"(?<=[.!?;:。！？；])\s+", text):
            pieces.extend(_split_long(sent, max_bytes))
        return _pack(pieces, max_bytes)

    # -- synthesis -----------------------------------------------------------------------------
    @torch.no_grad()
    def synthesize(self, text: str, ref_audio, ref_text: str | None = None,
                   settings: SynthesisSettings | None = None, **options) -> torch.Tensor:
        """Speech for ``text`` in the voice of ``ref_audio`` (whose transcript is ``ref_text``; without
        one the ASR model transcribes the reference).

        How: ``settings`` (:class:`~tts_recipes.synthesis_settings.SynthesisSettings`, its defaults
        when not given), with any of its fields given as keywords (``nfe=16, seed=0``) replacing
        its value; every value is checked before the reference is read. ``duration`` (seconds of
        generated speech, the reference excluded) overrides the estimate from the reference's
        speaking rate and ``speed``. ``epss``: f5-tts's pruned step schedule where it has one for
        ``nfe`` (see :func:`sampling_times`). A reference used again (same file, unchanged, or same
        waveform, and same transcript) is not cleaned or encoded again.
        Returns ``(N,)`` float32 at ``sample_rate``.
        """
        s = dataclasses.replace(settings or SynthesisSettings(), **options)
        nfe, cfg_strength, sway, seed, speed, duration, epss = (s.nfe, s.cfg_strength, s.sway, s.seed, s.speed,
                                                                 s.duration, s.epss)
        text, ref_text = _check_request(text, ref_text, asr=self.asr)
        self._check_text(text, ref_text)
        ref, cond = self._encoded_reference(ref_audio, ref_text)
        ref_text = tts_text(ref.text)
        _warn_pace(ref_text, ref.wav.numel() / self.sample_rate, ref.name)
        if seed is None:
            seed = random.randrange(2**31)
            log.info("seed %d", seed)
        self.last_seed = seed
        self.last_schedule = sampling_times(nfe, epss, sway)

        ref_frames = cond.shape[1]
        ref_input = self.model.model_text(ref_text)
        chunks, gen_frames = self._plan_chunks(text, ref_input, ref_text, ref_frames, speed, duration)
        wavs = []
        for i, (chunk, n_gen) in enumerate(zip(chunks, gen_frames)):
            ids = self.model.vocab.encode([f"{ref_input} {chunk}"]).to(self.device)
            total = _total_frames(ids.shape[1], ref_frames + n_gen, duration, chunk_no=i + 1)
            check_positions(total, self.max_positions, f"chunk {i + 1} (reference and text, {total} frames)")
            devices = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                out, _ = self.model.cfm.sample(cond, ids, total, steps=nfe, cfg_strength=cfg_strength,
                                               sway_sampling_coef=sway, seed=seed + i, use_epss=epss)
            wav = self.space.decode(out[:, ref_frames:total])[0].float().cpu()
            wavs.append(wav / ref.gain)
        out = cross_fade(wavs, int(self.cross_fade_seconds * self.sample_rate))
        return out.clamp(-1.0, 1.0).contiguous()

    def _check_text(self, text: str, ref_text: str) -> None:
        """Refuse, before the reference is read, a text the model would read as nothing (mostly
        outside its vocabulary) and a transcript too long to place beside any text. The transcript's
        own unknown characters only warn (at encoding): the text, not the prompt, is what is heard."""
        if self.model.config.text_input == "phonemes":
            warn_other_script(text, self.model.config.phoneme_voice)
        check_readable(self.model.vocab, self.model.model_text(text))
        if ref_text:
            # the transcript, a space and at least one symbol of text, one frame per symbol at least
            ref_symbols = len(self.model.model_text(ref_text)) + 2
            check_positions(ref_symbols, self.max_positions, f"the reference transcript ({len(ref_text)} characters)")

    def _plan_chunks(self, text: str, ref_input: str, ref_text: str, ref_frames: int, speed: float,
                     duration: float | None) -> tuple[list[str], list[int]]:
        """The chunks of ``text`` as the model reads them (``model.model_text``, once each) and the
        frames to generate for each: all of ``text`` in exactly ``duration`` seconds when given,
        else chunks that fit the window beside the reference, each as long as the reference's
        speaking rate and ``speed`` say. ``ref_input`` is the reference transcript as the model
        reads it, ``ref_text`` as written."""
        space = self.space
        if duration is not None:
            return [self.model.model_text(text)], [max(1, round(duration * space.frame_rate))]
        # text is split where it is written (sentences, commas), at a size from its bytes ...
        frames_per_byte = ref_frames / (len(ref_text.encode()) + 1)
        room = max(int(self.max_total_seconds * space.frame_rate) - ref_frames,
                   int(MIN_ROOM_SECONDS * space.frame_rate))
        max_bytes = max(8, int(room * speed / frames_per_byte))
        chunks = [self.model.model_text(c) for c in self.split_text(text, max_bytes)]
        # ... and timed in the symbols the model reads: a model that spreads its text evenly over
        # the frames puts the reference/text boundary where the symbol counts say (phonemes drop
        # punctuation and spell out digits, so their count drifts from the text's bytes)
        frames_per_unit = ref_frames / (len(ref_input.encode()) + 1)
        return chunks, [max(1, math.ceil(frames_per_unit * len(c.encode()) / speed)) for c in chunks]

    # -- many lines ----------------------------------------------------------------------------
    def synthesize_batch(self, rows: Sequence[BatchRow], out_dir: str | os.PathLike, overwrite: bool = False,
                         settings: SynthesisSettings | None = None, **options) -> tuple[list[Path], list[tuple[str, str]]]:
        """Write ``out_dir/<name>.wav`` per row; bad rows are skipped and returned as (name, reason),
        and listed in ``skipped.tsv``. The settings are checked once, first: a bad one stops the batch,
        it is no row's fault. ``out_dir`` is new, empty or an earlier batch output, and a row whose
        file an earlier batch wrote is kept unless ``overwrite`` (:func:`check_batch_output`). When
        every row fails, nothing is left behind and :class:`NothingDone` says why in one line."""
        settings = dataclasses.replace(settings or SynthesisSettings(), **options)
        out_dir, manifest, present = check_batch_output(rows, out_dir, overwrite)
        created = make_output_dir(out_dir)
        manifest.claim(SYNTHESIZE_COMMAND)
        written, kept, skipped = [], [], []
        from tqdm import tqdm

        for row in tqdm(rows, desc="synthesize"):
            target = out_dir / f"{row.name}.wav"
            if target in present and not overwrite:
                kept.append(target)
                continue
            with item_boundary(row.name, log) as item:  # any failure, out of memory included, skips the row
                wav = self.synthesize(row.text, row.ref_audio, row.ref_text, settings)
                written.append(save_audio(target, wav, self.sample_rate, overwrite=True))
                manifest.add(SYNTHESIZE_COMMAND, target)
            if item.failed:
                skipped.append((row.name, item.reason))
        if skipped and not written and not kept:
            remove_created_dir(created)
            raise nothing_done(f"{SYNTHESIZE_COMMAND} --batch", skipped)
        listing = out_dir / SKIPPED_FILE
        if skipped:
            atomic_write_text(listing, "".join(f"{n}\t{r}\n" for n, r in skipped))
            manifest.add(SYNTHESIZE_COMMAND, listing)
        elif listing in present:  # the list of an earlier run, of rows since written or kept
            listing.unlink()
        return written, skipped


SYNTHESIZE_COMMAND = "synthesize"  # the command name in output manifests (single lines and --batch)
SKIPPED_FILE = "skipped.tsv"


def check_batch_output(rows: Sequence[BatchRow], out_dir: str | os.PathLike,
                       overwrite: bool = False) -> tuple[Path, OutputManifest, set[Path]]:
    """The output checks of a ``--batch`` run, before any model loads: ``out_dir`` is new, empty or an
    earlier output of ``synthesize`` (:func:`svae_tts.fileio.guard_output`), and no ``<name>.wav``
    (nor ``skipped.tsv``) there is a file someone else wrote. Returns the folder, its manifest and
    the outputs an earlier batch left."""
    out_dir = guard_output(out_dir, [r.ref_audio for r in rows], overwrite=overwrite, exists_ok=True,
                           command=SYNTHESIZE_COMMAND)
    manifest = OutputManifest.of(out_dir)
    present = manifest.existing(SYNTHESIZE_COMMAND, [*(out_dir / f"{r.name}.wav" for r in rows), out_dir / SKIPPED_FILE])
    return out_dir, manifest, present


def _reference_key(ref_audio, ref_text: str) -> tuple | None:
    """What identifies a reference for the cache: a file by its resolved path, size and mtime (an
    edited file is read again), a waveform by a hash of its samples and rate; ``None``: not cached."""
    if isinstance(ref_audio, (str, os.PathLike)):
        try:
            st = os.stat(ref_audio)
        except OSError:
            return None  # let prepare_reference report it
        return ("file", str(Path(ref_audio).resolve()), st.st_size, st.st_mtime_ns, ref_text)
    if isinstance(ref_audio, (tuple, list)) and len(ref_audio) == 2:
        try:
            wav = torch.as_tensor(ref_audio[0]).detach().float().cpu().contiguous()
            rate = int(ref_audio[1])
        except (TypeError, ValueError, RuntimeError):
            return None  # not a (waveform, rate) pair: prepare_reference says so in one line
        digest = hashlib.sha1(wav.numpy().tobytes()).hexdigest()
        return ("wave", digest, tuple(wav.shape), rate, ref_text)
    return None


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


def _check_request(text: str, ref_text: str | None, asr: str | None = None) -> tuple[str, str]:
    """The normalised text and reference transcript, once both are known to be usable (the numbers
    are :class:`SynthesisSettings`' to check): a bad one is refused before the reference is even
    read. An empty transcript is left for the ``asr`` model to fill, and refused when there is none."""
    text, ref_text = tts_text(text or ""), tts_text(ref_text or "")
    if not text:
        raise TTSError("text is empty")
    if not ref_text and asr is None:
        raise TTSError("ref_text is empty: pass --ref-text (the reference's transcript, needed to clone its "
                       "voice and pace) or --asr CTC_MODEL to transcribe the reference")
    if len(text) > MAX_TEXT_CHARS:
        raise TTSError(f"text has {len(text)} characters, over the limit of {MAX_TEXT_CHARS}; split it into several calls")
    return text, ref_text


def warn_other_script(text: str, voice: str) -> None:
    """Warn when most letters of ``text`` are not Latin while a phoneme model reads it through an
    eSpeak voice for a Latin-script language: eSpeak then spells the letters out by name (or drops
    them) in that voice, so the model speaks something, just not the text, and the characters-only
    vocabulary check cannot see it."""
    import unicodedata

    letters = [c for c in text if c.isalpha()]
    other = sorted({c for c in letters if not unicodedata.name(c, "").startswith("LATIN")})
    if letters and 2 * sum(c in other for c in letters) > len(letters):
        log.warning("most letters of the text (%s) are not Latin, and this model reads text through the eSpeak "
                    "voice %r: they will be spelled out or skipped, not spoken as written", "".join(other[:10]), voice)


def _warn_pace(ref_text: str, seconds: float, name: str) -> None:
    """Warn when the transcript's characters per second of reference are outside a speaking pace
    (``MIN/MAX_REF_CHARS_PER_SECOND``): the transcript is then probably not of this clip."""
    rate = len(ref_text) / max(seconds, 1e-6)
    if not MIN_REF_CHARS_PER_SECOND <= rate <= MAX_REF_CHARS_PER_SECOND:
        log.warning("%s: its transcript has %d characters for %.1f s of audio (%.1f a second; speech runs "
                    "%g-%g); if it is not this clip's transcript the output's length and pace will be wrong",
                    name, len(ref_text), seconds, rate, MIN_REF_CHARS_PER_SECOND, MAX_REF_CHARS_PER_SECOND)


def _total_frames(n_ids: int, total: int, duration: float | None, chunk_no: int) -> int:
    """Frames of reference + chunk to sample: the model needs at least one per text token, so an
    estimate too short for the text is lengthened (with a warning), while a ``duration`` the text
    does not fit is refused, since the caller asked for exactly that length."""
    if duration is not None:
        check_fits(n_ids, total, what=f"reference text + text ({duration:g} s requested)")
    elif n_ids > total:
        log.warning("chunk %d: %d text symbols do not fit the %d frames estimated from the reference's "
                    "rate; lengthened to %d frames", chunk_no, n_ids, total, n_ids + 1)
        total = n_ids + 1
    return total


def _check_asr(asr: str | os.PathLike) -> str:
    """A CTC model that writes text (not phonemes), loaded once now so a bad one fails before any work."""
    from data_prep.ctc import CTC_FILES, ctc_info

    try:
        folder = model_folder(asr, CTC_FILES)
    except CheckpointError as exc:
        raise TTSError(f"asr model {exc}") from None
    try:
        targets = ctc_info(folder).get("targets", "char")
    except SvaeError as exc:
        raise TTSError(f"asr model: {exc}") from None
    if targets != "char":
        raise TTSError(f"asr model {asr}: this CTC model writes {targets}s, not text; give a character model")
    return str(asr)


__all__ = ["Synthesizer", "Reference", "MAX_TEXT_CHARS", "SynthesisSettings", "sampling_times"]
