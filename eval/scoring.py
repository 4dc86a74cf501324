"""The scorer shared by recon, tts and convergence: one object that holds every judge, loaded once.

Per utterance it computes what its judges allow: WER/CER against the text (ASR judge given),
speaker similarity against a reference clip (the prompt for TTS, the original for reconstruction),
predicted MOS, and with a ground-truth waveform the signal metrics. Aggregation keeps both WER means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from eval.metrics import signal as S
from eval.metrics.text import ErrorCounts, aggregate_error_rates, char_errors, normalize_text, word_errors

SIGNAL_METRICS = ("pesq", "stoi", "si_sdr", "mel_dist")


@dataclass
class Scorer:
    asr: str | None = None  # hub id / dir of the ASR judge; None = no WER
    sim: str | None = "resemblyzer"
    mos: str | None = "dnsmos"
    device: str = "cpu"
    _asr: object = field(default=None, init=False, repr=False)
    _sim: object = field(default=None, init=False, repr=False)
    _mos: object = field(default=None, init=False, repr=False)
    _ref_embeddings: dict = field(default_factory=dict, init=False, repr=False)

    def load(self) -> "Scorer":
        """Load every judge now, so a missing model fails before any synthesis starts."""
        from eval.metrics.asr import get_asr_backend
        from eval.metrics.quality import get_quality_backend
        from eval.metrics.speaker import get_speaker_backend

        if self.asr and self._asr is None:
            self._asr = get_asr_backend(self.asr, self.device)
        if self.sim and self._sim is None:
            self._sim = get_speaker_backend(self.sim, self.device)
        if self.mos and self._mos is None:
            self._mos = get_quality_backend(self.mos)
        return self

    def describe(self) -> dict:
        return {"asr": self.asr, "sim": self.sim, "mos": self.mos}

    def score(self, wav: torch.Tensor, sr: int, text: str | None = None, sim_ref: tuple[torch.Tensor, int] | None = None,
              target: tuple[torch.Tensor, int] | None = None, sim_ref_key: str | None = None) -> dict:
        """Metrics of one generated/reconstructed waveform. Keys absent when their judge is absent.

        ``sim_ref_key`` (e.g. the prompt's path) caches the reference's speaker embedding: a test list
        scored at many checkpoints embeds each prompt once.
        """
        self.load()
        row: dict = {}
        if self._asr is not None and text is not None:
            hyp = self._asr.transcribe(wav, sr)
            w, c = word_errors(text, hyp), char_errors(text, hyp)
            row.update(hyp=normalize_text(hyp), ref=normalize_text(text), wer=w.rate, cer=c.rate,
                       w_err=w.errors, w_n=w.ref_len, c_err=c.errors, c_n=c.ref_len)
        if self._sim is not None and sim_ref is not None:
            from eval.metrics.speaker import cosine

            if sim_ref_key is None:
                ref_emb = self._sim.embed(*sim_ref)
            else:
                if sim_ref_key not in self._ref_embeddings:
                    self._ref_embeddings[sim_ref_key] = self._sim.embed(*sim_ref)
                ref_emb = self._ref_embeddings[sim_ref_key]
            row["sim"] = cosine(self._sim.embed(wav, sr), ref_emb)
        if self._mos is not None:
            for k, v in self._mos.score(wav, sr).items():
                row[f"mos_{k}"] = v
        if target is not None:
            ref, ref_sr = target
            row["pesq"] = S.pesq_wb(ref, wav, ref_sr, sr)
            row["stoi"] = S.stoi(ref, wav, ref_sr, sr)
            row["si_sdr"] = S.si_sdr(ref, wav, ref_sr, sr)
            row["mel_dist"] = S.mel_distance(ref, wav, ref_sr, sr)
        return row


def aggregate(rows: list[dict]) -> dict:
    """Means over utterances (NaN skipped), plus corpus-level WER/CER from the summed edit counts."""
    out: dict = {"n": len(rows)}
    if not rows:
        return out
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    for k in keys:
        if k in ("w_err", "w_n", "c_err", "c_n"):
            continue
        vals = [r[k] for r in rows if k in r and r[k] is not None and not math.isnan(float(r[k]))]
        out[k] = sum(vals) / len(vals) if vals else float("nan")
    for unit in ("w", "c"):
        with_counts = [r for r in rows if f"{unit}_n" in r]
        if with_counts:
            counts = [ErrorCounts(r[f"{unit}_err"], 0, 0, r[f"{unit}_n"]) for r in with_counts]
            agg = aggregate_error_rates(counts)
            name = "wer" if unit == "w" else "cer"
            out[f"{name}_corpus"] = agg["corpus"]
    return out
