"""Character vocabulary for the DiT's text input.

F5-TTS's own helper (``list_str_to_idx``) maps unknown characters to id 0 without a word, which in
its shipped vocabularies is the space. Here id 0 is reserved for ``<unk>`` (``UNK_ID``): a character
the training set never showed maps to it and a warning names the characters, so a user sees why a
word came out garbled. Ids run 0..V-1 and padding is -1, as ``DiT``'s text embedding expects
(it shifts by one to keep 0 as its own filler).
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import torch
from torch.nn.utils.rnn import pad_sequence

from svae_tts.text import tts_text
from tts_recipes.errors import TTSError

log = logging.getLogger(__name__)

UNK = "<unk>"
UNK_ID = 0
PAD_ID = -1


class Vocabulary:
    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        if not chars or chars[0] != UNK:
            raise TTSError(f"vocabulary must start with {UNK!r} (got {chars[:1]})")
        if len(set(chars)) != len(chars):
            raise TTSError("vocabulary has duplicate entries")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def build(cls, texts: Iterable[str]) -> "Vocabulary":
        """Sorted set of the characters in ``texts`` (deterministic, so a resumed run rebuilds it identically)."""
        seen: set[str] = set()
        for t in texts:
            seen.update(tts_text(t))
        if not seen:
            raise TTSError("cannot build a vocabulary: the training texts are empty")
        return cls([UNK] + sorted(seen))

    def __len__(self) -> int:
        return len(self.chars)

    def unknown_chars(self, text: str) -> list[str]:
        return sorted({c for c in tts_text(text) if c not in self.index})

    def ids(self, text: str, warn: bool = True) -> list[int]:
        text = tts_text(text)
        if warn:
            unknown = self.unknown_chars(text)
            if unknown:
                log.warning("characters %s are not in the model's vocabulary; they map to the unknown id %d",
                            "".join(unknown), UNK_ID)
        return [self.index.get(c, UNK_ID) for c in text]

    def encode(self, texts: Sequence[str], warn: bool = True) -> torch.Tensor:
        """Batch of strings -> ``(B, L)`` long tensor padded with -1."""
        seqs = [torch.tensor(self.ids(t, warn), dtype=torch.long) for t in texts]
        return pad_sequence(seqs, batch_first=True, padding_value=PAD_ID)


def check_fits(num_tokens: int, num_frames: int, what: str = "text") -> None:
    """F5's DiT silently cuts text longer than the frame sequence; refuse instead."""
    if num_tokens > num_frames:
        raise TTSError(
            f"{what} has {num_tokens} characters but the target has only {num_frames} frames; "
            "shorten the text, lower the speed or give a longer duration"
        )
