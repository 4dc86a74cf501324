"""The frozen speech teacher whose hidden states the semantic VAE's latents are aligned to.

Two sources with one interface (``width``, ``frame_rate``):

* :class:`OnlineTeacher`: any wav2vec2-style encoder ``transformers.AutoModel`` loads (WavLM,
  HuBERT, Wav2Vec2 ...) from a hub id or a local directory, run inside the training step on the
  training device, frozen and in eval mode. The one teacher of the project: ``data_prep``'s
  feature extraction runs it too, in batches (:meth:`OnlineTeacher.encode_clips`). Its sample rate, width and frame rate are read from its
  configs (``preprocessor_config.json`` / ``config.json``), never assumed. We do the feature
  extractor's work on-device ourselves (resampling, optional per-utterance normalisation over the
  true length, attention mask) because ``AutoFeatureExtractor`` only takes host arrays.
* :class:`PrecomputedFeatures`: the teacher-feature store (:mod:`svae_tts.formats.teacher_features`,
  written by ``svae-tts data features``), read per utterance id. A missing utterance is an error
  naming it (the release silently zero-filled).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn

from svae_tts.checkpoint import CTC_KIND, TRANSFORMERS_CTC_KIND, TRANSFORMERS_KIND
from svae_tts.errors import exc_summary
from svae_tts.formats.teacher_features import FeatureStore
from svae_tts.model_kinds import refuse_other_kind
from svae_tts.quiet import quiet_library_loads
from svae_tts.textio import read_json
from vae.model import VAEError


class TeacherError(VAEError):
    """A teacher (model or precomputed features) that cannot be used."""


def _feature_extractor_config(ref: str) -> dict:
    path = Path(ref) / "preprocessor_config.json"
    if path.is_file():
        return read_json(path, dict, error=TeacherError)
    if Path(ref).exists():
        return {}
    try:  # hub id: the feature extractor config is a separate small file
        from transformers import AutoFeatureExtractor

        return AutoFeatureExtractor.from_pretrained(ref).to_dict()
    except Exception:
        return {}


def teacher_input_settings(ref: str, config, sample_rate: int | None = None) -> tuple[int, bool, bool]:
    """``(sample_rate, do_normalize, use_attention_mask)`` for a teacher, from its configs."""
    fe = _feature_extractor_config(str(ref))
    sr = fe.get("sampling_rate") or getattr(config, "sampling_rate", None) or sample_rate
    if not sr:
        raise TeacherError(f"teacher {ref}: no sampling_rate in its preprocessor_config.json or config.json; "
                           "set the teacher's sample rate explicitly")
    # Models with group-norm feature encoders (base WavLM/wav2vec2) are trained on zero-padded
    # input without a mask; layer-norm ones (large models) expect the attention mask.
    use_mask = bool(fe.get("return_attention_mask", getattr(config, "feat_extract_norm", "layer") == "layer"))
    return int(sr), bool(fe.get("do_normalize", False)), use_mask


TEACHER_WANTED = "a teacher (a transformers speech encoder such as WavLM, or a CTC judge)"


class OnlineTeacher(nn.Module):
    def __init__(self, ref: str | os.PathLike, layer: int = -1, sample_rate: int | None = None):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        ref = str(ref)
        refuse_other_kind(ref, (TRANSFORMERS_KIND, TRANSFORMERS_CTC_KIND, CTC_KIND), TEACHER_WANTED, error=TeacherError)
        try:
            with quiet_library_loads():  # a CTC judge read as an encoder: no report on its unused CTC head
                config = AutoConfig.from_pretrained(ref)
                model = AutoModel.from_pretrained(ref)
        except Exception as exc:
            raise TeacherError(
                f"teacher {ref}: cannot load it with transformers.AutoModel ({exc_summary(exc)}); give a "
                "local model directory or, when online, a hub id such as microsoft/wavlm-large") from None
        strides = list(getattr(config, "conv_stride", None) or [])
        if not strides or not hasattr(config, "hidden_size"):
            raise TeacherError(f"teacher {ref}: config has no conv_stride/hidden_size (not a wav2vec2-style speech encoder)")
        self.ref = ref
        self.sample_rate, self.do_normalize, self.use_attention_mask = teacher_input_settings(ref, config, sample_rate)
        self.width = int(config.hidden_size)
        self.hop = int(math.prod(strides))
        self.frame_rate = self.sample_rate / self.hop
        n_layers = int(config.num_hidden_layers)
        if not -(n_layers + 1) <= layer <= n_layers:
            raise TeacherError(f"teacher {ref}: layer {layer} out of range (hidden states 0..{n_layers}, or -1 for the last)")
        self.layer = layer
        self.model = model.eval().requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "OnlineTeacher":
        """Always stays in eval mode (no dropout, no feature masking) whatever the trainer asks."""
        return super().train(False)

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.model._get_feat_extract_output_lengths(lengths)

    @torch.no_grad()
    def forward(self, wav: torch.Tensor, lengths: torch.Tensor, input_sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``wav (B, N)`` at ``input_sample_rate`` with true ``lengths`` -> features ``(B, T, C)`` float32
        and their valid frame counts ``(B,)``. Padding beyond each length is zeroed and masked."""
        if input_sample_rate != self.sample_rate:
            import torchaudio.functional as AF

            wav = AF.resample(wav.float(), input_sample_rate, self.sample_rate)
            lengths = torch.div(lengths * self.sample_rate + input_sample_rate - 1, input_sample_rate, rounding_mode="floor")
            lengths = lengths.clamp(max=wav.shape[-1])
        wav = wav.float()
        mask = torch.arange(wav.shape[-1], device=wav.device)[None, :] < lengths[:, None]
        wav = wav * mask
        if self.do_normalize:
            n = lengths.clamp_min(1).to(wav.dtype)[:, None]
            mean = wav.sum(-1, keepdim=True) / n
            var = ((wav - mean) * mask).pow(2).sum(-1, keepdim=True) / n
            wav = (wav - mean) / torch.sqrt(var + 1e-7) * mask
        out = self.model(wav, attention_mask=mask.long() if self.use_attention_mask else None, output_hidden_states=True)
        feats = out.hidden_states[self.layer].float()
        return feats, self.num_frames(lengths).clamp(max=feats.shape[1])

    @torch.no_grad()
    def encode_clips(self, wavs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Features ``(T_i, C)`` float32 on the CPU for each 1-D waveform at ``sample_rate``: the
        batched run behind precomputed features, through the same :meth:`forward` as training.

        Padding is masked and each output trimmed to its own frames. A teacher without mask support
        (group-norm front end) sees one clip at a time, because padding would change its outputs."""
        if not self.use_attention_mask and len(wavs) > 1:
            return [f for w in wavs for f in self.encode_clips([w])]
        device = next(self.model.parameters()).device
        lengths = torch.tensor([int(w.shape[-1]) for w in wavs], device=device)
        batch = torch.nn.utils.rnn.pad_sequence([w.reshape(-1).float() for w in wavs], batch_first=True)
        feats, frames = self(batch.to(device), lengths, self.sample_rate)
        return [feats[i, : int(frames[i])].cpu() for i in range(len(wavs))]


class PrecomputedFeatures:
    """Precomputed teacher features keyed by utterance id; ``crop`` cuts the frames of an audio crop."""

    def __init__(self, folder: str | os.PathLike):
        if not Path(folder).is_dir():
            raise TeacherError(f"teacher features {folder}: no such directory")
        self.folder = str(folder)
        self.store = FeatureStore(folder)
        self.frame_rate = float(self.store.frame_rate)
        self.width = int(self.store.width)

    def __contains__(self, uid: str) -> bool:
        return uid in self.store

    def get(self, uid: str) -> torch.Tensor:
        if uid not in self.store:  # checked here too, so the message is ours whatever the store raises
            raise TeacherError(f"teacher features {self.folder}: no features for utterance {uid!r} (refusing to zero-fill)")
        return self.store.get(uid)

    def crop(self, uid: str, start_s: float, duration_s: float) -> torch.Tensor:
        """Frames covering ``[start_s, start_s + duration_s)`` of utterance ``uid``, ``(T, C)`` float32."""
        feats = self.get(uid)
        if feats.dim() != 2 or feats.shape[1] != self.width:
            raise TeacherError(f"teacher features {self.folder}: utterance {uid!r} has shape {tuple(feats.shape)}, "
                               f"expected (T, {self.width})")
        a = int(round(start_s * self.frame_rate))
        b = a + max(1, int(round(duration_s * self.frame_rate)))
        a = min(a, max(feats.shape[0] - 1, 0))
        return feats[a:b].float()
