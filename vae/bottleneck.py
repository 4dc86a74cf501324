"""The attention-projection bottleneck between the encoder and the Gaussian latent.

Semantic-VAE squeezes 1024 encoder channels to D latent dims with a causal self-attention whose
heads are averaged (and pooled to D), added to a plain linear projection, then a GeGLU MLP.
Module and parameter names follow the release (``pre_block.attn.q_bias`` ...), so its weights load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GeGLUMLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.act = nn.GELU(approximate="tanh")
        self.w0 = nn.Linear(dim, hidden)
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return self.w2(self.act(self.w0(x)) * self.w1(x))


class HeadMeanCausalAttention(nn.Module):
    """Causal multi-head attention over ``in_dim`` whose head outputs are averaged, then pooled to
    ``out_dim``: the reduction is parameter-free, so the latent width can shrink 16x cheaply.
    The key bias is a fixed zero buffer (it would cancel in the softmax anyway)."""

    def __init__(self, in_dim: int, out_dim: int, num_heads: int):
        super().__init__()
        if in_dim % num_heads:
            raise ValueError(f"encoder width {in_dim} is not divisible by {num_heads} heads")
        if in_dim <= out_dim:
            raise ValueError(f"latent dim {out_dim} must be smaller than the encoder width {in_dim}")
        self.num_heads = num_heads
        self.head_dim = in_dim // num_heads
        self.out_dim = out_dim
        self.qkv = nn.Linear(in_dim, 3 * in_dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(in_dim))
        self.v_bias = nn.Parameter(torch.zeros(in_dim))
        self.register_buffer("zero_k_bias", torch.zeros(in_dim))
        self.proj = nn.Linear(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        bias = torch.cat((self.q_bias, self.zero_k_bias, self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, t, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, T, hd)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).mean(dim=1)  # (B, T, hd)
        if self.head_dim != self.out_dim:
            y = F.adaptive_avg_pool1d(y, self.out_dim)
        return self.proj(y)


class AttentionProjection(nn.Module):
    """(B, T, in_dim) -> (B, T, out_dim): linear + attention branch, then a residual GeGLU MLP."""

    def __init__(self, in_dim: int, out_dim: int, num_heads: int, mlp_ratio: int = 2):
        super().__init__()
        self.norm1 = nn.LayerNorm(in_dim)
        self.attn = HeadMeanCausalAttention(in_dim, out_dim, num_heads)
        self.proj = nn.Linear(in_dim, out_dim)
        self.norm3 = nn.LayerNorm(in_dim)
        self.norm2 = nn.LayerNorm(out_dim)
        self.mlp = GeGLUMLP(out_dim, out_dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj(self.norm3(x)) + self.attn(self.norm1(x))
        return y + self.mlp(self.norm2(y))
