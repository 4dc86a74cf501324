"""Small synthetic data in the project's formats, for tests and benchmarks (no downloads, seconds on CPU).

``make_corpus`` writes harmonic "utterances" (one pitch per character, so text and sound relate)
as a corpus per the contract; ``make_latent_set`` encodes a corpus with a VAE (posterior mean)
into a latent set per the contract (DatasetDict + latent_stats.safetensors + latent_info.json).
Real data comes from ``data_prep``; these exist so the TTS stage can be tested on its own.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from svae_tts.audio import load_audio, save_audio
from svae_tts.checkpoint import save_state_dict

WORDS = ["a", "big", "cat", "sat", "on", "the", "mat", "and", "dog", "ran", "far", "away", "sun", "is", "hot"]


def tone_for_text(text: str, sample_rate: int, chars_per_second: float = 12.0, seed: int = 0) -> torch.Tensor:
    g = np.random.default_rng(seed)
    per = int(sample_rate / chars_per_second)
    t = np.arange(per) / sample_rate
    env = np.hanning(per)
    pieces = []
    for c in text:
        if c == " ":
            pieces.append(np.zeros(per))
            continue
        f0 = 110 + 9 * (ord(c) % 32)
        wave = sum(np.sin(2 * math.pi * f0 * k * t) / k for k in (1, 2, 3))
        pieces.append(0.3 * env * wave + 0.005 * g.standard_normal(per))
    return torch.from_numpy(np.concatenate(pieces).astype(np.float32))


def make_corpus(directory: str | os.PathLike, n_train: int = 6, n_test: int = 2, sample_rate: int = 16000,
                seed: int = 0):
    from datasets import Dataset, DatasetDict

    directory = Path(directory)
    rng = np.random.default_rng(seed)
    splits = {}
    for split, n in (("train", n_train), ("test", n_test)):
        rows = []
        for i in range(n):
            text = " ".join(rng.choice(WORDS, size=int(rng.integers(2, 5))))
            wav = tone_for_text(text, sample_rate, seed=seed + i)
            uid = f"{split}_{i:03d}"
            path = (directory / "wavs" / f"{uid}.wav").absolute()
            save_audio(path, wav, sample_rate, overwrite=True)
            rows.append({"id": uid, "audio": str(path), "text": text, "speaker": f"spk{i % 2}",
                         "duration": len(wav) / sample_rate, "sample_rate": sample_rate})
        splits[split] = Dataset.from_list(rows)
    dsd = DatasetDict(splits)
    dsd.save_to_disk(str(directory / "corpus"))
    return directory / "corpus", dsd


@torch.no_grad()
def make_latent_set(directory: str | os.PathLike, corpus, vae, vae_ref: str) -> Path:
    from datasets import Dataset, DatasetDict

    from data_prep.latents import encode_batch

    directory = Path(directory)
    splits, all_z = {}, []
    for split in corpus:
        rows = []
        for row in corpus[split]:
            wav, _ = load_audio(row["audio"], vae.sample_rate)
            z = encode_batch(vae, [wav])[0]  # as data_prep encodes (same end padding)
            if split == "train":
                all_z.append(z)
            rows.append({"id": row["id"], "latents": z.tolist(), "text": row["text"], "speaker": row["speaker"],
                         "duration": row["duration"]})
        splits[split] = Dataset.from_list(rows)
    DatasetDict(splits).save_to_disk(str(directory))
    cat = torch.cat(all_z)
    save_state_dict({"mean": cat.mean(0), "std": cat.std(0).clamp_min(1e-5)}, directory / "latent_stats.safetensors")
    (directory / "latent_info.json").write_text(json.dumps({"vae": vae_ref, "frame_rate": vae.frame_rate,
                                                            "latent_dim": vae.latent_dim, "sample_rate": vae.sample_rate}))
    return directory
