"""The Semantic-VAE: DAC-style encoder -> attention projection -> Gaussian latent -> BigVGAN-v2.

Latents are time-major ``(B, T, D)`` at ``sample_rate / hop_length`` frames per second (40 Hz for
the released models). The module tree and parameter names match the released checkpoints
(minus the training-only alignment projector, which lives with the trainer), so
``vae.official.import_official`` loads them strictly; :func:`vae.load.load_vae` is the loader to call.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import nn

from svae_tts.checkpoint import VAE_KIND, PretrainedMixin
from svae_tts.errors import SvaeError
from vae.bottleneck import AttentionProjection
from vae.config import VAEConfig, load_preset
from vae.decoder import build_bigvgan
from vae.layers import Encoder
from vae.spectral import MelEncoder, VocosDecoder


class VAEError(SvaeError):
    """Bad input to a VAE (wrong shape, wrong sample rate, mismatched weights)."""


# Trailing silence every clip gets before encoding: more than the encoder's one-sided receptive
# field (about 0.3 s for the released architecture), see :meth:`SemanticVAE.encode_clips`.
PAD_MARGIN_SECONDS = 0.5
# How a clip is padded before encoding (:meth:`SemanticVAE.encode_clips`): "margin", the project's
# default, or "release", the released scripts/extract_latent.py's encode (hop padding, one clip at a time).
ENCODE_PADDINGS = ("margin", "release")
# The release script's --global_seed default: the noise seed of release-style samples unless one is given.
RELEASE_SEED = 42


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) summed over D, averaged over (valid) frames, as in the release."""
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - (logvar.exp() + 1e-6), dim=-1)
    if mask is None:
        return kl.mean()
    mask = mask.to(kl.dtype)
    return (kl * mask).sum() / mask.sum().clamp_min(1.0)


class SemanticVAE(nn.Module, PretrainedMixin):
    config_class = VAEConfig
    model_kind = VAE_KIND

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.encoder = self._build_encoder(config)
        self.pre_block = AttentionProjection(config.encoder_out_dim, config.latent_dim, config.attn_heads, config.mlp_ratio)
        self.fc_mu = nn.Linear(config.latent_dim, config.latent_dim)
        self.fc_var = nn.Linear(config.latent_dim, config.latent_dim)
        self.decoder = self._build_decoder(config)
        self.decode_dtype = torch.float32  # see set_decode_dtype

    @staticmethod
    def _build_encoder(config: VAEConfig) -> nn.Module:
        if config.encoder_type == "mel":
            s = config.spectral
            return MelEncoder(config.sample_rate, config.hop_length, s.mel_n_fft, s.mel_bins, config.encoder_out_dim,
                              s.encoder_intermediate_dim, s.encoder_layers)
        return Encoder(config.encoder_dim, list(config.encoder_rates), config.encoder_out_dim)

    @staticmethod
    def _build_decoder(config: VAEConfig) -> nn.Module:
        if config.decoder_type == "vocos":
            s = config.spectral
            return VocosDecoder(config.latent_dim, config.hop_length, s.istft_n_fft, s.decoder_dim,
                                s.decoder_intermediate_dim, s.decoder_layers)
        return build_bigvgan({**asdict(config.decoder), "num_mels": config.latent_dim})

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name_or_path: str, overrides: list[str] | None = None) -> "SemanticVAE":
        return cls(load_preset(name_or_path, overrides))

    # -- properties users need to line things up ----------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def frame_rate(self) -> float:
        return self.config.frame_rate

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def num_frames(self, num_samples: int) -> int:
        return math.ceil(num_samples / self.hop_length)

    # -- encode / decode ------------------------------------------------------------------------
    def _as_batch(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() == 1:
            wav = wav.unsqueeze(0)
        if wav.dim() == 3 and wav.shape[1] == 1:
            wav = wav[:, 0]
        if wav.dim() != 2:
            raise VAEError(f"encode expects a waveform (B, N) or (N,), got shape {tuple(wav.shape)}")
        if wav.shape[-1] == 0:
            raise VAEError("encode got zero-length audio")
        return wav

    def pad_to_hop(self, wav: torch.Tensor) -> torch.Tensor:
        right = self.num_frames(wav.shape[-1]) * self.hop_length - wav.shape[-1]
        return F.pad(wav, (0, right)) if right else wav

    def encode_stats(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and clamped log-variance, each ``(B, T, D)``."""
        wav = self.pad_to_hop(self._as_batch(wav))
        h = self.encoder(wav.unsqueeze(1)).transpose(1, 2)
        h = self.pre_block(h)
        mu = self.fc_mu(h)
        c = self.config.logvar_clamp
        logvar = self.fc_var(h).clamp(-c, c)
        return mu, logvar

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + eps * torch.exp(0.5 * logvar)

    def encode(self, wav: torch.Tensor, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Waveform ``(B, N)`` at ``sample_rate`` -> ``(z, mu, logvar)``, each ``(B, ceil(N/hop), D)``.

        ``z`` is a posterior sample; use ``mu`` for deterministic latents (the TTS default)."""
        mu, logvar = self.encode_stats(wav)
        return self.reparameterize(mu, logvar, generator), mu, logvar

    @torch.no_grad()
    def encode_clips(self, wavs: list[torch.Tensor], sample: bool = False,
                     generator: torch.Generator | list[torch.Generator] | None = None,
                     margin_seconds: float = PAD_MARGIN_SECONDS, padding: str = "margin") -> list[torch.Tensor]:
        """Latents ``(ceil(N_i/hop), D)`` float32 on the CPU for each 1-D waveform, whatever it is batched with.

        The one encode of the project: the latent set the TTS trains on, the TTS prompt, the file
        jobs and the evaluation all call it, so they all see the same latents. With ``padding="margin"``
        (the default) every clip gets at least ``margin_seconds`` of trailing zeros before encoding
        and its output is trimmed to its own ``ceil(N/hop)`` frames: a bare :meth:`encode` pads to the
        hop only, and its last frames (about 0.25 s) then differ. Since the attention is causal and
        the convolutions see no further than the margin, the padding from longer batch-mates cannot
        change a kept frame, so batch size and process count do not change the latents. ``sample``
        draws from the posterior instead of taking its mean, each clip's noise ``(T_i, D)`` on its own:
        from ``generator[i]`` when given a list (one per clip, so a clip's sample does not depend on
        its batch-mates either), else from ``generator`` (or torch's global RNG) clip after clip.

        ``padding="release"`` is the encode of the release's ``scripts/extract_latent.py`` instead,
        for latents that mix with ones its authors' script made: each clip encoded alone, right-padded
        to a multiple of the hop only (its last ~12 frames then differ from the margin's), and a
        sample drawn as that script draws it: its ``encode`` draws a posterior sample that it throws
        away and the script then draws the one it keeps, so two noises ``(1, T_i, D)`` are taken from
        the generator per clip and the second is used. The script seeds torch's global RNG once per
        process and encodes its files one after another, so pass one generator seeded as it does
        (``global_seed * world_size + rank``) and the clips in its order; a clip's sample depends on
        the clips before it, as the script's do.
        """
        if padding not in ENCODE_PADDINGS:
            raise VAEError(f"encode padding must be one of {', '.join(ENCODE_PADDINGS)}, got {padding!r}")
        if not wavs:
            return []
        lengths = [int(w.shape[-1]) for w in wavs]
        if min(lengths) == 0:
            raise VAEError("encode got zero-length audio")
        device = next(self.parameters()).device
        if padding == "release":
            out = []
            for i, w in enumerate(wavs):
                mu, logvar = self.encode_stats(w.reshape(1, -1).to(device))
                g = generator[i] if isinstance(generator, (list, tuple)) else generator
                z = self._release_sample(mu, logvar, g)[0] if sample else mu[0]
                out.append(z.float().cpu())
            return out
        margin = int(round(margin_seconds * self.sample_rate))
        batch = torch.zeros(len(wavs), max(lengths) + margin)
        for i, w in enumerate(wavs):
            batch[i, : lengths[i]] = w.reshape(-1)
        mu, logvar = self.encode_stats(batch.to(device))
        out = []
        for i, n in enumerate(lengths):
            z = mu[i, : self.num_frames(n)]
            if sample:
                g = generator[i] if isinstance(generator, (list, tuple)) else generator
                z = self.reparameterize(z, logvar[i, : z.shape[0]], g)
            out.append(z.float().cpu())
        return out

    @classmethod
    def _release_sample(cls, mu: torch.Tensor, logvar: torch.Tensor,
                        generator: torch.Generator | None) -> torch.Tensor:
        """The posterior sample the release's extraction script keeps: the second of two draws (see
        :meth:`encode_clips`)."""
        cls.reparameterize(mu, logvar, generator)  # the sample the release's encode draws and drops
        return cls.reparameterize(mu, logvar, generator)

    def set_decode_dtype(self, dtype: torch.dtype | str = torch.float32) -> "SemanticVAE":
        """The precision of decodes without gradients (inference): ``float32`` (the default),
        ``bfloat16`` or ``float16`` (input cast down, waveform returned in float32).

        Inference decodes of the BigVGAN decoder run :func:`vae.fast_decode.inference_decoder`'s copy
        (same weights; polyphase anti-aliasing, channels-last convs): on a CPU in fp32 it is
        1.4x (batch 1) to 1.9x (batch 8) the decoder's own modules at a waveform difference of ~1e-7,
        and in bf16 2.3x to 5.0x (error a few 1e-3 with random weights) on CPUs with AMX / AVX512-BF16
        (``docs/benchmarks/cpu_2026-12-01.md``). fp32 decodes on a GPU keep the original modules:
        the copy is measured on CPUs only. The copy is rebuilt whenever the decoder's weights, device
        or dtype change: each decode compares the version counters, data pointers and a per-tensor
        sum of the decoder's parameters and buffers (the anti-aliasing filters) with those it was
        built from (:func:`vae.fast_decode.decoder_fingerprint`), so loading weights, an optimiser
        step, an in-place change of a filter and writes through ``p.data`` (which bump no version
        counter; ``ema_pytorch`` updates that way) all show.
        Decodes with gradients or in train mode (a trainer's no-grad generator passes would
        otherwise rebuild the copy after every step) run the original modules, bit for bit the
        release's. The copy holds a second set of decoder weights (~200 MB in fp32 at the released
        size); building it takes ~0.8 s there on 2 CPU threads, about what it saves on one 3 s decode
        (1.0 s against 1.7 s), so a single short decode breaks even and later ones gain; the
        fingerprint is a pass over the weights per decode (~16 ms there).
        The frame-rate (Vocos) decoder ignores the setting."""
        if isinstance(dtype, str):
            if dtype not in ("float32", "bfloat16", "float16"):
                raise VAEError(f"decoder dtype must be float32, bfloat16 or float16, got {dtype!r}")
            dtype = getattr(torch, dtype)
        if dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise VAEError(f"decoder dtype must be float32, bfloat16 or float16, got {dtype}")
        self.decode_dtype = dtype
        self.__dict__.pop("_inference_cache", None)
        return self

    def _decodes_with_copy(self, device: torch.device) -> bool:
        """Whether an inference decode runs the fast copy (see :meth:`set_decode_dtype`)."""
        if self.config.decoder_type == "vocos":
            return False
        return self.decode_dtype != torch.float32 or device.type == "cpu"

    def _inference_decoder(self) -> nn.Module:
        from vae.fast_decode import decoder_fingerprint, inference_decoder

        param = next(self.decoder.parameters())
        tensors_key, sums = decoder_fingerprint(self.decoder)  # parameters and buffers (the anti-aliasing filters)
        key = (tensors_key, param.device, param.dtype, self.decode_dtype)
        cached = self.__dict__.get("_inference_cache")
        if cached is None or cached[0] != key or not torch.equal(cached[1], sums):
            cached = (key, sums, inference_decoder(self.decoder).to(self.decode_dtype))
            self.__dict__["_inference_cache"] = cached  # outside nn.Module's registry: not in state_dict
        return cached[2]

    def decode(self, z: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Latents ``(B, T, D)`` -> waveform ``(B, T*hop)``, trimmed to ``length`` samples if given."""
        if z.dim() == 2:
            z = z.unsqueeze(0)
        if z.dim() != 3 or z.shape[-1] != self.latent_dim:
            raise VAEError(f"decode expects latents (B, T, {self.latent_dim}), got shape {tuple(z.shape)}")
        if not torch.is_grad_enabled() and not self.training and self._decodes_with_copy(z.device):
            wav = self._inference_decoder()(z.transpose(1, 2).to(self.decode_dtype))[:, 0].to(z.dtype)
        else:
            wav = self.decoder(z.transpose(1, 2))[:, 0]
        return wav[:, :length] if length is not None else wav

    def forward(self, wav: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Training-style pass: sample z, decode, trim to the input length."""
        wav = self._as_batch(wav)
        z, mu, logvar = self.encode(wav, generator)
        return {"audio": self.decode(z, wav.shape[-1]), "z": z, "mu": mu, "logvar": logvar}
