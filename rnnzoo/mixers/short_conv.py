"""Causal depthwise 1-D convolution with its window carried as recurrent state.

Used before the recurrence by Mamba (d_conv=4), DeltaNet / Gated DeltaNet / DeltaProduct (short conv on
q, k, v), Based and H3-style mixers. State: the last K-1 inputs, ``[B, D, K-1]``, so a sequence split
across calls or fed token by token gives the same outputs as one call.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


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
        window = torch.cat((state, x.transpose(1, 2)), dim=-1)  # [B, D, K-1+T]
        y = F.conv1d(window, self.weight, self.bias, groups=self.dim).transpose(1, 2)
        if self.activation == "silu":
            y = F.silu(y)
        return y, window[..., window.shape[-1] - (self.kernel_size - 1):]
