"""Small builders several test files share (fixtures stay in the files; these make what they return).

``make_corpus`` writes harmonic "utterances" (one pitch per character, so text and sound relate)
as a corpus; ``make_latent_set`` encodes a corpus with a VAE into a latent set, so the TTS stage
can be tested on its own (no downloads, seconds on CPU).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from svae_tts.audio import load_audio, save_audio


class PlantedCode:
    """Unpickling this creates ``marker``: stands for any code a hostile pickle would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def save_tiny_wavlm(d: Path, hidden: int = 24, layers: int = 2, conv: int = 16) -> Path:
    """A randomly initialised WavLM (seed 0) with its feature extractor: a real teacher, tiny."""
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    torch.manual_seed(0)
    cfg = WavLMConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=2 * hidden,
                      conv_dim=(conv,) * 3, conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4),
                      num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, feat_extract_norm="layer",
                      do_stable_layer_norm=True, num_buckets=16, max_bucket_distance=64)
    WavLMModel(cfg).eval().save_pretrained(str(d))
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True).save_pretrained(str(d))
    return d


def save_tiny_vae(d: Path) -> Path:
    """The tiny VAE preset with seed-0 weights, saved as a model dir."""
    from vae import SemanticVAE

    torch.manual_seed(0)
    SemanticVAE.from_preset("tiny").save_pretrained(d)
    return d


def write_tone_list(folder: Path, count: int, sr: int = 16000) -> Path:
    """``count`` short tones (0.3 s, 0.4 s, ...) by two speakers and the CSV that lists them."""
    import numpy as np
    import soundfile as sf

    lines = ["path,text,speaker"]
    for k in range(count):
        t = np.arange(int((0.3 + 0.1 * k) * sr)) / sr
        sf.write(folder / f"u{k}.wav", (0.3 * np.sin(2 * np.pi * (150 + 40 * k) * t)).astype(np.float32), sr)
        lines.append(f"u{k}.wav,sentence number {k},s{k % 2}")
    (folder / "list.csv").write_text("\n".join(lines) + "\n")
    return folder / "list.csv"


WORDS = ["a", "big", "cat", "sat", "on", "the", "mat", "and", "dog", "ran", "far", "away", "sun", "is", "hot"]


def tone_for_text(text: str, sample_rate: int, chars_per_second: float = 12.0, seed: int = 0,
                  pitch: float = 1.0) -> torch.Tensor:
    """One harmonic tone per character; ``pitch`` scales every tone, so another value is another voice."""
    g = np.random.default_rng(seed)
    per = int(sample_rate / chars_per_second)
    t = np.arange(per) / sample_rate
    env = np.hanning(per)
    pieces = []
    for c in text:
        if c == " ":
            pieces.append(np.zeros(per))
            continue
        f0 = pitch * (110 + 9 * (ord(c) % 32))
        wave = sum(np.sin(2 * math.pi * f0 * k * t) / k for k in (1, 2, 3))
        pieces.append(0.3 * env * wave + 0.005 * g.standard_normal(per))
    return torch.from_numpy(np.concatenate(pieces).astype(np.float32))


def make_corpus(directory: str | os.PathLike, n_train: int = 6, n_test: int = 2, sample_rate: int = 16000,
                seed: int = 0, words: list[str] | None = None, pitch: float = 1.0):
    """``words``: the texts' vocabulary (``WORDS``); ``pitch``: the "voice" (see :func:`tone_for_text`)."""
    from datasets import Dataset, DatasetDict

    directory = Path(directory)
    rng = np.random.default_rng(seed)
    splits = {}
    for split, n in (("train", n_train), ("test", n_test)):
        rows = []
        for i in range(n):
            text = " ".join(rng.choice(words or WORDS, size=int(rng.integers(2, 5))))
            wav = tone_for_text(text, sample_rate, seed=seed + i, pitch=pitch)
            uid = f"{split}_{i:03d}"
            path = (directory / "wavs" / f"{uid}.wav").absolute()
            save_audio(path, wav, sample_rate, overwrite=True)
            rows.append({"id": uid, "audio": str(path), "text": text, "speaker": f"spk{i % 2}",
                         "duration": len(wav) / sample_rate, "sample_rate": sample_rate})
        splits[split] = Dataset.from_list(rows)
    dsd = DatasetDict(splits)
    dsd.save_to_disk(str(directory / "corpus"))
    return directory / "corpus", dsd


def make_latent_set(directory: str | os.PathLike, corpus, vae, vae_ref: str) -> Path:
    """``corpus`` (a DatasetDict) encoded by ``vae`` (posterior mean, the padded encode every stage
    uses) into a latent set written by the format's own writer: ``data_prep.latents`` without its
    sharded, multi-process job around it."""
    from svae_tts.formats.latent_set import write_latent_set

    rows, latents = [], {}
    for split in corpus:
        for row in corpus[split]:
            wav, _ = load_audio(row["audio"], vae.sample_rate)
            latents[row["id"]] = vae.encode_clips([wav])[0]
            rows.append({**row, "split": split})
    write_latent_set(directory, rows, latents.__getitem__,
                     {"vae": vae_ref, "frame_rate": vae.frame_rate, "latent_dim": vae.latent_dim,
                      "sample_rate": vae.sample_rate})
    return Path(directory)


def save_tiny_release(folder: Path, seed: int = 0) -> Path:
    """A release folder in the Semantic-VAE release format (``metainfo.json`` + ``dac/ema_state_dict.pth``
    with ema-pytorch's ``ema_model.`` keys and bookkeeping) holding the tiny preset's architecture:
    what ``vae import`` reads, small enough to import in a second. The release fixes 8 attention heads."""
    import json
    from dataclasses import asdict

    from vae import SemanticVAE
    from vae.config import load_preset

    cfg = load_preset("tiny", ["attn_heads=8"])
    torch.manual_seed(seed)
    state = SemanticVAE(cfg).state_dict()
    meta = {"DAC": {"sample_rate": cfg.sample_rate, "encoder_dim": cfg.encoder_dim, "encoder_rates": cfg.encoder_rates,
                    "latent_dim": cfg.encoder_out_dim, "vae_dim": cfg.latent_dim, "decoder_type": "bigvgan",
                    "distill": True},
            "Decoder": asdict(cfg.decoder)}
    (folder / "dac").mkdir(parents=True)
    (folder / "metainfo.json").write_text(json.dumps(meta))
    write_release_ema(folder, state, step=7)
    return folder


def write_release_ema(folder: Path, state: dict, step: int) -> Path:
    """``dac/ema_state_dict.pth`` as ema-pytorch saves it: ``ema_model.<key>`` plus its bookkeeping."""
    ema = {f"ema_model.{k}": v for k, v in state.items()}
    ema.update(initted=torch.tensor(True), step=torch.tensor(step))
    torch.save(ema, folder / "dac" / "ema_state_dict.pth")
    return folder / "dac" / "ema_state_dict.pth"


HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def put_in_hub_cache(cache: Path, repo_id: str, source: Path, subfolder: str = "",
                     commit: str = HUB_COMMIT) -> Path:
    """Lay ``source`` out as ``repo_id`` (at ``subfolder``) in a Hugging Face hub cache, as a download
    leaves it: ``models--owner--name/snapshots/<commit>/...`` and ``refs/main`` naming the commit, so
    ``snapshot_download`` with ``HF_HUB_OFFLINE=1`` finds it there without any network."""
    import shutil

    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    shutil.copytree(source, snapshot / subfolder if subfolder else snapshot, dirs_exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot
