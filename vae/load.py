"""``load_vae``: the one way to get a VAE from what a user names (model dir, hub id, release reference, preset).

Apart from :mod:`vae.model` because a release reference is imported through :mod:`vae.official`,
which itself builds a :class:`vae.model.SemanticVAE`: the loader sits above both.
"""

from __future__ import annotations

import os

import torch

from svae_tts.checkpoint import RELEASE_KIND, VAE_KIND
from svae_tts.device import resolve_device
from svae_tts.hub import is_release_ref
from svae_tts.model_kinds import refuse_other_kind
from vae.model import SemanticVAE
from vae.official import cached_release

PRESET_PREFIX = "preset:"


def load_vae(ref: str | os.PathLike, device: str | torch.device = "cpu", seed: int = 0) -> SemanticVAE:
    """The one VAE loader: a model dir, a hub id (``owner/name``), a release reference
    (``owner/repo/subfolder``, imported once into the svae-tts cache: :func:`vae.official.cached_release`)
    or ``preset:NAME`` (random init from ``seed``: tests and smoke runs), in eval mode on ``device``
    (``"auto"``: a GPU when there is one); ``vae.source`` names where it came from, as the user wrote it.
    A local folder of another kind (a TTS model, a CTC judge, a run dir ...) is refused by name first."""
    ref = str(ref)
    if not ref.startswith(PRESET_PREFIX):
        refuse_other_kind(ref, VAE_KIND, hints={RELEASE_KIND: f"import it first: svae-tts vae import {ref} OUT_DIR"})
    device = resolve_device(device)
    if ref.startswith(PRESET_PREFIX):
        torch.manual_seed(seed)
        vae = SemanticVAE.from_preset(ref[len(PRESET_PREFIX):])
    elif is_release_ref(ref):
        vae = SemanticVAE.from_pretrained(cached_release(ref))
    else:
        vae = SemanticVAE.from_pretrained(ref)
    vae.source = ref
    return vae.to(device).eval()
