"""A fixed alignment target: the teacher's features projected on their top-D principal components.

The released recipe pulls the latent toward ``projector(teacher)``, a conv net trained by the same
cosine loss. Nothing in that loss keeps the projection informative: the projector is free to pick
the directions of the teacher that the latent already follows, and the loss is then met without the
latent taking on anything new. On the demo's CPU scale that is what happened: a linear phoneme probe
reads the teacher's own features at PER 0.34, its learned 16-dim projection at 0.76, no better than
the latents themselves (docs/results/notes/probe_steps.md). A projection fixed before training cannot give way:
the D directions of largest teacher variance kept 65 % of the variance and read at PER 0.38, and a VAE
pulled toward them (weight 10) had latents a probe read at PER 0.55 against 0.69 without alignment.

``TeacherConfig.target = "pca"`` selects it; the default ``"projector"`` is the release's. The fit is
plain linear algebra (a float64 covariance and ``torch.linalg.eigh``) over a fixed set of training
crops, so a resumed run and every process of a distributed one get the same target.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

PCA_KEYS = ("mean", "components")  # the state-dict keys of a PCA target in ``projector.safetensors``


class PCATarget(nn.Module):
    """``(B, T, C)`` teacher features -> ``(B, T, D)``: centred, then projected on ``components``."""

    def __init__(self, mean: torch.Tensor, components: torch.Tensor):
        super().__init__()
        if mean.ndim != 1 or components.ndim != 2 or components.shape[0] != mean.shape[0]:
            raise ValueError(f"PCA target: mean {tuple(mean.shape)} and components {tuple(components.shape)} "
                             "must be (C,) and (C, D)")
        self.register_buffer("mean", mean.float().contiguous())
        self.register_buffer("components", components.float().contiguous())

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats.float() - self.mean) @ self.components

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "PCATarget":
        return cls(state["mean"], state["components"])


def is_pca_state(state: dict[str, torch.Tensor]) -> bool:
    return set(state) == set(PCA_KEYS)


class CovarianceAccumulator:
    """Mean and covariance of feature frames ``(N, C)``, summed in float64 on the CPU one batch at a
    time (so the result does not depend on the device or on how the frames were batched)."""

    def __init__(self, width: int) -> None:
        self.total = torch.zeros(width, dtype=torch.float64)
        self.outer = torch.zeros(width, width, dtype=torch.float64)
        self.count = 0

    def add(self, frames: torch.Tensor) -> None:
        x = frames.detach().to("cpu", torch.float64)
        self.total += x.sum(0)
        self.outer += x.T @ x
        self.count += x.shape[0]

    def mean_cov(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.total / self.count
        return mean, self.outer / self.count - torch.outer(mean, mean)


def fit_pca_target(frames: Iterable[torch.Tensor], latent_dim: int) -> tuple[PCATarget, float]:
    """The top-``latent_dim`` principal components of the frames ``(N_i, C)``, and the share of the
    variance they keep. Each component's sign is fixed (its largest entry positive) so the target
    is a function of the data alone."""
    acc = None
    for f in frames:
        acc = acc or CovarianceAccumulator(f.shape[-1])
        acc.add(f.reshape(-1, f.shape[-1]))
    if acc is None or acc.count <= latent_dim:
        raise ValueError(f"PCA target: {0 if acc is None else acc.count} teacher frames, need more than {latent_dim}")
    if latent_dim > acc.total.shape[0]:
        raise ValueError(f"PCA target: latent_dim {latent_dim} exceeds the teacher's width {acc.total.shape[0]}")
    mean, cov = acc.mean_cov()
    values, vectors = torch.linalg.eigh(cov)  # ascending
    order = torch.argsort(values, descending=True)[:latent_dim]
    comps = vectors[:, order]
    signs = torch.sign(comps.gather(0, comps.abs().argmax(0, keepdim=True)))
    comps = comps * signs
    share = float(values[order].clamp_min(0).sum() / values.clamp_min(0).sum().clamp_min(1e-30))
    return PCATarget(mean, comps), share
