"""The BigVGAN-v2 generator from the `bigvgan` package, used as the VAE decoder.

The package builds its convs with the legacy ``torch.nn.utils.weight_norm`` (``weight_g`` /
``weight_v``); the released Semantic-VAE stores the parametrization form
(``parametrizations.weight.original0/1``). We swap each legacy weight norm for the
parametrization one right after construction, so our state dict uses the released names and
the same tensors (magnitude and direction are recomputed from the identical effective weight).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def _to_parametrized_weight_norm(root: nn.Module) -> None:
    for module in root.modules():
        if hasattr(module, "weight_g") and hasattr(module, "weight_v"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.nn.utils.remove_weight_norm(module)
            weight_norm(module)


def build_bigvgan(hparams: dict) -> nn.Module:
    """``bigvgan.BigVGAN`` from a plain dict of its hyper-parameters (no CUDA kernel)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from bigvgan.bigvgan import BigVGAN
        from bigvgan.env import AttrDict

        model = BigVGAN(AttrDict(dict(hparams)), use_cuda_kernel=False)
    _to_parametrized_weight_norm(model)
    return model
