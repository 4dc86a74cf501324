"""The TTS model: F5-TTS's ``CFM`` flow-matching wrapper around its ``DiT``, on any feature space.

Only ``mel_dim`` (= the feature space's dim) and ``text_num_embeds`` (= the vocabulary size) depend
on the data; everything else is the DiT size from a preset. A TTS model dir is the usual
config.json + model.safetensors (EMA weights); config.json also holds the feature space config
(the latent normalisation statistics, the decoder's name) and the vocabulary, and the decoder
itself sits in a subfolder (``vae/``, or ``vocos/`` for a local Vocos; a hub id stays a name), so
the dir is all synthesis needs, from any folder, after any copy or upload.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from svae_tts.checkpoint import TTS_KIND, PretrainedMixin, resolve_model_dir
from svae_tts.config import Checked, in_range, nonneg, positive
from svae_tts.errors import ConfigError
from svae_tts.model_kinds import refuse_other_kind
from tts_recipes.errors import TTSError
from tts_recipes.decoder_bundle import BUNDLED_DECODERS, bundle_decoder, record_vae
from tts_recipes.feature_space import FeatureSpace
from tts_recipes.text import TextInput, Vocabulary, model_text


@dataclass
class DiTConfig(Checked):
    """``f5_tts.model.DiT`` sizes. v1 Base: 1024/22/16, ff 2, text 512, conv 4; v1 Small: 768/18/12."""

    dim: int = positive(1024)
    depth: int = positive(22)
    heads: int = positive(16)
    dim_head: int = positive(64)
    ff_mult: int = positive(2)
    text_dim: int = positive(512)
    conv_layers: int = nonneg(4)
    dropout: float = in_range(0.1, 0, 1)
    qk_norm: Optional[str] = None
    pe_attn_head: Optional[int] = nonneg(None)
    # F5-TTS pads the text with filler tokens to the frame count and leaves the alignment to
    # attention, which at small scale is learnt late or never (docs/results/notes/tts_alignment.md).
    # ZipVoice-style average upsampling (in F5-TTS since 1.1) stretches the encoded characters
    # evenly over the frames instead, so every frame starts out next to roughly its own character.
    text_mask_padding: bool = True
    text_average_upsampling: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.text_average_upsampling and not self.text_mask_padding:
            raise ConfigError("dit: text_average_upsampling needs text_mask_padding (F5-TTS upsamples the unpadded text)")


@dataclass
class CFMConfig(Checked):
    """Flow-matching training knobs of ``f5_tts.model.CFM`` (F5-TTS defaults)."""

    audio_drop_prob: float = in_range(0.3, 0, 1)
    cond_drop_prob: float = in_range(0.2, 0, 1)
    frac_lengths_mask: tuple[float, float] = in_range((0.7, 1.0), 0, 1)  # (low, high) fraction masked
    sigma: float = nonneg(0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        low, high = self.frac_lengths_mask
        if low > high:
            raise ConfigError(f"frac_lengths_mask: low {low} is larger than high {high}")


@dataclass
class TTSConfig(Checked):
    dit: DiTConfig = field(default_factory=DiTConfig)
    cfm: CFMConfig = field(default_factory=CFMConfig)
    feature: dict[str, Any] = field(default_factory=dict)
    vocab: list[str] = field(default_factory=list)
    text_input: TextInput = "characters"  # what the vocabulary's symbols are: characters or eSpeak phonemes
    phoneme_voice: str = "en-us"  # eSpeak voice that phonemises text at synthesis

    @property
    def feature_dim(self) -> int:
        if "dim" not in self.feature:
            raise TTSError("TTS config: feature space config lacks 'dim'")
        return int(self.feature["dim"])


def build_cfm(dit: DiTConfig, cfm: CFMConfig, feature_dim: int, vocab_size: int) -> nn.Module:
    from f5_tts.model import CFM, DiT

    transformer = DiT(dim=dit.dim, depth=dit.depth, heads=dit.heads, dim_head=dit.dim_head, ff_mult=dit.ff_mult,
                      dropout=dit.dropout, mel_dim=feature_dim, text_num_embeds=vocab_size, text_dim=dit.text_dim,
                      conv_layers=dit.conv_layers, qk_norm=dit.qk_norm, pe_attn_head=dit.pe_attn_head,
                      text_mask_padding=dit.text_mask_padding,
                      text_embedding_average_upsampling=dit.text_average_upsampling)
    # Text arrives already tokenised (our Vocabulary, with its own unknown id), and features arrive
    # already extracted (features are 3-D, so CFM never calls its mel front end, which holds no weights).
    return CFM(transformer, sigma=cfm.sigma, audio_drop_prob=cfm.audio_drop_prob, cond_drop_prob=cfm.cond_drop_prob,
               num_channels=feature_dim, mel_spec_kwargs={"n_mel_channels": feature_dim},
               frac_lengths_mask=tuple(cfm.frac_lengths_mask), vocab_char_map=None)


class TTSModel(nn.Module, PretrainedMixin):
    config_class = TTSConfig
    model_kind = TTS_KIND

    def __init__(self, config: TTSConfig):
        super().__init__()
        if not config.vocab:
            raise TTSError("TTS config: empty vocabulary")
        self.config = config
        self.vocab = Vocabulary(config.vocab)
        self.cfm = build_cfm(config.dit, config.cfm, config.feature_dim, len(self.vocab))

    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim

    def model_text(self, text: str) -> str:
        """What this model reads for ``text`` (the text, or its phonemes)."""
        return model_text(text, self.config.text_input, self.config.phoneme_voice)

    def forward(self, feats: torch.Tensor, text: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        """Flow-matching loss on normalised features ``(B, T, D)`` and token ids ``(B, L)``."""
        loss, _, _ = self.cfm(feats, text, lens=lens)
        return loss

    base_dir: Path | None = None  # the model dir this was loaded from: stored relative paths start there

    def load_feature_space(self, source: str = "TTS model") -> FeatureSpace:
        return FeatureSpace.from_config(self.config.feature, source, self.base_dir)

    def _save_beside(self, tmp: Path, directory: Path) -> dict:
        """The decoder's folder beside the weights (saved with the model, so the dir is complete on
        its own), and a latent model's config naming the VAE its latents came from and that VAE's
        weights hash (``record_vae``)."""
        return {"feature": record_vae(bundle_decoder(self.config.feature, tmp, directory, self.base_dir,
                                                     source=f"TTS model saved to {directory}"))}

    @classmethod
    def from_pretrained(cls, ref: str | os.PathLike, map_location: str | torch.device = "cpu",
                        revision: str | None = None) -> "TTSModel":
        """A TTS model dir or hub id; a local folder of another kind (a VAE, a CTC judge, a run dir
        ...) is refused by name before anything is read from it."""
        refuse_other_kind(ref, TTS_KIND)
        directory = _model_dir(ref, revision)
        model = super().from_pretrained(directory, map_location)
        model.base_dir, model.source = directory, str(ref)
        return model

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _model_dir(ref: str | os.PathLike, revision: str | None = None) -> Path:
    """A local TTS model dir; a hub id is downloaded with its decoder's folder, which the core's
    ``resolve_model_dir`` (config.json + weights only) would leave behind."""
    folders = tuple(f"{key}/*" for key, _, _ in BUNDLED_DECODERS.values())
    return resolve_model_dir(ref, revision=revision, also=folders)
