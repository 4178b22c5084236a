"""Shared parts of the RWKV time mixes (``rwkv6``, ``rwkv7``).

- ``RWKVConfig``: heads (head size d_model / num_heads), the group-norm eps and the layer position ``depth`` that
  RWKV's inits depend on (0 = first layer, 1 = last; a mixer does not know its place in the stack, so it is an
  option, default the middle).
- ``RWKVMixer``: the token shift, whose state is the previous token x_{t-1} [B, d_model] (zeros before the first),
  and the per-head GroupNorm of the WKV output (``ln_x``).
- ``channel_ramp``: the [d] ramp i / d that RWKV's mixing-coefficient inits raise to a depth-dependent power.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig


@dataclass
class RWKVConfig(MixerConfig):
    num_heads: int = 4
    depth: float = 0.5  # the layer's place in the stack, 0 (first) .. 1 (last): RWKV's layer-dependent inits
    norm_eps: float = 64e-5  # GroupNorm eps of ln_x: 1e-5 * head_size_divisor**2 with RWKV's divisor 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1 or self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")
        if not 0.0 <= self.depth <= 1.0:
            raise ValueError(f"depth must be in [0, 1], got {self.depth}")
        if self.norm_eps <= 0:
            raise ValueError(f"norm_eps must be > 0, got {self.norm_eps}")


def channel_ramp(d: int) -> torch.Tensor:
    """[d]: i / d for channel i (RWKV's ``ddd``)."""
    return torch.arange(d, dtype=torch.float32) / d


class RWKVMixer(Mixer):
    """Token shift and ln_x shared by the RWKV time mixes; subclasses build their projections."""

    def __init__(self, config: RWKVConfig):
        super().__init__(config)
        self.num_heads, self.head_dim = config.num_heads, config.d_model // config.num_heads
        self.ln_x = nn.GroupNorm(config.num_heads, config.d_model, eps=config.norm_eps)

    def _shift(self, x: torch.Tensor, x_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, d], x_prev [B, d] (the token before x) -> (x_{t-1} - x_t [B, T, d], the new x_prev [B, d])."""
        shifted = torch.cat((x_prev[:, None], x[:, :-1]), 1)
        return shifted - x, x[:, -1]

    def _norm(self, o: torch.Tensor) -> torch.Tensor:
        """WKV output [B, T, H, K] -> GroupNorm over each head's K channels -> [B, T, d]."""
        b, t = o.shape[:2]
        return F.group_norm(o.reshape(b * t, -1), self.num_heads, self.ln_x.weight, self.ln_x.bias,
                            self.ln_x.eps).view(b, t, -1)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, d] -> [B, T, H, d / H]."""
        return x.view(*x.shape[:2], self.num_heads, self.head_dim)
