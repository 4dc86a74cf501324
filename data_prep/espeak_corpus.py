"""The embedded offline corpus: English speech synthesised in-process with eSpeak NG.

A "speaker" is an English accent + voice variant + fixed pitch, pitch range, rate and word gap,
all drawn from ``seed``; every utterance of a speaker uses the same settings, so speaker identity
is consistent and held-out speakers are genuinely unseen voices. Text comes from
:class:`data_prep.sentences.SentenceGenerator`; the eSpeak IPA is stored as ``phonemes``.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import numpy as np
import soundfile as sf
import soxr
from tqdm.auto import tqdm

from data_prep.corpus import SplitSpec, ValidationLimits, build_corpus_dir
from data_prep.espeak import VoiceParams, get_engine
from data_prep.sentences import SentenceGenerator

log = logging.getLogger(__name__)

ACCENTS = ("en-us", "en-us", "en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc")
# variants that sound like plausible human voices (the robotic/whisper/croak ones are left out)
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
            "Andy", "Annie", "Alex", "Alicia", "Andrea", "Denis", "Gene", "Jacky", "Lee", "Michael",
            "Mike", "Reed", "adam", "anika", "belinda", "benjamin", "caleb", "david", "ed", "edward",
            "iven", "john", "linda", "max", "norbert", "paul", "robert", "steph", "travis", "victor", "zac")


@dataclass
class ESpeakCorpusConfig:
    hours: float = 1.0
    voices: int = 24  # number of speakers
    seed: int = 0
    sample_rate: int = 16_000
    min_words: int = 3
    max_words: int = 24
    test_speakers: int = 0  # > 0: hold out that many speakers as the test split
    test_size: float = 0.05  # otherwise: this fraction of utterances
    max_utterances: int | None = None  # stop early (tests)
    with_phonemes: bool = True


def make_speakers(n: int, seed: int) -> list[VoiceParams]:
    """``n`` distinct speakers (accent+variant pairs are unique until all are used)."""
    rng = random.Random(seed * 7919 + 17)
    pairs = [(a, v) for a in sorted(set(ACCENTS)) for v in VARIANTS]
    rng.shuffle(pairs)
    # favour en-us so most of the corpus shares one phoneme inventory
    pairs.sort(key=lambda p: 0 if p[0] == "en-us" and rng.random() < 0.5 else 1)
    out = []
    for i in range(n):
        accent, variant = pairs[i % len(pairs)]
        out.append(VoiceParams(
            voice=f"{accent}+{variant}",
            rate=rng.randint(140, 210),
            pitch=rng.randint(25, 75),
            range=rng.randint(30, 80),
            wordgap=rng.choice((0, 0, 0, 1)),
        ))
    return out


def synth_utterance(text: str, speaker: VoiceParams, sample_rate: int) -> np.ndarray:
    engine = get_engine()
    wav = engine.synth(text, speaker)
    if sample_rate != engine.sample_rate and wav.size:
        wav = soxr.resample(wav, engine.sample_rate, sample_rate, quality="HQ").astype(np.float32)
    return np.clip(wav, -1.0, 1.0)


def generate_items(cfg: ESpeakCorpusConfig, wav_dir: Path) -> list[dict]:
    """Synthesise utterances round-robin over speakers until ``cfg.hours`` of audio exist."""
    wav_dir.mkdir(parents=True, exist_ok=True)
    engine = get_engine()
    speakers = make_speakers(cfg.voices, cfg.seed)
    gen = SentenceGenerator(cfg.seed, cfg.min_words, cfg.max_words)
    target = cfg.hours * 3600.0
    total, items, i = 0.0, [], 0
    bar = tqdm(total=round(target), desc="eSpeak corpus", unit="audio-s")
    while total < target and (cfg.max_utterances is None or i < cfg.max_utterances):
        spk_idx = i % len(speakers)
        spk = speakers[spk_idx]
        text = gen.sentence()
        wav = synth_utterance(text, spk, cfg.sample_rate)
        uid = f"spk{spk_idx:03d}_{i:06d}"
        path = wav_dir / f"{uid}.wav"
        sf.write(str(path), wav, cfg.sample_rate, subtype="PCM_16")
        dur = wav.shape[0] / cfg.sample_rate
        item = {"id": uid, "audio": str(path.resolve()), "text": text, "speaker": f"spk{spk_idx:03d}",
                "duration": float(dur), "sample_rate": cfg.sample_rate}
        if cfg.with_phonemes:
            item["phonemes"] = engine.phonemes(text, spk.voice.split("+")[0])
        items.append(item)
        total += dur
        bar.update(round(dur))
        i += 1
    bar.close()
    return items


def build_espeak_corpus(
    out_dir: str | os.PathLike,
    cfg: ESpeakCorpusConfig | None = None,
    overwrite: bool = False,
    **overrides,
) -> datasets.DatasetDict:
    """Build (or reuse, when the same config already built ``out_dir``) the eSpeak corpus."""
    cfg = cfg or ESpeakCorpusConfig(**overrides)
    params = {"source": "espeak-ng", "kind": "espeak", "config": asdict(cfg)}
    split = SplitSpec(test_size=cfg.test_size, test_speakers=cfg.test_speakers, seed=cfg.seed)
    limits = ValidationLimits(min_duration=0.1, max_duration=60.0)
    # generated audio is checked as it is made (finite by construction): skip re-reading it
    return build_corpus_dir(out_dir, lambda tmp: (generate_items(cfg, tmp / "wavs"), []), params,
                            split=split, limits=limits, overwrite=overwrite, validate=False)
