"""A faster inference copy of the BigVGAN decoder: same weights, same output to float rounding.

BigVGAN wraps every Snake activation in an anti-aliased ``Activation1d``: upsample 2x (zero-stuff
and filter with a 12-tap Kaiser-sinc, done as a depthwise ``conv_transpose1d``), the activation,
then low-pass and keep every second sample (a strided depthwise ``conv1d``), each preceded by a
replicate pad. On CPU three things make that slow, and this copy removes each:

- *The zero-stuffed signal.* :class:`PolyphaseActivation1d` never builds it: the upsampler's even
  and odd outputs are two short filters over the input (its polyphase components), the activation
  runs on each phase (it is pointwise), and the downsampler reads the two phases with the matching
  halves of its filter. Every filter is a plain depthwise conv.
- *The replicate pads,* a full copy of the signal per pad (three per activation). The convs pad
  with zeros inside oneDNN instead, and the few edge outputs that a replicate pad would change are
  corrected afterwards: output ``m`` differs by (edge sample) x (sum of the taps that fall in the
  pad), a constant per position (:func:`edge_corrections`).
- *The memory layout.* oneDNN's depthwise convs are several times faster on channels-last data
  than on ``(B, C, T)``, in bf16 above all, and a 1-d conv on a channels-last tensor is not
  supported, so the whole copy runs on ``(B, C, 1, T)`` channels-last tensors: every conv a
  ``conv2d`` with a ``1 x k`` kernel (:class:`Conv1dAs2d`), the Snakes with their ``exp`` done once
  (:class:`FrozenSnake`). BigVGAN's own ``forward`` (blocks, sums, clamp) runs unchanged on them.

Measured on 2 CPU cores at the released size, 3 s items, ratios against the original modules in one
process (``benchmarks/vae_speed.py``, ``docs/benchmarks/cpu_2026-12-01.md``): this copy in fp32 is
1.4x at batch 1 and 1.9x at batch 8, at a waveform difference of ~1e-7; in bf16 2.3x and 5.0x (error
~2e-3 with random weights). Weight norm is folded into plain weights (it would otherwise be recomputed
on every call). Training keeps the original modules: the released checkpoints' layout is untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

CHANNELS_LAST = torch.channels_last


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


def edge_corrections(taps: torch.Tensor, left: int, right: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What a replicate pad adds over a zero pad, per edge sample: (left (..., left), right (..., right)).

    For a correlation ``y[m] = sum_t taps[t] * x_padded[m + t]`` over ``left`` / ``right`` padded
    samples (``n = left + right + 1`` taps, so ``y`` has the input's length ``T``), the first
    ``left`` outputs see ``x[0]`` in the pad: ``y[m]`` gains ``x[0] * sum(taps[: left - m])``; the
    last ``right`` outputs, ``y[T - k]`` for k = right..1, gain ``x[T-1] * sum(taps[left + k :])``."""
    n = taps.shape[-1]
    if n != left + right + 1:
        raise ValueError(f"{n} taps for pads {left} + {right}: expected {left + right + 1}")
    lefts = [taps[..., : left - m].sum(-1) for m in range(left)]
    rights = [taps[..., left + k:].sum(-1) for k in range(right, 0, -1)]
    empty = taps.new_zeros(taps.shape[:-1] + (0,))
    return (torch.stack(lefts, -1) if lefts else empty), (torch.stack(rights, -1) if rights else empty)


def _add_edges(y: torch.Tensor, first: torch.Tensor, last: torch.Tensor, left: torch.Tensor,
               right: torch.Tensor) -> torch.Tensor:
    """``y`` (…, T) with ``first * left`` added to its first outputs and ``last * right`` to its last,
    in place; on signals shorter than a correction the two overlap, and both apply."""
    t = y.shape[-1]
    nl, nr = min(left.shape[-1], t), min(right.shape[-1], t)
    if nl:
        y[..., :nl] += first * left[..., :nl]
    if nr:
        y[..., t - nr:] += last * right[..., right.shape[-1] - nr:]
    return y


def _zero_padded_depthwise(x: torch.Tensor, weight: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Depthwise correlation of ``x`` (B, C, 1, T) with ``left``/``right`` zeros around it; oneDNN pads
    symmetrically, so an uneven pair pads both sides by the larger and trims the extra."""
    pad = max(left, right)
    y = F.conv2d(x, weight, padding=(0, pad), groups=x.shape[1])
    return y[..., pad - left: y.shape[-1] - (pad - right)] if left != right else y


class FrozenSnake(nn.Module):
    """BigVGAN's ``Snake`` / ``SnakeBeta`` (``x + 1/b * sin(a x)^2``) for inference on (B, C, 1, T):
    ``a`` and ``1/b`` computed once (the originals take two ``exp`` and a division per call) and
    shaped for the 4-d layout; the elementwise expression is the original's, term for term."""

    def __init__(self, source: nn.Module):
        super().__init__()
        from bigvgan.activations import SnakeBeta

        alpha = source.alpha.detach()
        beta = source.beta.detach() if isinstance(source, SnakeBeta) else alpha
        if source.alpha_logscale:
            alpha, beta = torch.exp(alpha), torch.exp(beta)
        self.register_buffer("a", alpha.reshape(1, -1, 1, 1), persistent=False)
        self.register_buffer("inv_b", (1.0 / (beta + source.no_div_by_zero)).reshape(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.inv_b * pow(torch.sin(x * self.a), 2)


class Conv1dAs2d(nn.Module):
    """A ``Conv1d`` / ``ConvTranspose1d`` (weight norm already folded) run as a ``1 x k`` ``conv2d``
    on channels-last (B, C, 1, T) tensors."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.transposed = isinstance(conv, nn.ConvTranspose1d)
        if conv.padding_mode != "zeros":
            raise ValueError(f"Conv1dAs2d supports zero padding only, not {conv.padding_mode!r}")
        self.register_buffer("weight", conv.weight.detach().unsqueeze(2).contiguous(memory_format=CHANNELS_LAST),
                             persistent=False)
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach(), persistent=False)
        self.args = dict(stride=(1, conv.stride[0]), padding=(0, conv.padding[0]), dilation=(1, conv.dilation[0]),
                         groups=conv.groups)
        if self.transposed:
            self.args["output_padding"] = (0, conv.output_padding[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            return F.conv_transpose2d(x, self.weight, self.bias, **self.args)
        return F.conv2d(x, self.weight, self.bias, **self.args)


class PolyphaseActivation1d(nn.Module):
    """Drop-in for ``bigvgan``'s ``Activation1d`` (ratio 2 both ways) on channels-last (B, C, 1, T)."""

    def __init__(self, source: nn.Module):
        super().__init__()
        up, down = source.upsample, source.downsample.lowpass
        if source.up_ratio != 2 or source.down_ratio != 2 or not down.padding or down.padding_mode != "replicate":
            raise ValueError("PolyphaseActivation1d reproduces the 2x / replicate-pad Activation1d only")
        self.act = FrozenSnake(source.act)
        channels = self.act.a.shape[1]
        up_taps, self.up_left, self.up_right = upsample_polyphase_taps(up.filter.detach().reshape(-1).float())
        down_taps, self.down_left, self.down_right = downsample_polyphase_taps(down.filter.detach().reshape(-1).float())
        # one depthwise filter per phase: oneDNN's depthwise kernel (one input, one output per group)
        # is fast, a grouped conv with two outputs or inputs per group is not
        for name, taps in (("up", up_taps), ("down", down_taps)):
            for phase in (0, 1):
                w = taps[phase].repeat(channels, 1).reshape(channels, 1, 1, -1).contiguous(memory_format=CHANNELS_LAST)
                self.register_buffer(f"{name}{phase}", w, persistent=False)
        up_l, up_r = edge_corrections(up_taps, self.up_left, self.up_right)  # (2 phases, pad)
        # both phases are padded with the same two samples (see forward), so their corrections add
        down_l, down_r = (c.sum(0) for c in edge_corrections(down_taps, self.down_left, self.down_right))
        for name, c in (("up_l", up_l), ("up_r", up_r), ("down_l", down_l), ("down_r", down_r)):
            self.register_buffer(name, c, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, last = x[..., :1], x[..., -1:]
        phases = []
        for k, w in enumerate((self.up0, self.up1)):
            u = _zero_padded_depthwise(x, w, self.up_left, self.up_right)
            phases.append(self.act(_add_edges(u, first, last, self.up_l[k], self.up_r[k])))
        even, odd = phases
        # the original pads the interleaved signal, whose first sample is even[0] and last odd[-1]
        y = _zero_padded_depthwise(even, self.down0, self.down_left, self.down_right)
        y += _zero_padded_depthwise(odd, self.down1, self.down_left, self.down_right)
        return _add_edges(y, even[..., :1], odd[..., -1:], self.down_l, self.down_r)


class InferenceDecoder(nn.Module):
    """The converted BigVGAN behind a (B, C, T) -> (B, 1, T') interface like the original's."""

    def __init__(self, bigvgan: nn.Module):
        super().__init__()
        self.bigvgan = bigvgan

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bigvgan(x.unsqueeze(2).contiguous(memory_format=CHANNELS_LAST))[:, :, 0]


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


def decoder_fingerprint(decoder: nn.Module) -> tuple[tuple, torch.Tensor]:
    """What decides whether an inference copy of ``decoder`` is still its copy: ``(key, sums)``.

    The copy bakes in every parameter *and buffer* (the anti-aliasing filters of ``Activation1d``
    are buffers; the polyphase taps and edge corrections are computed from them), so a change to
    either must show. ``key`` holds each tensor's version counter (bumped by in-place ops:
    ``load_state_dict``, an optimiser step, ``buf.mul_``) and data pointer (a tensor swapped for
    another); ``sums`` a per-tensor sum, one cheap pass that catches writes through ``.data``, which
    bump no version counter (``ema_pytorch`` updates that way)."""
    tensors = [*decoder.parameters(), *decoder.buffers()]
    key = tuple((t._version, t.data_ptr()) for t in tensors)
    sums = torch.stack([t.detach().sum().float() for t in tensors])
    return key, sums


def inference_decoder(decoder: nn.Module) -> nn.Module:
    """A new BigVGAN with ``decoder``'s weights for inference only, in ``decoder``'s device and
    dtype: weight norm folded, polyphase activations, channels-last 2-d convs (module docstring).
    Built afresh rather than copied: a deep copy of a parametrized module shares its generated
    class with the original, and removing the copy's parametrization would break the original."""
    import warnings

    from bigvgan.activations import Snake, SnakeBeta
    from bigvgan.alias_free_activation.torch.act import Activation1d
    from bigvgan.env import AttrDict

    # a fresh AttrDict: a deep-copied one (an EMA model is a deep copy) keeps its keys but loses the
    # attribute view BigVGAN reads them through
    h = AttrDict(dict(decoder.h))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = type(decoder)(h, use_cuda_kernel=False)
        for module in fast.modules():
            if hasattr(module, "weight_g"):
                torch.nn.utils.remove_weight_norm(module)
    fast.load_state_dict(_folded_state(decoder), strict=True)
    swaps = []
    for parent in fast.modules():
        for name, child in parent.named_children():
            if isinstance(child, Activation1d):
                swaps.append((parent, name, PolyphaseActivation1d(child)))
            elif isinstance(child, (nn.Conv1d, nn.ConvTranspose1d)):
                swaps.append((parent, name, Conv1dAs2d(child)))
            elif isinstance(child, (Snake, SnakeBeta)):  # a bare one (activation_post without anti-aliasing)
                swaps.append((parent, name, FrozenSnake(child)))
    for parent, name, new in swaps:
        setattr(parent, name, new)
    leftover = [type(m).__name__ for m in fast.modules() if isinstance(m, (Activation1d, Snake, SnakeBeta, nn.Conv1d,
                                                                              nn.ConvTranspose1d))]
    if leftover:  # a module nested where the walk above did not reach would get a 4-d input it cannot take
        raise ValueError(f"inference_decoder left {', '.join(sorted(set(leftover)))} unconverted")
    param = next(decoder.parameters())
    return InferenceDecoder(fast).to(device=param.device, dtype=param.dtype).eval().requires_grad_(False)
