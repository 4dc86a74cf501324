"""Memory layouts that let the small ``Wav2Vec2ForCTC`` train faster on a CPU: the same math.

A profile of one CPU training step of the demo's CTC model (``benchmarks/ctc_step.py``) showed two
of transformers' layers paying for their layouts rather than their arithmetic:

- ``Wav2Vec2LayerNormConvLayer`` applies GELU to a transposed view (it layer-norms over channels in
  ``(B, T, C)`` and transposes back), so GELU's backward meets a contiguous gradient and a
  transposed input, a strided path several times slower than the contiguous one;
- ``Wav2Vec2PositionalConvEmbedding``'s grouped 1-D convolution (kernel 32, 4 groups) is oneDNN's
  slow case; run as a ``1 x 32`` 2-D convolution on channels-last data (which is the ``(B, T, C)``
  memory the encoder already holds) it takes about half the time, and GELU's input and gradient
  then share their layout.

:func:`use_fast_layouts` replaces the ``forward`` of those module *instances* with versions that
compute the same values (elementwise ops commute with transposes; the 2-D convolution is the 1-D one
with a unit height). Parameters, buffers, ``state_dict`` and ``save_pretrained`` output are
untouched, so the saved model is a plain ``Wav2Vec2ForCTC``. Written here because transformers has
no such switch; it is checked against the unpatched model in ``tests/test_data_ctc.py``.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F


def _layer_norm_conv_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
    h = self.conv(hidden_states)
    h = self.layer_norm(h.transpose(-2, -1)).transpose(-2, -1).contiguous()  # GELU on contiguous data
    return self.activation(h)


def _positional_conv_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
    conv = self.conv
    x = hidden_states.transpose(1, 2).unsqueeze(2)  # (B, C, 1, T): channels-last memory, no copy
    y = F.conv2d(x.contiguous(memory_format=torch.channels_last), conv.weight.unsqueeze(2), conv.bias,
                 stride=(1, conv.stride[0]), padding=(0, conv.padding[0]), dilation=(1, conv.dilation[0]),
                 groups=conv.groups)
    y = self.padding(y.squeeze(2))  # an even kernel leaves one frame too many, which this drops
    return self.activation(y).transpose(1, 2)


def use_fast_layouts(model: torch.nn.Module) -> torch.nn.Module:
    """Switch ``model``'s layer-norm conv layers and positional conv embedding to the layouts above
    (in place; returns ``model``). Modules of other kinds, or configured otherwise, are left alone."""
    from transformers.models.wav2vec2.modeling_wav2vec2 import (Wav2Vec2LayerNormConvLayer,
                                                                Wav2Vec2PositionalConvEmbedding)

    for module in model.modules():
        if type(module) is Wav2Vec2LayerNormConvLayer:
            module.forward = types.MethodType(_layer_norm_conv_forward, module)
        elif type(module) is Wav2Vec2PositionalConvEmbedding and isinstance(module.conv, torch.nn.Conv1d) \
                and module.conv.padding_mode == "zeros":
            module.forward = types.MethodType(_positional_conv_forward, module)
    return model
