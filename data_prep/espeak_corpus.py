"""The embedded offline corpus: English speech synthesised in-process with eSpeak NG.

A "speaker" is an English accent + voice variant + fixed pitch, pitch range, rate and word gap,
all drawn from ``seed``; every utterance of a speaker uses the same settings, so speaker identity
is consistent and held-out speakers are genuinely unseen voices. Text comes from
:class:`data_prep.sentences.SentenceGenerator`; the eSpeak IPA is stored as ``phonemes``.

Held-out text: dev and test speakers read sentences of the held-out vocabulary (each holds a word
the train sentences never use), from streams of their own, so no dev or test sentence is a
training sentence and dev and test sentences differ too; :func:`check_heldout_text` asserts it.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
from tqdm.auto import tqdm

from data_prep.corpus import SplitSpec, ValidationLimits, build_corpus_dir, check_test_size, held_out_speakers
from data_prep.errors import DataError
from data_prep.espeak import VoiceParams, speaker_name, synth_chunk
from data_prep.sentences import MAX_MIN_WORDS, SentenceGenerator, normalise
from svae_tts.config import Checked, in_range, nonneg, positive, ranged, sample_rate_field, seed_field
from svae_tts.errors import ConfigError

log = logging.getLogger(__name__)

TEXT_VERSION = 2  # 2: held-out vocabulary for dev/test speakers (a corpus built before is rebuilt)
# each split's sentence stream is seeded apart (seed + offset); train keeps the corpus seed itself
TEXT_STREAMS = {"train": 0, "dev": 1_000_003, "test": 2_000_006}
MAX_VOICES = 10_000  # speakers are drawn per voice; far beyond the 300-odd accent x variant pairs
ACCENTS = ("en-us", "en-us", "en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc")
# variants that sound like plausible human voices (the robotic/whisper/croak ones are left out)
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
            "Andy", "Annie", "Alex", "Alicia", "Andrea", "Denis", "Gene", "Jacky", "Lee", "Michael",
            "Mike", "Reed", "adam", "anika", "belinda", "benjamin", "caleb", "david", "ed", "edward",
            "iven", "john", "linda", "max", "norbert", "paul", "robert", "steph", "travis", "victor", "zac")


@dataclass
class ESpeakCorpusConfig(Checked):
    hours: float = positive(1.0)
    voices: int = in_range(24, 1, MAX_VOICES)  # number of speakers
    seed: int = seed_field(0)
    sample_rate: int = sample_rate_field(16_000)
    min_words: int = in_range(3, 1, MAX_MIN_WORDS)
    max_words: int = ranged(24, ge=2)
    test_speakers: int = nonneg(0)  # > 0: hold out that many speakers as the test split
    dev_speakers: int = nonneg(0)  # > 0 (needs test_speakers): that many more as the dev split
    test_size: float = nonneg(0.05)  # otherwise: this fraction (< 1) or count of utterances; 0 = none
    max_utterances: int | None = positive(None)  # stop early (tests)
    with_phonemes: bool = True

    ORDERED = (("min_words", "max_words"),)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_test_size(self.test_size)
        if self.test_speakers + self.dev_speakers >= self.voices:
            raise ConfigError(f"test_speakers + dev_speakers ({self.test_speakers} + {self.dev_speakers}) must be "
                              f"fewer than voices ({self.voices}): the train split needs at least one speaker")
        self.split_spec()  # dev speakers need test speakers

    def split_spec(self) -> SplitSpec:
        return SplitSpec(test_size=self.test_size, test_speakers=self.test_speakers, seed=self.seed,
                         dev_speakers=self.dev_speakers)


def speaker_splits(cfg: ESpeakCorpusConfig) -> list[str]:
    """The split of each speaker index, as the corpus split will make it (same choice, one function)."""
    held = held_out_speakers([speaker_name(k) for k in range(cfg.voices)], cfg.split_spec())
    by_name = {name: split for split, names in held.items() for name in names}
    return [by_name.get(speaker_name(k), "train") for k in range(cfg.voices)]


def check_heldout_text(items: list[dict], splits: list[str]) -> None:
    """No dev or test sentence equals (normalised) a train sentence; true by construction, guarded here."""
    split_of = {speaker_name(k): split for k, split in enumerate(splits)}
    train = {normalise(it["text"]) for it in items if split_of[it["speaker"]] == "train"}
    for it in items:
        if split_of[it["speaker"]] != "train" and normalise(it["text"]) in train:
            raise DataError(f"held-out sentence {it['text']!r} ({it['id']}) is also a training sentence")


def sentence_streams(cfg: ESpeakCorpusConfig) -> dict[str, SentenceGenerator]:
    """One generator per split: train words for train, the held-out vocabulary for dev and test."""
    return {split: SentenceGenerator(cfg.seed + offset, cfg.min_words, cfg.max_words,
                                     "train" if split == "train" else "heldout")
            for split, offset in TEXT_STREAMS.items()}


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


def generate_items(cfg: ESpeakCorpusConfig, wav_dir: Path, num_proc: int = 1, chunk_size: int = 120) -> list[dict]:
    """Synthesise utterances round-robin over speakers until ``cfg.hours`` of audio exist.

    eSpeak NG keeps process-wide synthesis state between utterances (pitch-flutter phase, echo
    buffer, AGC), which its API cannot reset, so an utterance depends on everything synthesised
    before it in the process. For results that depend on the seed alone, every chunk of
    ``chunk_size`` utterances is made in a fresh worker process (``maxtasksperchild=1``); chunks
    are fixed by index, so ``num_proc`` changes speed, not output.
    """
    import multiprocessing as mp

    wav_dir.mkdir(parents=True, exist_ok=True)
    speakers = make_speakers(cfg.voices, cfg.seed)
    splits = speaker_splits(cfg)
    streams = sentence_streams(cfg)
    target = cfg.hours * 3600.0
    limit = cfg.max_utterances if cfg.max_utterances is not None else 10**9
    total, items, next_idx = 0.0, [], 0
    bar = tqdm(total=round(target), desc="eSpeak corpus", unit="audio-s")
    ctx = mp.get_context("spawn")
    with ctx.Pool(max(1, num_proc), maxtasksperchild=1) as pool:
        while total < target and next_idx < limit:
            # enough chunks for the remaining time at ~2.5 s an utterance, at least one per worker
            need = min(limit - next_idx, max(int((target - total) / 2.5 * 1.1) + 1, 1))
            n_chunks = max(1, min(max(1, num_proc), -(-need // chunk_size)))
            jobs = []
            for _ in range(n_chunks):
                utts = []
                for _ in range(min(chunk_size, limit - next_idx)):
                    k = next_idx % len(speakers)
                    text = streams[splits[k]].sentence()
                    utts.append((next_idx, text, k, asdict(speakers[k]), cfg.seed * 1_000_003 + next_idx))
                    next_idx += 1
                if utts:
                    jobs.append({"utts": utts, "wav_dir": str(wav_dir), "sample_rate": cfg.sample_rate,
                                 "with_phonemes": cfg.with_phonemes})
            for chunk in pool.imap(synth_chunk, jobs):
                for item in chunk:
                    if total >= target:  # past the target: drop (deterministically) what is not needed
                        Path(item["audio"]).unlink(missing_ok=True)
                        continue
                    items.append(item)
                    total += item["duration"]
                    bar.update(round(item["duration"]))
    bar.close()
    check_heldout_text(items, splits)
    return items


def build_espeak_corpus(
    out_dir: str | os.PathLike,
    cfg: ESpeakCorpusConfig | None = None,
    overwrite: bool = False,
    num_proc: int = 1,
    **overrides,
) -> datasets.DatasetDict:
    """Build (or reuse, when the same config already built ``out_dir``) the eSpeak corpus.

    ``num_proc`` worker processes synthesise in parallel; the output does not depend on it."""
    cfg = cfg or ESpeakCorpusConfig(**overrides)
    params = {"source": "espeak-ng", "kind": "espeak", "config": asdict(cfg), "text_version": TEXT_VERSION}
    limits = ValidationLimits(min_duration=0.1, max_duration=60.0)
    # generated audio is checked as it is made (finite by construction): skip re-reading it; the
    # split draws held-out speakers from all voices, as generate_items did (some may have no audio)
    return build_corpus_dir(out_dir, lambda tmp: (generate_items(cfg, tmp / "wavs", num_proc), []), params,
                            split=cfg.split_spec(), limits=limits, overwrite=overwrite, validate=False,
                            speakers=[speaker_name(k) for k in range(cfg.voices)])
