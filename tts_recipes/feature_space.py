"""Feature spaces the DiT is trained on: VAE latents (the paper's point) or F5-TTS's mel (the baseline).

Trainer and synthesis only see :class:`FeatureSpace`: dim, frame rate, sample rate, ``encode``
(waveform -> normalised ``(B, T, D)``) and ``decode`` (normalised ``(B, T, D)`` -> waveform);
``reconstruct`` is the round trip of one waveform, so whatever scores a space's round trips scores
the features the TTS sees (the one codec wrapper: later stages use these spaces, not their own). A
space is rebuilt from the plain dict it writes with ``to_config`` (stored in the TTS model dir's
config.json), which names its decoder: a VAE dir / hub id, or a Vocos dir / hub id, looked up
as :mod:`tts_recipes.decoder_bundle` says (relative to the file that stores it; bundled in exports).
"""

from __future__ import annotations

import logging
import math
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch

from svae_tts.checkpoint import VOCOS_KIND, load_state_dict, load_torch_weights
from svae_tts.errors import CheckpointError, SvaeError, exc_summary
from svae_tts.fileio import atomic_path
from svae_tts.hub import model_folder
from svae_tts.model_kinds import refuse_other_kind
from tts_recipes.decoder_bundle import DEFAULT_VOCOS, resolve_ref
from tts_recipes.errors import TTSError

log = logging.getLogger(__name__)


class FeatureSpace(ABC):
    kind: str = ""

    # -- what the trainer and synthesis need ---------------------------------------------------
    @property
    @abstractmethod
    def dim(self) -> int: ...

    @property
    @abstractmethod
    def sample_rate(self) -> int: ...

    @property
    @abstractmethod
    def hop_length(self) -> int: ...

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @abstractmethod
    def num_frames(self, num_samples: int) -> int:
        """Frames ``encode`` gives for ``num_samples`` samples."""

    @abstractmethod
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """Waveform ``(B, N)`` or ``(N,)`` at ``sample_rate`` -> normalised features ``(B, T, D)``."""

    @abstractmethod
    def decode(self, feats: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Normalised features ``(B, T, D)`` -> waveform ``(B, T * hop)`` (trimmed to ``length``)."""

    @torch.no_grad()
    def reconstruct(self, wav: torch.Tensor) -> torch.Tensor:
        """One waveform ``(N,)`` encoded and decoded again, ``(N,)`` on the CPU (zero-padded where the
        decoder gives fewer samples): the space's own round trip, what a TTS in it can at best sound like."""
        n = wav.numel()
        out = self.decode(self.encode(wav), length=n)[0].cpu()
        return out if out.numel() >= n else torch.nn.functional.pad(out, (0, n - out.numel()))

    @abstractmethod
    def to_config(self) -> dict[str, Any]: ...

    def to(self, device: str | torch.device) -> "FeatureSpace":
        return self

    @staticmethod
    def from_config(cfg: dict[str, Any], source: str = "feature space",
                    base_dir: str | os.PathLike | None = None) -> "FeatureSpace":
        """``base_dir``: the dir whose config.json holds ``cfg``; relative decoder paths start there."""
        kind = cfg.get("kind")
        if kind == LatentFeatureSpace.kind:
            return LatentFeatureSpace.from_config(cfg, source, base_dir)
        if kind == MelFeatureSpace.kind:
            return MelFeatureSpace.from_config(cfg, source, base_dir)
        raise TTSError(f"{source}: unknown feature space kind {kind!r} (expected 'latent' or 'mel')")




def _as_batch(wav: torch.Tensor) -> torch.Tensor:
    if wav.dim() == 1:
        wav = wav.unsqueeze(0)
    if wav.dim() != 2:
        raise TTSError(f"expected a waveform (B, N) or (N,), got shape {tuple(wav.shape)}")
    return wav


class LatentFeatureSpace(FeatureSpace):
    """Latents of one of our VAEs, normalised per channel with the latent set's statistics.

    The DiT learns a unit-variance target much more easily than raw latents whose channels differ
    in scale by orders of magnitude (the release ships no normalisation: one of its weaknesses),
    so ``encode`` standardises with ``mean``/``std`` and ``decode`` undoes it before the VAE.
    """

    kind = "latent"

    def __init__(self, vae: str, mean: torch.Tensor | list[float], std: torch.Tensor | list[float],
                 vae_model: torch.nn.Module | None = None, source: str = "feature space",
                 base_dir: str | os.PathLike | None = None, hint: str = "", bundled: bool = False,
                 padding: str = "margin"):
        # Resolved once, to an absolute dir (or a hub id): exports made later, from whatever folder
        # the process is in by then, copy the VAE from here.
        self.vae_ref = (str(vae) if vae_model is not None
                        else resolve_ref(vae, base_dir, "VAE", source, hint, inside_only=bundled))
        self.mean = torch.as_tensor(mean, dtype=torch.float32).flatten()
        self.std = torch.as_tensor(std, dtype=torch.float32).flatten()
        if self.mean.shape != self.std.shape:
            raise TTSError(f"{source}: latent mean {tuple(self.mean.shape)} and std {tuple(self.std.shape)} differ in shape")
        if (self.std <= 0).any() or not torch.isfinite(self.std).all():
            raise TTSError(f"{source}: latent std must be finite and positive")
        self.vae = vae_model if vae_model is not None else self._load_vae(self.vae_ref, source)
        if self.vae.latent_dim != self.mean.numel():
            raise TTSError(
                f"{source}: VAE {self.vae_ref} has latent dim {self.vae.latent_dim} but the statistics have {self.mean.numel()}"
            )
        self.vae.eval()
        self._device = next(self.vae.parameters()).device
        from vae.model import ENCODE_PADDINGS

        if padding not in ENCODE_PADDINGS:
            raise TTSError(f"{source}: latent padding must be one of {', '.join(ENCODE_PADDINGS)}, got {padding!r}")
        self.padding = padding  # how the training latents were encoded: prompts are encoded the same way

    @staticmethod
    def _load_vae(ref: str, source: str):
        from vae.load import load_vae

        try:
            return load_vae(ref)
        except SvaeError as exc:
            raise TTSError(f"{source} needs its VAE {ref}, which cannot be loaded ({exc})") from None

    @classmethod
    def from_config(cls, cfg: dict[str, Any], source: str = "feature space",
                    base_dir: str | os.PathLike | None = None) -> "LatentFeatureSpace":
        for key in ("vae", "mean", "std"):
            if key not in cfg:
                raise TTSError(f"{source}: latent feature space config lacks {key!r}")
        return cls(cfg["vae"], cfg["mean"], cfg["std"], source=source, base_dir=base_dir, bundled="vae_sha256" in cfg,
                   padding=cfg.get("padding", "margin"))  # models saved before the release padding existed: margin

    @classmethod
    def from_latent_set(cls, folder: str | os.PathLike, latent_set, vae: str | None = None) -> "LatentFeatureSpace":
        """The space of a latent set (``svae_tts.formats.latent_set.load_latent_set``): its statistics, and the
        VAE it was made with (``vae``, given by the user, overrides the one its latent_info.json names,
        which is looked up relative to the latent set first)."""
        source = f"latent set {folder}"
        ref = vae or latent_set.info.get("vae")
        if not ref:
            raise TTSError(f"{folder}: latent_info.json does not name its VAE; set data.vae")
        return cls(ref, latent_set.mean, latent_set.std, source=source, base_dir=None if vae else folder,
                   hint="" if vae else "; set data.vae=DIR to the VAE it was made with",
                   padding=latent_set.info.get("padding", "margin"))

    def to_config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "vae": self.vae_ref,
            "dim": self.dim,
            "frame_rate": self.frame_rate,
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
            "mean": [float(x) for x in self.mean],
            "std": [float(x) for x in self.std],
            "padding": self.padding,
        }

    @property
    def dim(self) -> int:
        return int(self.vae.latent_dim)

    @property
    def sample_rate(self) -> int:
        return int(self.vae.sample_rate)

    @property
    def hop_length(self) -> int:
        return int(self.vae.hop_length)

    def num_frames(self, num_samples: int) -> int:
        return math.ceil(num_samples / self.hop_length)

    def to(self, device):
        self.vae.to(device)
        self._device = torch.device(device)
        return self

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean.to(z)) / self.std.to(z)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.to(z) + self.mean.to(z)

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        # The padded encode the latent set was made with (``padding``): another one gives different
        # last frames (~0.25 s), which would make a synthesis prompt end unlike any training latent,
        # right where generation starts.
        mu = torch.stack(self.vae.encode_clips(list(_as_batch(wav).float()), padding=self.padding))
        return self.normalize(mu.to(self._device))

    @torch.no_grad()
    def decode(self, feats: torch.Tensor, length: int | None = None) -> torch.Tensor:
        z = self.denormalize(feats.to(self._device).float())
        return self.vae.decode(z, length)


# F5-TTS's mel front end (and the Vocos it was trained with): 24 kHz, 100 bins, hop 256.
DEFAULT_MEL = {"sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "win_length": 1024, "n_mels": 100}


def load_vocos(ref: str, source: str = "mel feature space"):
    """A Vocos from a local dir (``config.yaml`` + ``model.safetensors`` or ``pytorch_model.bin``) or a hub id.

    ``vocos.Vocos.from_pretrained`` unpickles with ``torch.load`` defaults and always goes online,
    so both paths are handled here: weights are read as safetensors or with ``weights_only=True``.
    """
    from vocos import Vocos

    try:  # a VAE or a TTS model named as the vocoder: refused by name, nothing read
        refuse_other_kind(ref, VOCOS_KIND)
    except CheckpointError as exc:
        raise TTSError(f"{source} needs its Vocos vocoder: {exc}") from None
    try:  # the hub's Vocos repos ship config.yaml + pytorch_model.bin; ours, model.safetensors
        path = model_folder(ref, ("config.yaml", ("model.safetensors", "pytorch_model.bin")), what="Vocos directory")
    except CheckpointError as exc:
        raise TTSError(f"{source}: {exc}") from None
    config = path / "config.yaml"
    if not config.is_file():
        raise TTSError(f"{path}: not a Vocos dir (missing config.yaml)")
    try:
        vocos = Vocos.from_hparams(str(config))
    except Exception as exc:
        raise TTSError(f"{config}: cannot build Vocos from it ({exc_summary(exc, 160)})") from None
    if (path / "model.safetensors").is_file():
        state = load_state_dict(path / "model.safetensors")
    elif (path / "pytorch_model.bin").is_file():
        state = load_torch_weights(path / "pytorch_model.bin")
    else:
        raise TTSError(f"{path}: Vocos dir has no weights (model.safetensors or pytorch_model.bin)")
    try:
        vocos.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise TTSError(f"{path}: Vocos weights do not fit its config ({exc_summary(exc, 160)})") from None
    return vocos.eval()


class MelFeatureSpace(FeatureSpace):
    """F5-TTS's log-mel (``f5_tts.model.modules.MelSpec``, Vocos flavour) with a Vocos vocoder.

    No normalisation (``mean`` 0, ``std`` 1 by default), as F5-TTS trains on the raw log-mel: the
    baseline stays the published recipe.
    """

    kind = "mel"

    def __init__(self, vocos: str = DEFAULT_VOCOS, mel: dict[str, int] | None = None,
                 vocos_model: torch.nn.Module | None = None, source: str = "feature space",
                 base_dir: str | os.PathLike | None = None, bundled: bool = False):
        from f5_tts.model.modules import MelSpec

        self.vocos_ref = (str(vocos) if vocos_model is not None
                          else resolve_ref(vocos, base_dir, "Vocos vocoder", source, inside_only=bundled))
        self.mel = {**DEFAULT_MEL, **(mel or {})}
        self.mel_spec = MelSpec(n_fft=self.mel["n_fft"], hop_length=self.mel["hop_length"], win_length=self.mel["win_length"],
                                n_mel_channels=self.mel["n_mels"], target_sample_rate=self.mel["sample_rate"], mel_spec_type="vocos")
        self.vocos = vocos_model if vocos_model is not None else load_vocos(self.vocos_ref, source)
        self._device = next(self.vocos.parameters()).device

    @classmethod
    def from_config(cls, cfg: dict[str, Any], source: str = "feature space",
                    base_dir: str | os.PathLike | None = None) -> "MelFeatureSpace":
        return cls(cfg.get("vocos", DEFAULT_VOCOS), cfg.get("mel"), source=source, base_dir=base_dir,
                   bundled="vocos_sha256" in cfg)

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocos": self.vocos_ref, "mel": dict(self.mel), "dim": self.dim,
                "frame_rate": self.frame_rate, "sample_rate": self.sample_rate, "hop_length": self.hop_length}

    @property
    def dim(self) -> int:
        return int(self.mel["n_mels"])

    @property
    def sample_rate(self) -> int:
        return int(self.mel["sample_rate"])

    @property
    def hop_length(self) -> int:
        return int(self.mel["hop_length"])

    def num_frames(self, num_samples: int) -> int:
        return num_samples // self.hop_length + 1  # centred STFT

    def to(self, device):
        self.vocos.to(device)
        self._device = torch.device(device)
        return self

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        # Computed where the waveform is (MelSpec follows its input), so DataLoader workers stay on CPU.
        mel = self.mel_spec(_as_batch(wav).float())
        return mel.transpose(1, 2)

    @torch.no_grad()
    def decode(self, feats: torch.Tensor, length: int | None = None) -> torch.Tensor:
        wav = self.vocos.decode(feats.to(self._device).float().transpose(1, 2))
        return wav[:, :length] if length is not None else wav


def write_random_vocos(directory: str | os.PathLike, dim: int = 64, intermediate_dim: int = 128, num_layers: int = 2,
                       mel: dict[str, int] | None = None, seed: int = 0) -> Path:
    """A random-init Vocos dir (config.yaml + model.safetensors) for tests and speed benchmarks.

    Pass the real sizes (512/1536/8) to time a full-size vocoder without downloading one.
    """
    import yaml
    from vocos import Vocos

    from svae_tts.checkpoint import save_state_dict

    m = {**DEFAULT_MEL, **(mel or {})}
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "feature_extractor": {"class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
                              "init_args": {"sample_rate": m["sample_rate"], "n_fft": m["n_fft"],
                                            "hop_length": m["hop_length"], "n_mels": m["n_mels"], "padding": "center"}},
        "backbone": {"class_path": "vocos.models.VocosBackbone",
                     "init_args": {"input_channels": m["n_mels"], "dim": dim, "intermediate_dim": intermediate_dim,
                                   "num_layers": num_layers}},
        "head": {"class_path": "vocos.heads.ISTFTHead",
                 "init_args": {"dim": dim, "n_fft": m["n_fft"], "hop_length": m["hop_length"], "padding": "same"}},
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    torch.manual_seed(seed)
    vocos = Vocos.from_hparams(str(directory / "config.yaml"))
    with atomic_path(directory / "model.safetensors") as tmp:  # safetensors alone would leave it 0600
        save_state_dict(vocos.state_dict(), tmp)
    return directory
