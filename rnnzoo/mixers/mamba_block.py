"""The parts of Mamba's block (Gu & Dao 2023, Sec. 3.4) that ``mamba`` and ``longhorn`` share: the config of its
sizes, and the layers around the recurrence, which each mixer fills in with its own dt head and scan:

    x, z = in_proj(u);  x = silu(conv1d(x))                      causal depthwise conv, window carried in step
    dt, B, C = x_proj(x)                                          dt [dt_rank], B, C [d_state] (k, q in Longhorn)
    ... the mixer's dt head and scan, with D x ...;  out = out_proj(y * silu(z))

The state is the conv window and a [d_inner, d_state] matrix per sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.short_conv import ShortConvolution


@dataclass
class MambaBlockConfig(MixerConfig):
    d_state: int = 16
    expand: int = 2
    d_conv: int = 4
    dt_rank: int | None = None  # None: ceil(d_model / 16)

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.d_state, self.expand, self.d_conv) < 1:
            raise ValueError(f"d_state, expand, d_conv must be >= 1, got {self.d_state}, {self.expand}, {self.d_conv}")


class MambaBlock(Mixer):
    """Mamba's block around its recurrence; a subclass's constructor calls ``_input_layers``, adds its dt head,
    then ``_output_layers`` (the order in which the layers draw their random init and list their parameters)."""

    state_formula = "expand*d_model*(d_state + d_conv - 1)"
    sequence_parallel = "diagonal"  # rnnzoo.distributed: the state crosses a chunk as T * S + b

    def _input_layers(self, c: MambaBlockConfig) -> None:
        """d_inner, dt_rank; in_proj (x and z), the conv, x_proj (dt, B, C)."""
        self.d_inner = c.expand * c.d_model
        self.dt_rank = c.dt_rank or math.ceil(c.d_model / 16)
        self.in_proj = nn.Linear(c.d_model, 2 * self.d_inner, bias=False)
        self.conv = ShortConvolution(self.d_inner, c.d_conv, bias=True, activation="silu")
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * c.d_state, bias=False)

    def _output_layers(self, c: MambaBlockConfig) -> None:
        """D (ones: the skip connection x D) and out_proj."""
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, c.d_model, bias=False)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        return (self.conv.init_state(batch_size, device=device, dtype=dtype),
                torch.zeros(batch_size, self.d_inner, self.config.d_state, device=device, dtype=dtype))

    def _projections(self, x, conv_state):
        """x [B, T, d_model] -> xi, z [B, T, d_inner], dt [B, T, dt_rank], B, C [B, T, d_state], conv window."""
        xi, z = self.in_proj(x).chunk(2, dim=-1)
        xi, conv_state = self.conv(xi, conv_state)
        dt, B, C = self.x_proj(xi).split([self.dt_rank, self.config.d_state, self.config.d_state], dim=-1)
        return xi, z, dt, B, C, conv_state
