"""The models a VAE training run adds around the generator, and the export dir that holds them.

Alignment needs a teacher (online, or its precomputed features) and a projector from the teacher's
width onto the latent; the GAN needs a discriminator. Both can start from a model dir (``init_from``:
a previous export or an imported release) through the file names below, which are also what
:func:`write_export` writes: an export is a model dir another run can be fine-tuned from. Kept apart
from :mod:`vae.train` so the trainer holds only the optimisation step and its loop hooks.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Optional

from torch import nn

from svae_tts.checkpoint import load_state_dict, save_state_dict
from svae_tts.fileio import atomic_dir
from vae.discriminators import build_discriminator, load_discriminator_file
from vae.model import SemanticVAE, VAEError
from vae.pca_target import PCATarget, is_pca_state
from vae.projector import PROJECTOR_FILE, AlignmentProjector
from vae.teacher import OnlineTeacher, PrecomputedFeatures
from vae.train_config import TeacherConfig, TrainConfig

DISCRIMINATOR_FILE = "discriminator.safetensors"


def build_alignment(cfg: TrainConfig, latent_dim: int, device) -> tuple[
        Optional[OnlineTeacher], Optional[PrecomputedFeatures], Optional[AlignmentProjector]]:
    """``(teacher, features, projector)``: the online teacher or the precomputed features (one of
    them), and the learned projector from the teacher's width, taken from ``init_from`` when its
    shapes match (``None`` with ``teacher.target = "pca"``: that target is fitted on the data,
    :func:`load_pca_target`); all ``None`` when alignment is off."""
    if not cfg.teacher.enabled:
        return None, None, None
    teacher, features = None, None
    if cfg.teacher.features:
        features = PrecomputedFeatures(cfg.teacher.features)
        width = features.width
    else:
        if not cfg.teacher.model:
            raise VAEError("teacher.enabled is true but neither teacher.model nor teacher.features is set")
        teacher = OnlineTeacher(cfg.teacher.model, cfg.teacher.layer, cfg.teacher.sample_rate).to(device)
        width = teacher.width
    if cfg.teacher.target == "pca":
        return teacher, features, None
    projector = AlignmentProjector(width, latent_dim)
    if cfg.init_from and (Path(cfg.init_from) / PROJECTOR_FILE).is_file():
        state = load_state_dict(Path(cfg.init_from) / PROJECTOR_FILE)
        if all(k in state and state[k].shape == v.shape for k, v in projector.state_dict().items()):
            projector.load_state_dict(state)
    return teacher, features, projector


def load_pca_target(init_from: Optional[str], width: int, latent_dim: int) -> Optional[PCATarget]:
    """The PCA target a fine-tuned model dir was trained toward, when it holds one of these shapes
    (then the run keeps pulling toward the same directions instead of fitting new ones)."""
    if not init_from or not (Path(init_from) / PROJECTOR_FILE).is_file():
        return None
    state = load_state_dict(Path(init_from) / PROJECTOR_FILE)
    if not is_pca_state(state) or tuple(state["components"].shape) != (width, latent_dim):
        return None
    return PCATarget.from_state_dict(state)


def build_run_discriminator(cfg: TrainConfig) -> nn.Module:
    """Fresh, or from ``init_discriminator`` / the fine-tuned model dir's discriminator file."""
    disc = build_discriminator(cfg.discriminator)
    disc_init = cfg.init_discriminator
    if disc_init is None and cfg.init_from and (Path(cfg.init_from) / DISCRIMINATOR_FILE).is_file():
        disc_init = str(Path(cfg.init_from) / DISCRIMINATOR_FILE)
    if disc_init:
        load_discriminator_file(disc, disc_init)
    return disc


def write_export(out: Path, ema_model: SemanticVAE, teacher_cfg: TeacherConfig,
                 features: Optional[PrecomputedFeatures], projector: Optional[nn.Module], disc: nn.Module,
                 card: Optional[dict] = None) -> None:
    """The EMA generator as a VAE model dir (its config records whether it is semantic and which
    teacher) + projector and discriminator weights (+ a README.md model card with the ``card``
    facts), swapped in as one directory: an export dir that exists is complete. ``projector`` and
    ``disc`` are the unwrapped modules; ``projector`` is the learned projector or the PCA target,
    whichever the run pulled toward (told apart by their state-dict keys)."""
    model = copy.deepcopy(ema_model).cpu().eval()
    model.config.semantic = bool(teacher_cfg.enabled)
    model.config.teacher_target = teacher_cfg.target if teacher_cfg.enabled else None
    if teacher_cfg.enabled:
        if features is not None:
            model.config.teacher = getattr(features.store, "teacher", None) or teacher_cfg.features
        else:
            model.config.teacher = teacher_cfg.model
        model.config.teacher_layer = teacher_cfg.layer
    else:
        model.config.teacher, model.config.teacher_layer = None, None
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, overwrite=True, card=card)
        if projector is not None:
            save_state_dict(projector.state_dict(), tmp / PROJECTOR_FILE)
        save_state_dict(disc.state_dict(), tmp / DISCRIMINATOR_FILE)
