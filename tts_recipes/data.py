"""Training data: (features, text) pairs from a latent set or a corpus, batched by total frames.

Two sources, one interface (``get_frame_len`` for F5-TTS's ``DynamicBatchSampler``):
- a latent set (``data_prep`` output: latents ``(T, D)`` per utterance + stats + the VAE it came
  from), held in memory, normalised once;
- a corpus of audio files, encoded on the fly by the feature space (the mel baseline).
Utterances whose text has more symbols (characters or phonemes) than frames are dropped with a
warning, because F5's DiT would silently cut their text.
"""

from __future__ import annotations

import logging
from typing import Sequence

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from svae_tts.audio import load_audio
from tts_recipes.errors import TTSError
from tts_recipes.feature_space import FeatureSpace
from tts_recipes.text import Vocabulary, model_text

log = logging.getLogger(__name__)


# -- datasets -----------------------------------------------------------------------------------
class LatentTTSDataset(Dataset):
    """Utterances held in memory as normalised ``(T, D)`` tensors."""

    def __init__(self, ids: Sequence[str], feats: Sequence[torch.Tensor], texts: Sequence[str]):
        """``texts`` are what the model reads (:func:`tts_recipes.text.model_text`)."""
        self.ids, self.feats, self.texts = list(ids), list(feats), list(texts)

    @classmethod
    def from_split(cls, split, space, min_frames: int = 1, max_frames: int = 0, text_input: str = "characters",
                   voice: str = "en-us") -> "LatentTTSDataset":
        ids, feats, texts, dropped = [], [], [], []
        for row in split:
            z = torch.as_tensor(row["latents"], dtype=torch.float32)
            if z.dim() != 2 or z.shape[-1] != space.dim:
                raise TTSError(f"latent set item {row['id']}: latents of shape {tuple(z.shape)}, expected (T, {space.dim})")
            text = model_text(row["text"], text_input, voice)
            reason = _drop_reason(text, z.shape[0], min_frames, max_frames)
            if reason:
                dropped.append((row["id"], reason))
                continue
            ids.append(row["id"])
            feats.append(space.normalize(z))
            texts.append(text)
        _report_dropped(dropped)
        return cls(ids, feats, texts)

    def __len__(self) -> int:
        return len(self.ids)

    def get_frame_len(self, idx: int) -> int:
        return int(self.feats[idx].shape[0])

    def __getitem__(self, idx: int) -> dict:
        return {"id": self.ids[idx], "feats": self.feats[idx], "text": self.texts[idx]}


class AudioTTSDataset(Dataset):
    """Corpus rows whose audio is encoded by the feature space when fetched (mel baseline)."""

    def __init__(self, split, space: FeatureSpace, min_frames: int = 1, max_frames: int = 0,
                 text_input: str = "characters", voice: str = "en-us"):
        self.space = space
        self.rows, dropped = [], []
        for row in split:
            frames = space.num_frames(int(round(float(row["duration"]) * space.sample_rate)))
            text = model_text(row["text"], text_input, voice)
            reason = _drop_reason(text, frames, min_frames, max_frames)
            if reason:
                dropped.append((row["id"], reason))
                continue
            self.rows.append({"id": row["id"], "audio": row["audio"], "text": text, "frames": frames})
        _report_dropped(dropped)
        self.ids = [r["id"] for r in self.rows]
        self.texts = [r["text"] for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def get_frame_len(self, idx: int) -> int:
        return self.rows[idx]["frames"]

    def __getitem__(self, idx: int) -> dict:
        row = self.rows[idx]
        wav, _ = load_audio(row["audio"], self.space.sample_rate)
        return {"id": row["id"], "feats": self.space.encode(wav)[0].cpu(), "text": row["text"]}


def _drop_reason(text: str, frames: int, min_frames: int, max_frames: int) -> str | None:
    if not text:
        return "empty text"
    if frames < min_frames:
        return f"{frames} frames < min {min_frames}"
    if max_frames and frames > max_frames:
        return f"{frames} frames > max {max_frames}"
    if len(text) > frames:
        return f"text has {len(text)} symbols but only {frames} frames"
    return None


def _report_dropped(dropped: list[tuple[str, str]]) -> None:
    if dropped:
        shown = "; ".join(f"{i}: {r}" for i, r in dropped[:5])
        log.warning("dropped %d utterance(s) from training (%s%s)", len(dropped), shown, " ..." if len(dropped) > 5 else "")


class Collator:
    """Pads time-major features with zeros and tokenises text (F5's ``collate_fn`` is (D, T) mel-only)."""

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab

    def __call__(self, batch: list[dict]) -> dict:
        feats = [b["feats"] for b in batch]
        return {
            "ids": [b["id"] for b in batch],
            "texts": [b["text"] for b in batch],
            "feats": pad_sequence(feats, batch_first=True, padding_value=0.0),
            "lens": torch.tensor([f.shape[0] for f in feats], dtype=torch.long),
            "text_ids": self.vocab.encode([b["text"] for b in batch], warn=False),
        }


def make_batches(dataset, frames_per_batch: int, max_samples: int, seed: int) -> "DynamicBatchSampler":
    """F5-TTS's ``DynamicBatchSampler`` over the dataset in index order (it sorts by length itself)."""
    from f5_tts.model.dataset import DynamicBatchSampler
    from torch.utils.data import SequentialSampler

    too_long = [dataset.ids[i] for i in range(len(dataset)) if dataset.get_frame_len(i) > frames_per_batch]
    if too_long:
        log.warning("%d utterance(s) longer than frames_per_batch=%d are never batched (e.g. %s)",
                    len(too_long), frames_per_batch, too_long[0])
    sampler = DynamicBatchSampler(SequentialSampler(dataset), frames_per_batch, max_samples=max_samples,
                                  random_seed=seed, drop_residual=False)
    if len(sampler) == 0:
        raise TTSError(f"no training batch fits frames_per_batch={frames_per_batch} (check data.frames_per_batch)")
    return sampler
