"""The one transcription path: every model that writes text from audio reads clips through :class:`Transcriber`.

:meth:`Transcriber.transcribe_clips` cuts each clip into the pieces its model reads at once
(Whisper: 30 s windows; a CTC model: the whole clip, padded with silence to its front end's
receptive field), groups pieces of similar length into batches where padding costs work, hands
each batch to the backend, which pads it, runs the model and decodes (:meth:`Transcriber.read_batch`),
and joins each clip's pieces again. :class:`CTCTranscriber` is the backend of any ``*ForCTC`` model
and its tokenizer (the CTC model of :mod:`data_prep.ctc`, and a CTC judge); a later stage's judge
(Whisper) is another backend, supplying only its windows and ``read_batch``. Here, in
``data_prep``, because the CTC model is made and scored here, and later stages may import
``data_prep``, not the reverse.
"""

from __future__ import annotations

from typing import Sequence

import torch

from data_prep.ctc_vocab import greedy_decode


class Transcriber:
    """Clips (1-d tensors at ``sample_rate``) -> one transcript each; a backend supplies ``read_batch``."""

    sample_rate: int = 16_000
    batch_size: int = 8
    by_length: bool = True  # batch pieces of similar length (less padding); off where every piece is padded alike
    min_samples: int = 0  # shorter pieces are padded with silence to this many samples

    def pieces(self, wav: torch.Tensor) -> list[torch.Tensor]:
        """The parts of one clip the model reads at once (the whole clip unless the model has a window)."""
        return [wav]

    def read_batch(self, clips: list[torch.Tensor]) -> list[str]:
        """Pad ``clips``, run the model on them together, decode one text each."""
        raise NotImplementedError

    def transcribe_clips(self, wavs: Sequence[torch.Tensor]) -> list[str]:
        pieces = [(k, p) for k, w in enumerate(wavs) for p in self.pieces(w)]
        pieces = [(k, torch.nn.functional.pad(p, (0, self.min_samples - p.shape[0])) if p.shape[0] < self.min_samples else p)
                  for k, p in pieces]
        order = list(range(len(pieces)))
        if self.by_length:
            order.sort(key=lambda i: pieces[i][1].shape[0])
        texts = [""] * len(pieces)
        for s in range(0, len(order), self.batch_size):
            idx = order[s: s + self.batch_size]
            for i, text in zip(idx, self.read_batch([pieces[i][1] for i in idx])):
                texts[i] = text
        parts: list[list[str]] = [[] for _ in wavs]
        for (k, _), text in zip(pieces, texts):
            parts[k].append(text)
        return [" ".join(t for t in p if t) for p in parts]


def padded_batch(wavs: list[torch.Tensor], normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``(B, N)`` batch and its attention mask, each wav zero-mean/unit-variance when
    ``normalize`` (what a wav2vec2 feature extractor does)."""
    n = max(int(w.shape[0]) for w in wavs)
    batch = torch.zeros(len(wavs), n)
    mask = torch.zeros(len(wavs), n, dtype=torch.long)
    for i, w in enumerate(wavs):
        w = w.float()
        if normalize:
            w = (w - w.mean()) / torch.sqrt(w.var(unbiased=False) + 1e-7)
        batch[i, : w.shape[0]] = w
        mask[i, : w.shape[0]] = 1
    return batch, mask


def min_input_samples(kernels: Sequence[int], strides: Sequence[int]) -> int:
    """The fewest samples a conv front end turns into one frame (its receptive field)."""
    n = 1
    for k, s in zip(reversed(kernels), reversed(strides)):
        n = (n - 1) * s + k
    return n


class CTCTranscriber(Transcriber):
    """Greedy CTC decoding (:func:`data_prep.ctc_vocab.greedy_decode`) of a ``*ForCTC`` model.

    Each clip is normalised to zero mean and unit variance when ``normalize`` (what a wav2vec2
    feature extractor with ``do_normalize`` does) and right-padded with zeros. A layer-norm front
    end is given the attention mask and reads a batch as it reads each clip alone; a group-norm one
    (``feat_extract_norm="group"``, wav2vec2-base and its kind) normalises over the padded length
    and takes no mask, so it reads one clip at a time: padding would change what it hears.
    """

    def __init__(self, model, tokenizer, sample_rate: int = 16_000, batch_size: int = 8, normalize: bool = True):
        self.model, self.tokenizer = model, tokenizer
        self.sample_rate, self.normalize = int(sample_rate), normalize
        cfg = model.config
        self.min_samples = min_input_samples(cfg.conv_kernel, cfg.conv_stride)
        self.masked = getattr(cfg, "feat_extract_norm", "layer") == "layer"
        self.batch_size = batch_size if self.masked else 1

    @torch.no_grad()
    def read_batch(self, clips: list[torch.Tensor]) -> list[str]:
        device = next(self.model.parameters()).device
        x, mask = padded_batch(clips, normalize=self.normalize)
        logits = self.model(x.to(device), attention_mask=mask.to(device) if self.masked else None).logits
        lengths = self.model._get_feat_extract_output_lengths(mask.sum(-1)).tolist()
        return greedy_decode(logits, self.tokenizer, lengths)


__all__ = ["Transcriber", "CTCTranscriber", "min_input_samples", "padded_batch"]
