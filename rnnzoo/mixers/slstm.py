"""``slstm``: xLSTM's scalar-memory LSTM with exponential gating (Beck et al., xLSTM, 2024, sec. 2.2).

x -> W x + b (gates i, f, z, o for every head) -> sLSTM scan with head-wise block-diagonal R
  -> per-head group norm -> output projection.
Init: forget-gate bias linspace(3, 6) over channels (long memory at start, as in xLSTM),
input bias 0, R ~ U(-1/sqrt(D), 1/sqrt(D)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.slstm import slstm


@dataclass
class SLSTMConfig(MixerConfig):
    num_heads: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1 or self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")


@register("slstm")
class SLSTM(Mixer):
    """sLSTM mixer; state (h, c, n, m), each [B, H, D] with H*D = d_model."""

    config_class = SLSTMConfig
    paper = "Beck et al. 2024, xLSTM: Extended Long Short-Term Memory (sLSTM)"
    state_formula = "4 * d_model (h, c, n, m)"
    fast_path = ""

    def __init__(self, config: SLSTMConfig):
        super().__init__(config)
        h, d = config.num_heads, config.d_model // config.num_heads
        self.num_heads, self.head_dim = h, d
        self.in_proj = nn.Linear(config.d_model, 4 * config.d_model)
        self.r = nn.Parameter(torch.empty(h, 4, d, d).uniform_(-1 / math.sqrt(d), 1 / math.sqrt(d)))
        self.norm = nn.GroupNorm(h, config.d_model)
        self.out_proj = nn.Linear(config.d_model, config.d_model)
        with torch.no_grad():
            bias = self.in_proj.bias.view(4, config.d_model)
            bias.zero_()
            bias[1] = torch.linspace(3.0, 6.0, config.d_model)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        return tuple(torch.zeros(batch_size, self.num_heads, self.head_dim, device=device, dtype=dtype)
                     for _ in range(4))

    def _forward(self, x, state):
        b, t, _ = x.shape
        gx = self.in_proj(x).view(b, t, 4, self.num_heads, self.head_dim).transpose(2, 3)
        y, state = slstm(gx, self.r, state, output_final_state=True)
        y = self.norm(y.reshape(b * t, -1)).view(b, t, -1)
        return self.out_proj(y), state

    def _step(self, x_t, state):
        y, state = self._forward(x_t.unsqueeze(1), state)
        return y[:, 0], state
