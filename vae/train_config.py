"""Typed config of a VAE training run (YAML + ``key=value`` overrides, see ``vae/configs/``).

Defaults are the Semantic-VAE release's recipe (arXiv 2509.22167): 3 s crops, AdamW 1e-4 (0.8, 0.99),
ExponentialLR 0.999996/step, grad clip 10, loss weights mel 15 / GAN 1 / FM 2 / KL 0.01 / align 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from svae_tts.config import Checked, load_config, nonneg, positive, ranged, sample_rate_field
from svae_tts.errors import ConfigError
from svae_tts.train_cli import preset_or_path
from svae_tts.train_settings import OptimSettings, RunSettings
from vae.discriminators import DiscriminatorConfig


@dataclass
class DataConfig(Checked):
    train: str = ""                        # corpus dir (datasets saved to disk) or a folder of audio files
    train_split: str = "train"
    valid: Optional[str] = None            # defaults to `train` (its `valid_split` when it is a corpus)
    valid_split: Optional[str] = None      # None: `dev` when the corpus has a non-empty one, else `test`
    valid_items: int = nonneg(4)           # fixed validation utterances (mel distance, audio samples)
    valid_seconds: float = positive(4.0)
    segment_seconds: float = positive(3.0)
    batch_size: int = positive(8)          # per process
    num_workers: int = nonneg(2)


@dataclass
class TeacherConfig(Checked):
    enabled: bool = True                   # false = acoustic VAE: no projector, no teacher forward at all
    model: Optional[str] = "microsoft/wavlm-large"   # hub id or local dir (online teacher)
    layer: int = -1                        # hidden-state index, -1 = last
    sample_rate: Optional[int] = sample_rate_field(None)  # only when the teacher's configs do not say
    features: Optional[str] = None         # precomputed data_prep feature dir (used instead of `model`)
    # what the latent is pulled toward: "projector" = the release's conv projector, trained by the same
    # loss; "pca" = the teacher's top-D principal components, fitted once on `pca_batches` training
    # batches before the first step and fixed (vae/pca_target.py says why)
    target: Literal["projector", "pca"] = "projector"
    pca_batches: int = positive(32)


@dataclass
class LossConfig(Checked):
    mel_weight: float = nonneg(15.0)
    gan_weight: float = nonneg(1.0)
    fm_weight: float = nonneg(2.0)
    kl_weight: float = nonneg(0.01)
    align_weight: float = nonneg(1.0)
    # the alignment loss reaches the encoder from this step; before it, it is computed and logged
    # only (how aligned the latents are without it), so the VAE first learns to reconstruct
    align_start_step: int = nonneg(0)
    mel_n_mels: list[int] = positive(default_factory=lambda: [5, 10, 20, 40, 80, 160, 320])
    mel_windows: list[int] = positive(default_factory=lambda: [32, 64, 128, 256, 512, 1024, 2048])
    disc_start_step: int = nonneg(0)       # the discriminator trains from this step ...
    adv_start_step: int = nonneg(0)        # ... and its losses reach the generator from this one (>= disc_start)
    kl_warmup_steps: int = nonneg(0)       # KL weight ramps linearly from 0 over these steps

    ORDERED = (("disc_start_step", "adv_start_step"),)


@dataclass
class OptimConfig(OptimSettings):
    """The release's optimiser: AdamW 1e-4 (0.8, 0.99), clipping at 10, and an exponential LR decay."""

    lr: float = positive(1e-4)
    betas: tuple[float, float] = ranged((0.8, 0.99), ge=0, lt=1)
    grad_clip: float = positive(10.0)
    lr_decay: float = ranged(0.999996, gt=0, le=1)  # ExponentialLR gamma, per optimiser step


@dataclass
class TrainConfig(RunSettings):
    """The run settings (budget, checkpoints, resume ...) are :class:`svae_tts.train_settings.RunSettings`'."""

    run_dir: str = "runs/semantic_vae"
    vae: str = "semantic_vae"              # VAE preset name or YAML path
    vae_overrides: list[str] = field(default_factory=list)
    init_from: Optional[str] = None        # VAE model dir / hub id to fine-tune (e.g. an imported official one)
    init_discriminator: Optional[str] = None   # our discriminator.safetensors, or the release's discriminator/weights.pth
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    max_steps: int = positive(600_000)     # > 0: a run that trains nothing must not export a model
    grad_accum: int = positive(1)
    save_every: int = nonneg(5000)         # checkpoints; 0 = only at the end
    export_every: Optional[int] = nonneg(50_000)   # exports also happen at the end; 0 = only then
    valid_every: int = nonneg(5000)        # 0 = never
    audio_every: int = nonneg(20_000)      # 0 = never


CONFIGS_DIR = Path(__file__).resolve().parent / "configs"


def training_config_path(name: str) -> Path:
    """The shipped training config ``name`` (``semantic_vae``, ``tiny_acoustic`` ...): ``vae/configs/<name>.yaml``."""
    path = CONFIGS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")))
        raise ConfigError(f"unknown VAE training config {name!r} (known: {known})")
    return path


def load_train_config(config: str | None, overrides: list[str] | None = None) -> TrainConfig:
    """``--config`` as the trainers take it (a YAML path, or a name in ``vae/configs/`` such as
    ``tiny_acoustic``; none = the defaults) with ``KEY=VALUE`` overrides."""
    return load_config(TrainConfig, preset_or_path(config, CONFIGS_DIR), overrides)
