"""The DiT's text input: what it reads (characters or eSpeak phonemes) and the vocabulary of its symbols.

F5-TTS's own helper (``list_str_to_idx``) maps unknown characters to id 0 without a word, which in
its shipped vocabularies is the space. Here id 0 is reserved for ``<unk>`` (``UNK_ID``): a character
the training set never showed maps to it and a warning names the characters, so a user sees why a
word came out garbled. Ids run 0..V-1 and padding is -1, as ``DiT``'s text embedding expects
(it shifts by one to keep 0 as its own filler).
"""

from __future__ import annotations

import logging
from typing import Iterable, Literal, Sequence, get_args

import torch
from torch.nn.utils.rnn import pad_sequence

from svae_tts.text import tts_text
from tts_recipes.errors import TTSError

log = logging.getLogger(__name__)

# What a model reads. Characters need no front end but leave English spelling-to-sound to the
# model; phonemes (eSpeak's IPA from the embedded eSpeak, in one voice for training and synthesis)
# take that off its hands, which matters most when it has little data.
TextInput = Literal["characters", "phonemes"]
TEXT_INPUTS: tuple[str, ...] = get_args(TextInput)

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


# A text is refused as unreadable when more than this share of its (non-space) characters are not
# in the vocabulary: they all map to the one unknown id, so the model would read next to nothing and
# make seconds of babble for it. A few unknown characters (a name's accent) only warn.
MAX_UNKNOWN_SHARE = 0.5


def check_readable(vocab: Vocabulary, text: str, what: str = "text") -> None:
    """Refuse ``text`` (as the model reads it) when most of its characters are outside ``vocab``,
    naming a few of them: Cyrillic or Chinese for an English model would be read as nothing."""
    chars = [c for c in tts_text(text) if not c.isspace()]
    unknown = [c for c in chars if c not in vocab.index]
    if chars and len(unknown) > MAX_UNKNOWN_SHARE * len(chars):
        distinct = sorted(set(unknown))
        shown = repr("".join(distinct[:12])) + (" ..." if len(distinct) > 12 else "")
        raise TTSError(f"{what}: {len(unknown)} of its {len(chars)} characters ({shown}) are not in the "
                       f"model's vocabulary, so it would be read as nothing; give text in the model's language "
                       f"and script")


def check_positions(num: int, max_positions: int | None, what: str) -> None:
    """Refuse a sequence longer than the DiT can place: its text embedding has positions for
    ``max_positions`` frames (F5-TTS's ``precompute_max_pos``, 8192), and a longer one fails deep in
    the model with a tensor size error. ``None``: a model without that table, no limit."""
    if max_positions is not None and num > max_positions:
        raise TTSError(f"{what} needs {num} positions, over the model's limit of {max_positions} (the DiT's "
                       f"text positions); shorten the reference transcript or the text, or ask for a shorter duration")


def check_fits(num_tokens: int, num_frames: int, what: str = "text") -> None:
    """F5's DiT silently cuts text longer than the frame sequence; refuse instead."""
    if num_tokens > num_frames:
        raise TTSError(
            f"{what} has {num_tokens} symbols but the target has only {num_frames} frames; "
            "shorten the text, lower the speed or give a longer duration"
        )


def model_text(text: str, text_input: str = "characters", voice: str = "en-us") -> str:
    """The string a model with this ``text_input`` reads for ``text``: the text itself
    (:func:`~svae_tts.text.tts_text`), or eSpeak's IPA of it in ``voice`` (punctuation, and with it
    the pauses, is not in the IPA).

    Training and synthesis both come through here, with the model's one voice: a corpus's stored
    ``phonemes`` column (each speaker's own accent) is not used, because a synthesis request has
    only text, and a model trained on accents it is never given would be read another way."""
    text = tts_text(text)
    if text_input == "characters":
        return text
    if text_input != "phonemes":
        raise TTSError(f"text_input {text_input!r}: choose one of {', '.join(TEXT_INPUTS)}")
    from data_prep.espeak import get_engine
    from svae_tts.errors import SvaeError

    try:
        ipa = " ".join(get_engine().phonemes(text, voice).split())
    except SvaeError as exc:
        raise TTSError(f"phoneme_voice {voice!r}: {exc}") from None
    if text and not ipa:
        raise TTSError(f"eSpeak ({voice}) gives no phonemes for {text[:40]!r}")
    return ipa
