"""Predicted MOS: DNSMOS (offline default) and UTMOS (optional).

* ``"dnsmos"``: Microsoft's DNSMOS P.835 + P.808 ONNX models shipped inside ``speechmos``; input
  resampled to 16 kHz. Reported: ``ovrl`` (overall, the headline number), ``sig``, ``bak``, ``p808``.
* ``"utmos"``: UTMOS22 "strong" through torch.hub (``tarepan/SpeechMOS``); needs the hub (online)
  or a local clone of that repository given as ``utmos:/path/to/SpeechMOS``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from eval.errors import EvalError
from svae_tts.errors import exc_summary
from svae_tts.audio import resample, validate_waveform

DNSMOS_SR = 16_000


def dnsmos_input_length() -> float:
    from speechmos import dnsmos

    return float(dnsmos.INPUT_LENGTH)


class QualityBackend:
    name = "quality"
    headline = "mos"

    def score(self, wav, sr: int) -> dict[str, float]:
        raise NotImplementedError


class DNSMOSBackend(QualityBackend):
    name = "dnsmos"
    headline = "ovrl"

    def __init__(self, personalized: bool = False):
        try:
            import onnxruntime as ort
            from speechmos import dnsmos
        except ImportError as exc:
            raise EvalError(f"quality backend 'dnsmos' needs speechmos and onnxruntime (pip install speechmos onnxruntime): {exc}") from None
        import os

        root = os.path.dirname(dnsmos.__file__)
        primary = os.path.join(root, "pdnsmos_models" if personalized else "dnsmos_models", "sig_bak_ovr.onnx")
        p808 = os.path.join(root, "dnsmos_models", "model_v8.onnx")
        self.personalized = personalized
        # speechmos' own class, with sessions built once here (its module-level cache is process-global
        # but re-created when the model type changes; holding our own instance avoids that churn).
        self.model = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.model.primary_model_path = primary
        self.model.onnx_sess = ort.InferenceSession(primary, opts, providers=["CPUExecutionProvider"])
        self.model.p808_onnx_sess = ort.InferenceSession(p808, opts, providers=["CPUExecutionProvider"])

    def score(self, wav, sr: int) -> dict[str, float]:
        wav = validate_waveform(torch.as_tensor(np.asarray(wav)) if not torch.is_tensor(wav) else wav, "quality input")
        x = resample(wav, sr, DNSMOS_SR).clamp(-1.0, 1.0).numpy().astype(np.float32)
        # DNSMOS scores 9.01 s windows hopped by 1 s; speechmos tiles short clips by doubling, which can
        # leave up to 3 windows of the same repeated clip. Tiling to exactly one window scores the same
        # first window once (the reference behaviour for short clips) at a third of the cost.
        win = int(dnsmos_input_length() * DNSMOS_SR)
        if x.size < win:
            x = np.tile(x, -(-win // x.size))[:win]
        out = self.model(x, DNSMOS_SR, self.personalized)
        return {"ovrl": float(out["ovrl_mos"]), "sig": float(out["sig_mos"]), "bak": float(out["bak_mos"]), "p808": float(out["p808_mos"])}


class UTMOSBackend(QualityBackend):
    name = "utmos"
    headline = "utmos"
    NEEDS = "torch.hub access to tarepan/SpeechMOS (online), or 'utmos:/path/to/a/local/SpeechMOS/clone'"

    def __init__(self, local_repo: str | None = None, device: str = "cpu"):
        try:
            if local_repo:
                self.model = torch.hub.load(local_repo, "utmos22_strong", source="local", trust_repo=True)
            else:
                self.model = torch.hub.load("tarepan/SpeechMOS:v1.2.0", "utmos22_strong", trust_repo=True)
        except Exception as exc:  # torch.hub raises URLError, HTTPError, FileNotFoundError, ...
            reason = exc_summary(exc, 160)
            raise EvalError(f"quality backend 'utmos' is unavailable ({reason}); it needs {self.NEEDS}. "
                            "Use --mos dnsmos for the offline predictor.") from None
        self.model = self.model.to(device).eval()
        self.device = device

    @torch.no_grad()
    def score(self, wav, sr: int) -> dict[str, float]:
        wav = validate_waveform(torch.as_tensor(np.asarray(wav)) if not torch.is_tensor(wav) else wav, "quality input")
        return {"utmos": float(self.model(wav[None].to(self.device), sr).item())}


@functools.lru_cache(maxsize=4)
def get_quality_backend(spec: str = "dnsmos") -> QualityBackend:
    """``dnsmos``, ``dnsmos_personalized``, ``utmos`` or ``utmos:/local/SpeechMOS``; loaded once per process."""
    s = str(spec)
    if s == "dnsmos":
        return DNSMOSBackend()
    if s == "dnsmos_personalized":
        return DNSMOSBackend(personalized=True)
    if s == "utmos" or s.startswith("utmos:"):
        return UTMOSBackend(s.split(":", 1)[1] if ":" in s else None)
    raise EvalError(f"unknown quality backend {spec!r} (choose dnsmos, dnsmos_personalized, utmos or utmos:/path)")
