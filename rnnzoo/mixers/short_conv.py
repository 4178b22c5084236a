"""Causal depthwise 1-D convolution with its window carried as recurrent state.

Used before the recurrence by Mamba (d_conv=4), DeltaNet / Gated DeltaNet / DeltaProduct (short conv on
q, k, v), Based and H3-style mixers. State: the last K-1 inputs, ``[B, D, K-1]``, so a sequence split
across calls or fed token by token gives the same outputs as one call. ``QKVShortConv`` bundles the q, k, v
trio behind the ``use_short_conv`` option of the linear-attention mixers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.ops.kernels import native
from rnnzoo.ops.kernels import short_conv as short_conv_kernel


class ShortConvolution(nn.Module):
    """y_t = act(sum_{j<K} w[:, j] * x_{t-K+1+j} + b), per channel. x: [B, T, D] -> y: [B, T, D]."""

    def __init__(self, dim: int, kernel_size: int = 4, bias: bool = True, activation: str | None = "silu"):
        super().__init__()
        if kernel_size < 1:
            raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
        if activation not in (None, "silu"):
            raise ValueError(f"activation must be None or 'silu', got {activation!r}")
        self.dim, self.kernel_size, self.activation = dim, kernel_size, activation
        self.weight = nn.Parameter(torch.empty(dim, 1, kernel_size))
        self.bias = nn.Parameter(torch.empty(dim)) if bias else None
        bound = 1 / math.sqrt(kernel_size)  # nn.Conv1d's default for a depthwise conv (fan_in = K)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def init_state(self, batch_size: int, device=None, dtype=None) -> torch.Tensor:
        """The zero window: [B, D, K-1] (the K-1 inputs before the first token are zeros)."""
        return torch.zeros(batch_size, self.dim, self.kernel_size - 1, device=device,
                           dtype=dtype or self.weight.dtype)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, T, D]; state: [B, D, K-1] or None -> (y [B, T, D], new state [B, D, K-1])."""
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        return short_conv(x, self.weight[:, 0], self.bias, state, self.activation)


def short_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, state: torch.Tensor,
               activation: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``ShortConvolution``'s computation: x [B, T, D] (any strides), weight [D, K], bias [D] or None,
    state [B, D, K-1] -> (y [B, T, D], new state [B, D, K-1]). On CPU float32/float64 the compiled kernel
    (``rnnzoo.ops.kernels.short_conv``); elsewhere ``F.conv2d`` (the reference)."""
    weight, bias = weight.to(x.dtype), None if bias is None else bias.to(x.dtype)
    head = state.transpose(1, 2)  # [B, K-1, D]: the inputs before x
    if native.available("short_conv", x, weight, bias, state):
        y = short_conv_kernel.short_conv(x, head, weight, bias, activation == "silu")
        k = weight.shape[1]
        tail = x[:, x.shape[1] - (k - 1):] if x.shape[1] >= k - 1 else torch.cat((head[:, x.shape[1]:], x), dim=1)
        return y, tail.transpose(1, 2).contiguous()
    padded = torch.cat((head, x), dim=1)  # [B, K-1+T, D]
    # Viewed as [B, D, 1, K-1+T], padded is an NHWC (channels-last) image: conv2d takes it and returns [B, T, D]
    # without a transposed copy either way.
    y = F.conv2d(padded.transpose(1, 2).unsqueeze(2), weight[:, None, None], bias,
                 groups=weight.shape[0]).squeeze(2).transpose(1, 2)
    if activation == "silu":
        y = F.silu(y)
    return y, padded[:, padded.shape[1] - (weight.shape[1] - 1):].transpose(1, 2).contiguous()


class QKVShortConv(nn.Module):
    """A causal ShortConvolution (no bias) on each of the q, k and v projections: flash-linear-attention's
    ``use_short_conv`` for linear-attention layers. It lets a key mix in the few tokens before it, which is
    what associative recall needs (Arora et al. 2023, Zoology: Measuring and Improving Recall in Efficient
    Language Models). Windows: ([B, Dq, K-1], [B, Dk, K-1], [B, Dv, K-1]), carried in the mixer's state.
    """

    def __init__(self, q_dim: int, k_dim: int, v_dim: int, kernel_size: int = 4, activation: str | None = "silu"):
        super().__init__()
        self.q_conv, self.k_conv, self.v_conv = (ShortConvolution(dim, kernel_size, bias=False, activation=activation)
                                                 for dim in (q_dim, k_dim, v_dim))

    def init_state(self, batch_size: int, device=None, dtype=None) -> tuple[torch.Tensor, ...]:
        """The three zero windows."""
        return tuple(c.init_state(batch_size, device=device, dtype=dtype) for c in (self.q_conv, self.k_conv, self.v_conv))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, windows: tuple[torch.Tensor, ...]):
        """q [B, T, Dq], k [B, T, Dk], v [B, T, Dv], windows -> (q, k, v convolved, same shapes; new windows)."""
        (q, wq), (k, wk), (v, wv) = (conv(x, w) for conv, x, w in
                                     zip((self.q_conv, self.k_conv, self.v_conv), (q, k, v), windows))
        return q, k, v, (wq, wk, wv)
