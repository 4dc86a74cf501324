"""A faster inference copy of the BigVGAN decoder: same weights, same output to float rounding.

BigVGAN wraps every Snake activation in an anti-aliased ``Activation1d``: upsample 2x (zero-stuff
and filter with a 12-tap Kaiser-sinc, done as a depthwise ``conv_transpose1d``), the activation,
then low-pass and keep every second sample (a strided depthwise ``conv1d``), each preceded by a
replicate pad. On CPU the transposed depthwise conv falls off the fast convolution path and the
replicate pads copy the whole signal twice per activation. In fp32 that costs little next to the
dense AMP-block convs, which run near the core's peak, so this copy is no faster in fp32; but
neither the transposed depthwise conv nor the pads have a fast bf16 path, so the original modules
in bf16 are *slower* than fp32 (0.65-0.90x), while this copy in bf16 is 1.4-2.0x faster than the
fp32 original on CPUs with bf16 units (``docs/benchmarks/cpu_2026-12-01.md``).

:class:`PolyphaseActivation1d` computes the same thing without ever building the zero-stuffed
signal: the upsampler's even and odd outputs are two short filters over the input (its polyphase
components); the activation runs on
the two phases as they are (it is pointwise); the downsampler reads the two phases directly with
the matching halves of its filter. Every filter is a plain depthwise conv (oneDNN's fast path). Edges replicate the first/last sample exactly as the original
pads do. The channel count is fixed at construction, so the module also exports to ONNX (the
original's ``filter.expand(C, ...)`` over a runtime channel count does not).

:func:`inference_decoder` returns a copy of a decoder with every ``Activation1d`` swapped and the
weight-norm parametrizations folded into plain weights (they would otherwise be recomputed on
every call). Training keeps the original modules: the released checkpoints' layout is untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize


def _edge_pad(x: torch.Tensor, left_src: torch.Tensor, left: int, right_src: torch.Tensor, right: int) -> torch.Tensor:
    """``x`` with ``left`` copies of ``left_src`` (B, C, 1) before it and ``right`` of ``right_src`` after.

    An explicit concatenation: ``F.pad(mode='replicate')`` is several times slower on CPU, and the
    downsampler needs the *other* phase's edge sample, which no pad mode gives."""
    parts = []
    if left > 0:
        parts.append(left_src.expand(-1, -1, left))
    parts.append(x)
    if right > 0:
        parts.append(right_src.expand(-1, -1, right))
    return torch.cat(parts, dim=-1) if len(parts) > 1 else x


def upsample_polyphase_taps(h: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """The 2x upsampler of BigVGAN (pad ``K/2-1`` replicate, transposed conv stride 2, crop) as two
    correlation filters over the input: returns (taps (2, n), left pad, right pad) such that output
    sample ``2m + phase`` = sum_t taps[phase, t] * x_padded[m + t]."""
    k = h.numel()
    pad = k // 2 - 1
    crop_left = 2 * pad + (k - 2) // 2
    # output 2m+phase = sum_s xp[m+s] * h[phase + crop_left - 2s] for the s where the index is a tap
    spans = [[s for s in range(-k, 2 * k) if 0 <= phase + crop_left - 2 * s < k] for phase in (0, 1)]
    lo, hi = min(min(sp) for sp in spans), max(max(sp) for sp in spans)
    taps = torch.zeros(2, hi - lo + 1, dtype=h.dtype)
    for phase, sp in enumerate(spans):
        for s in sp:
            taps[phase, s - lo] = 2.0 * h[phase + crop_left - 2 * s]  # x2: the upsampler's gain
    # xp[j] = x[clamp(j - pad)], so x_padded starts at input index lo - pad
    return taps, pad - lo, hi - pad


def downsample_polyphase_taps(g: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """BigVGAN's low-pass + stride-2 downsampler (pad ``K/2-1`` left, ``K/2`` right, replicate) over a
    signal given as its even and odd phases: returns (taps (2, n), left pad, right pad) such that
    output ``m`` = sum_phase sum_t taps[phase, t] * phase_padded[m + t]."""
    k = g.numel()
    pad_left = k // 2 - (1 if k % 2 == 0 else 0)
    offsets = {0: [], 1: []}  # (offset into the phase, tap index)
    for j in range(k):
        i = j - pad_left  # input index relative to 2m
        phase = i % 2
        offsets[phase].append(((i - phase) // 2, j))
    lo = min(a for pairs in offsets.values() for a, _ in pairs)
    hi = max(a for pairs in offsets.values() for a, _ in pairs)
    taps = torch.zeros(2, hi - lo + 1, dtype=g.dtype)
    for phase, pairs in offsets.items():
        for a, j in pairs:
            taps[phase, a - lo] = g[j]
    return taps, -lo, hi


class PolyphaseActivation1d(nn.Module):
    """Drop-in for ``bigvgan``'s ``Activation1d`` (ratio 2 both ways) on ``channels`` channels."""

    def __init__(self, source: nn.Module, channels: int):
        super().__init__()
        up, down = source.upsample, source.downsample.lowpass
        if source.up_ratio != 2 or source.down_ratio != 2 or not down.padding or down.padding_mode != "replicate":
            raise ValueError("PolyphaseActivation1d reproduces the 2x / replicate-pad Activation1d only")
        self.act = source.act
        self.channels = channels
        up_taps, self.up_left, self.up_right = upsample_polyphase_taps(up.filter.detach().reshape(-1).float())
        down_taps, self.down_left, self.down_right = downsample_polyphase_taps(down.filter.detach().reshape(-1).float())
        # one depthwise filter per phase: oneDNN's depthwise kernel (one input, one output per group)
        # is fast, a grouped conv with two outputs or inputs per group is not
        for name, taps in (("up", up_taps), ("down", down_taps)):
            for phase in (0, 1):
                self.register_buffer(f"{name}{phase}", taps[phase].repeat(channels, 1).unsqueeze(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, t = x.shape[1], x.shape[-1]
        xp = _edge_pad(x, x[..., :1], self.up_left, x[..., -1:], self.up_right)
        # Channel c's two phases side by side, (B, C, 2T): the activation is per channel and
        # pointwise, so sample order inside a channel does not matter to it.
        u = self.act(torch.cat((F.conv1d(xp, self.up0, groups=c), F.conv1d(xp, self.up1, groups=c)), dim=-1))
        even, odd = u[..., :t], u[..., t:]
        first, last = even[..., :1], odd[..., -1:]  # u[0] and u[2T-1] of the interleaved signal
        even = _edge_pad(even, first, self.down_left, last, self.down_right)
        odd = _edge_pad(odd, first, self.down_left, last, self.down_right)
        return F.conv1d(even, self.down0, groups=c) + F.conv1d(odd, self.down1, groups=c)


def _channels_of(act: nn.Module) -> int:
    alpha = getattr(act, "alpha", None)
    if alpha is None:
        raise ValueError(f"cannot tell the channel count of {type(act).__name__}")
    return alpha.numel()


def _folded_state(decoder: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of ``decoder`` under plain names, weight-normed weights computed."""
    state = {}
    for prefix, module in decoder.named_modules():
        if isinstance(module, parametrize.ParametrizationList) or ".parametrizations." in f".{prefix}.":
            continue  # the magnitude/direction pairs: folded into ``weight`` by their owner below
        dot = f"{prefix}." if prefix else ""
        if parametrize.is_parametrized(module, "weight"):
            state[f"{dot}weight"] = module.weight.detach()
        for name, p in module.named_parameters(recurse=False):
            state[f"{dot}{name}"] = p.detach()
        for name, b in module.named_buffers(recurse=False):
            state[f"{dot}{name}"] = b
    return state


def inference_decoder(decoder: nn.Module) -> nn.Module:
    """A new BigVGAN with ``decoder``'s weights for inference only: weight norm folded into plain
    weights, polyphase activations. Built afresh rather than copied: a deep copy of a
    parametrized module shares its generated class with the original, and removing the copy's
    parametrization would break the original."""
    import warnings

    from bigvgan.alias_free_activation.torch.act import Activation1d

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = type(decoder)(decoder.h, use_cuda_kernel=False)
        for module in fast.modules():
            if hasattr(module, "weight_g"):
                torch.nn.utils.remove_weight_norm(module)
    fast.load_state_dict(_folded_state(decoder), strict=True)
    swaps = []
    for parent in fast.modules():
        for name, child in parent.named_children():
            if isinstance(child, Activation1d):
                swaps.append((parent, name, PolyphaseActivation1d(child, _channels_of(child.act))))
    for parent, name, new in swaps:
        setattr(parent, name, new)
    for p in fast.parameters():
        p.requires_grad_(False)
    param = next(decoder.parameters())
    return fast.to(device=param.device, dtype=param.dtype).eval()
