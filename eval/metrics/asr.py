"""ASR judges for WER/CER: a transformers pipeline (Whisper & co.) or a CTC model with greedy decoding.

``get_asr_backend(spec)`` (cached: one model per process) picks by the model's config:

* a ``*ForCTC`` architecture (our ``train-ctc`` judge: ``Wav2Vec2ForCTC`` + ``Wav2Vec2CTCTokenizer``
  saved with ``save_pretrained``) -> :class:`CTCBackend`, greedy decoding by the model's own
  tokenizer (:func:`data_prep.ctc_vocab.greedy_decode`). No language model: the judge's own errors
  stay visible.
* anything else (e.g. ``openai/whisper-large-v3`` or a local Whisper dir) -> :class:`PipelineBackend`
  wrapping ``transformers.pipeline("automatic-speech-recognition")``.

``spec`` may be forced with a ``ctc:`` or ``pipeline:`` prefix.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from data_prep.ctc_vocab import greedy_decode
from eval.errors import EvalError
from eval.metrics._models import check_local_or_hub, load_failed
from svae_tts.audio import resample, validate_waveform
from svae_tts.textio import read_json

NEEDS = ("a transformers ASR model: a hub id such as openai/whisper-large-v3 (online) or a local directory "
         "saved with save_pretrained (config.json, weights and the tokenizer/processor files), e.g. the "
         "judge written by `svae-tts data train-ctc`")


class ASRBackend:
    name = "asr"
    sample_rate = 16_000

    def transcribe(self, wav, sr: int) -> str:
        raise NotImplementedError

    def transcribe_batch(self, items: list[tuple[torch.Tensor, int]]) -> list[str]:
        return [self.transcribe(w, s) for w, s in items]

    def _prep(self, wav, sr: int) -> np.ndarray:
        wav = validate_waveform(torch.as_tensor(np.asarray(wav)) if not torch.is_tensor(wav) else wav, "ASR input")
        return resample(wav, sr, self.sample_rate).numpy().astype(np.float32)


class CTCBackend(ASRBackend):
    def __init__(self, spec: str, device: str = "cpu"):
        from transformers import AutoFeatureExtractor, AutoModelForCTC, AutoTokenizer, Wav2Vec2FeatureExtractor

        self.name = str(spec)
        self.device = device
        try:
            self.model = AutoModelForCTC.from_pretrained(spec).to(device).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(spec)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise load_failed("ASR (CTC)", spec, exc, NEEDS) from None
        try:
            self.extractor = AutoFeatureExtractor.from_pretrained(spec)
        except (OSError, ValueError):  # judge saved without preprocessor_config.json: wav2vec2 defaults
            self.extractor = Wav2Vec2FeatureExtractor(sampling_rate=16_000, do_normalize=True, return_attention_mask=True)
        self.sample_rate = int(getattr(self.extractor, "sampling_rate", 16_000))

    @torch.no_grad()
    def transcribe(self, wav, sr: int) -> str:
        x = self._prep(wav, sr)
        inputs = self.extractor(x, sampling_rate=self.sample_rate, return_tensors="pt")
        logits = self.model(inputs["input_values"].to(self.device)).logits
        return greedy_decode(logits, self.tokenizer)[0]


class PipelineBackend(ASRBackend):
    def __init__(self, spec: str, device: str = "cpu", language: str | None = None):
        from transformers import pipeline

        self.name = str(spec)
        try:
            self.pipe = pipeline("automatic-speech-recognition", model=spec, device=device)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise load_failed("ASR", spec, exc, NEEDS) from None
        self.sample_rate = int(getattr(self.pipe.feature_extractor, "sampling_rate", 16_000))
        self.generate_kwargs = {}
        if language and getattr(self.pipe.model.config, "model_type", "") == "whisper":
            self.generate_kwargs = {"language": language, "task": "transcribe"}

    def transcribe(self, wav, sr: int) -> str:
        x = self._prep(wav, sr)
        kwargs = {"generate_kwargs": self.generate_kwargs} if self.generate_kwargs else {}
        out = self.pipe({"raw": x, "sampling_rate": self.sample_rate}, **kwargs)
        return str(out["text"]).strip()


def _is_ctc(spec: str) -> bool:
    cfg = Path(spec) / "config.json"
    if cfg.is_file():
        archs = read_json(cfg, dict, error=EvalError).get("architectures") or []
        return any(a.endswith("ForCTC") for a in archs)
    try:  # hub id: look at its config (cached by huggingface_hub)
        from transformers import AutoConfig

        archs = AutoConfig.from_pretrained(spec).architectures or []
    except (OSError, ValueError) as exc:
        raise load_failed("ASR", spec, exc, NEEDS) from None
    return any(a.endswith("ForCTC") for a in archs)


@functools.lru_cache(maxsize=4)
def get_asr_backend(spec: str, device: str = "cpu", language: str | None = "en") -> ASRBackend:
    """The ASR judge for ``spec`` (hub id or dir, optional ``ctc:``/``pipeline:`` prefix), loaded once."""
    spec = str(spec)
    kind = None
    if spec.startswith(("ctc:", "pipeline:")):
        kind, spec = spec.split(":", 1)
    check_local_or_hub("ASR", spec, NEEDS)
    if kind is None:
        kind = "ctc" if _is_ctc(spec) else "pipeline"
    if kind == "ctc":
        return CTCBackend(spec, device)
    return PipelineBackend(spec, device, language)
