"""In-process eSpeak NG through the ``espeakng-loader`` wheel (ctypes, no system packages).

Why our own wrapper: the Python bindings on PyPI either need a system libespeak-ng or only do
phonemisation; we need raw audio from many voice variants, deterministic, inside one process.
eSpeak keeps global state, so a single :class:`ESpeak` per process is shared (``get_engine``)
and every call sets voice, rate and pitch afresh; it is *not* thread-safe (use processes).
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from data_prep.errors import DataError

# this module stays light (no torch/datasets imports): corpus workers are spawned processes

# enums from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_PARAM_WORDGAP = 7
_PHONEMES_IPA = 0x02
_EE_OK = 0

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class VoiceParams:
    """One eSpeak "speaker": a voice name with a variant and fixed prosody settings."""

    voice: str = "en-us"  # e.g. "en-us+f3"
    rate: int = 175  # words per minute (80..450)
    pitch: int = 50  # base pitch 0..100
    range: int = 50  # pitch range 0..100
    wordgap: int = 0  # extra pause between words, units of 10 ms


class ESpeak:
    """A handle on the process-wide eSpeak NG engine."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - dependency of the project
            raise DataError("espeak: the espeakng-loader package is not installed (pip install espeakng-loader)") from exc
        lib_path = espeakng_loader.get_library_path()
        try:
            self.lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            raise DataError(f"espeak: cannot load {lib_path} ({exc})") from None
        data = espeakng_loader.get_data_path()
        self.data_path = data
        lib = self.lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        # eSpeak draws random numbers (flutter, noise, timing jitter) from its own generator and
        # from libc rand(): both are reseeded before every utterance so synthesis is reproducible
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.argtypes = [ctypes.c_long]
        self._libc = ctypes.CDLL(None)
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), 0)
        if rate <= 0:
            raise DataError(f"espeak: initialisation failed with data at {data}")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        # keep a reference: ctypes callbacks must outlive their use
        self._cb = _CALLBACK(self._collect)
        lib.espeak_SetSynthCallback(self._cb)
        self._lock = threading.Lock()

    def _collect(self, wav, numsamples, events) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        return 0

    def set_voice(self, params: VoiceParams) -> None:
        if self.lib.espeak_SetVoiceByName(params.voice.encode()) != _EE_OK:
            raise DataError(f"espeak: unknown voice {params.voice!r}")
        for key, value in ((_PARAM_RATE, params.rate), (_PARAM_PITCH, params.pitch),
                           (_PARAM_RANGE, params.range), (_PARAM_WORDGAP, params.wordgap),
                           (_PARAM_VOLUME, 100)):
            if self.lib.espeak_SetParameter(key, int(value), 0) != _EE_OK:
                raise DataError(f"espeak: cannot set parameter {key} to {value}")

    def seed(self, seed: int) -> None:
        seed = int(seed) & 0x7FFFFFFF
        if self._set_seed is not None:
            self._set_seed(seed)
        self._libc.srand(ctypes.c_uint(seed))

    def synth(self, text: str, params: VoiceParams, seed: int = 0) -> np.ndarray:
        """Speak ``text``; returns float32 samples in [-1, 1] at :attr:`sample_rate` (22,050 Hz).

        Same text, voice and ``seed`` give the same samples."""
        if not text.strip():
            raise DataError("espeak: empty text")
        with self._lock:
            self.set_voice(params)
            self.seed(seed)
            self._chunks = []
            buf = ctypes.create_string_buffer(text.encode("utf-8"))
            err = self.lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if err != _EE_OK:
                raise DataError(f"espeak: synthesis failed (error {err}) for {text[:40]!r}")
            self.lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32) / 32768.0

    def phonemes(self, text: str, voice: str = "en-us") -> str:
        """IPA of ``text`` as eSpeak pronounces it with ``voice`` (clauses joined by spaces)."""
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise DataError(f"espeak: unknown voice {voice!r}")
            buf = ctypes.create_string_buffer(text.encode("utf-8"))
            ptr = ctypes.c_void_p(ctypes.addressof(buf))
            parts = []
            while ptr.value:
                out = self.lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, _PHONEMES_IPA)
                if out:
                    parts.append(out.decode("utf-8").strip())
        return " ".join(p for p in parts if p)

    def variants(self) -> list[str]:
        """Names of the voice variants shipped in the data folder (``voices/!v``)."""
        folder = Path(self.data_path) / "voices" / "!v"
        return sorted(p.name for p in folder.iterdir() if p.is_file())


_ENGINE: ESpeak | None = None


def get_engine() -> ESpeak:
    """The process-wide engine (eSpeak cannot be initialised twice in one process)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = ESpeak()
    return _ENGINE


def synth_utterance(text: str, speaker: VoiceParams, sample_rate: int, seed: int = 0) -> np.ndarray:
    """``text`` spoken by ``speaker`` at ``sample_rate``. The engine keeps state from one call to the
    next (the same sentence and voice twice in a row can differ by a few samples), so what must
    repeat exactly is synthesised in a fresh process, as :func:`synth_chunk`'s callers do."""
    engine = get_engine()
    wav = engine.synth(text, speaker, seed)
    if sample_rate != engine.sample_rate and wav.size:
        wav = soxr.resample(wav, engine.sample_rate, sample_rate, quality="HQ").astype(np.float32)
    return np.clip(wav, -1.0, 1.0)


def speaker_name(k: int) -> str:
    """The corpus name of speaker ``k`` (the eSpeak corpus's held-out choice and its items share it)."""
    return f"spk{k:03d}"


def synth_chunk(job: dict) -> list[dict]:
    """Synthesise one chunk of utterances; runs in a fresh process (see ``espeak_corpus.generate_items``)."""
    engine = get_engine()
    wav_dir = Path(job["wav_dir"])
    sr = job["sample_rate"]
    out = []
    for i, text, spk_idx, params, seed in job["utts"]:
        spk = VoiceParams(**params)
        wav = synth_utterance(text, spk, sr, seed)
        uid = f"{speaker_name(spk_idx)}_{i:06d}"
        path = wav_dir / f"{uid}.wav"
        sf.write(str(path), wav, sr, subtype="PCM_16")
        item = {"id": uid, "audio": str(path.resolve()), "text": text, "speaker": speaker_name(spk_idx),
                "duration": wav.shape[0] / sr, "sample_rate": sr}
        if job["with_phonemes"]:
            item["phonemes"] = engine.phonemes(text, spk.voice.split("+")[0])
        out.append(item)
    return out
