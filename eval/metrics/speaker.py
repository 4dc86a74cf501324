"""Speaker similarity: cosine between speaker embeddings of generated audio and the prompt.

Backends (``get_speaker_backend(spec)``, cached: one model per process):

* ``"resemblyzer"`` (default): the GE2E d-vector encoder that ships its weights with the
  ``resemblyzer`` package, so it works offline. 16 kHz, voice-activity trimmed, 256-dim.
* anything else is a transformers ``WavLMForXVector`` (or any ``*ForXVector``) by hub id or
  directory, e.g. ``microsoft/wavlm-base-plus-sv``: the x-vector embedding papers report as SIM.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from eval.errors import EvalError
from eval.metrics._models import check_local_or_hub, load_failed, refuse_other_judge
from svae_tts.audio import resample, validate_waveform
from svae_tts.checkpoint import TRANSFORMERS_KIND
from svae_tts.quiet import quiet_library_loads

RESEMBLYZER = "resemblyzer"


class SpeakerBackend:
    """Embeds a waveform; ``similarity`` is the cosine of two embeddings."""

    name: str = "speaker"
    sample_rate: int = 16_000

    def embed(self, wav, sr: int) -> torch.Tensor:  # (D,)
        raise NotImplementedError

    def similarity(self, a, sr_a: int, b, sr_b: int) -> float:
        return cosine(self.embed(a, sr_a), self.embed(b, sr_b))


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.double().flatten(), b.double().flatten(), dim=0))


def _to16k(wav, sr: int, rate: int) -> torch.Tensor:
    wav = validate_waveform(torch.as_tensor(np.asarray(wav)) if not torch.is_tensor(wav) else wav, "speaker input")
    return resample(wav, sr, rate)


class ResemblyzerBackend(SpeakerBackend):
    name = RESEMBLYZER

    def __init__(self, device: str = "cpu"):
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as exc:
            raise EvalError(f"speaker backend 'resemblyzer' needs the resemblyzer package (pip install resemblyzer): {exc}") from None
        self.encoder = VoiceEncoder(device=device, verbose=False)

    def embed(self, wav, sr: int) -> torch.Tensor:
        from resemblyzer import preprocess_wav

        wav16 = _to16k(wav, sr, self.sample_rate).numpy()
        trimmed = preprocess_wav(wav16, source_sr=self.sample_rate)
        if trimmed.size < self.sample_rate // 10:  # VAD removed (almost) everything: use the raw clip
            trimmed = wav16
        return torch.from_numpy(np.asarray(self.encoder.embed_utterance(trimmed), dtype=np.float32))


class XVectorBackend(SpeakerBackend):
    """transformers x-vector head (WavLM-SV and friends)."""

    NEEDS = ("a transformers *ForXVector model: a hub id such as microsoft/wavlm-base-plus-sv (online) "
             "or a local directory saved with save_pretrained (config.json + weights)")

    def __init__(self, spec: str, device: str = "cpu"):
        from transformers import AutoFeatureExtractor, AutoModelForAudioXVector, Wav2Vec2FeatureExtractor

        check_local_or_hub("speaker", spec, self.NEEDS)
        refuse_other_judge(spec, (TRANSFORMERS_KIND,), "a speaker model (a transformers *ForXVector model)")
        self.name = str(spec)
        self.device = device
        try:
            with quiet_library_loads():
                self.model = AutoModelForAudioXVector.from_pretrained(spec).to(device).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise load_failed("speaker", spec, exc, self.NEEDS) from None
        try:
            self.extractor = AutoFeatureExtractor.from_pretrained(spec)
        except (OSError, ValueError):  # model saved without a preprocessor config: WavLM's defaults
            self.extractor = Wav2Vec2FeatureExtractor(sampling_rate=16_000, do_normalize=True, return_attention_mask=True)
        self.sample_rate = int(getattr(self.extractor, "sampling_rate", 16_000))

    @torch.no_grad()
    def embed(self, wav, sr: int) -> torch.Tensor:
        wav = _to16k(wav, sr, self.sample_rate)
        inputs = self.extractor(wav.numpy(), sampling_rate=self.sample_rate, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        return self.model(**inputs).embeddings[0].float().cpu()


@functools.lru_cache(maxsize=4)
def get_speaker_backend(spec: str = RESEMBLYZER, device: str = "cpu") -> SpeakerBackend:
    """The backend for ``spec``, loaded once per process."""
    if str(spec).lower() == RESEMBLYZER:
        return ResemblyzerBackend(device)
    return XVectorBackend(str(Path(spec)) if Path(spec).exists() else spec, device)
