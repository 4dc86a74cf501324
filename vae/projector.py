"""The alignment projector: teacher features (B, T, C) -> latent space (B, T, D), training only.

Conv1d(C→2D, k3) → GroupNorm(1) → Mish → Conv1d(2D→2D, k3) → GroupNorm(1) → Mish → Conv1d(2D→D, k1),
held in ``self.model`` (an ``nn.Sequential``) so the state-dict keys are ``model.0.weight`` ...,
exactly those of ``projectors.model`` in the released Semantic-VAE checkpoints (``zkniu/Semantic-VAE``,
arXiv 2509.22167); released weights load as-is.
"""

from __future__ import annotations

import torch
from torch import nn

PROJECTOR_FILE = "projector.safetensors"  # the projector's weights in a VAE model dir (beside the VAE's own)


class AlignmentProjector(nn.Module):
    def __init__(self, teacher_dim: int, latent_dim: int):
        super().__init__()
        hidden = 2 * latent_dim
        self.teacher_dim = teacher_dim
        self.latent_dim = latent_dim
        self.model = nn.Sequential(
            nn.Conv1d(teacher_dim, hidden, kernel_size=3, padding=1),
            nn.GroupNorm(1, hidden),
            nn.Mish(),
            nn.Conv1d(hidden, hidden, kernel_size=3, padding=1),
            nn.GroupNorm(1, hidden),
            nn.Mish(),
            nn.Conv1d(hidden, latent_dim, kernel_size=1),
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """``(B, T, C)`` -> ``(B, T, D)`` (time-major in and out)."""
        return self.model(feats.transpose(1, 2)).transpose(1, 2)
