"""A CTC model's targets, vocabulary and greedy decoding, through ``Wav2Vec2CTCTokenizer``.

Decoding is the tokenizer's (the one saved beside a model, or one built from a vocabulary that
has no saved tokenizer yet), so a model decodes the same in ``train-ctc``'s held-out score, in
:func:`data_prep.ctc.transcribe`, in the eval's CTC judge and for any ``transformers`` user.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from svae_tts.text import ctc_char_targets

PAD, UNK, SEP = "<pad>", "<unk>", "|"  # PAD is also the CTC blank (transformers' convention)


def normalize_phonemes(ph: str) -> str:
    return " ".join(ph.split())


def target_text(row: dict, targets: str) -> str:
    """What a CTC model learns to write for a corpus row: characters or eSpeak IPA."""
    if targets == "char":
        return ctc_char_targets(row["text"])
    ph = row.get("phonemes")
    if not ph:
        from data_prep.espeak import get_engine

        ph = get_engine().phonemes(row["text"])
    return normalize_phonemes(ph)


def build_vocab(texts: Sequence[str]) -> dict[str, int]:
    chars = sorted({c for t in texts for c in t if c != " "})
    vocab = {PAD: 0, UNK: 1, SEP: 2}
    for c in chars:
        if c not in vocab:
            vocab[c] = len(vocab)
    return vocab


def encode_text(text: str, vocab: dict[str, int]) -> list[int]:
    return [vocab[SEP] if c == " " else vocab.get(c, vocab[UNK]) for c in text]


def ctc_tokenizer(vocab: dict[str, int]):
    """The ``Wav2Vec2CTCTokenizer`` of a vocabulary (the tokenizer reads its vocabulary from a file)."""
    from transformers import Wav2Vec2CTCTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.json"
        path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        return Wav2Vec2CTCTokenizer(str(path), unk_token=UNK, pad_token=PAD, word_delimiter_token=SEP)


def greedy_decode(logits: torch.Tensor, tokenizer, lengths: Sequence[int] | None = None) -> list[str]:
    """Best path per item of ``(B, T, V)`` logits, the first ``lengths[i]`` frames of each, decoded
    by the tokenizer: repeats merged, blanks (its pad token) dropped, word delimiter -> space.

    Special tokens are kept while the tokenizer merges repeats: with ``skip_special_tokens`` it
    would drop the blanks first and read "a <blank> a" as one "a". An unknown-token frame is read
    as a blank rather than spelled ``<unk>``: a model emits it only by chance (no target of its
    training set was unknown). Whitespace is collapsed (two delimiters around a blank are one
    word boundary)."""
    ids = logits.argmax(-1).cpu()
    if tokenizer.unk_token_id is not None and tokenizer.pad_token_id is not None:
        ids[ids == tokenizer.unk_token_id] = tokenizer.pad_token_id
    lengths = [ids.shape[1]] * ids.shape[0] if lengths is None else [int(n) for n in lengths]
    texts = tokenizer.batch_decode([row[:n].tolist() for row, n in zip(ids, lengths)],
                                   skip_special_tokens=False, clean_up_tokenization_spaces=False)
    return [" ".join(t.split()) for t in texts]


def error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Character-level error rate (edit distance over reference length), spaces included."""
    import jiwer

    pairs = [(r, h) for r, h in zip(refs, hyps) if r]
    if not pairs:
        return float("nan")
    return float(jiwer.cer([r for r, _ in pairs], [h for _, h in pairs]))
