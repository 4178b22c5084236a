"""PGN, the Parallel Gated Network (Jia et al. 2024, PGN: The RNN's New Successor is Effective for Long-Range Time
Series Forecasting, Sec. 3.1; ``PGN_2d`` of Water2sea/TPGN): every step reads its history through one linear
layer (the HIE layer) instead of a recurrence, then a single gate fuses it with the current input:

    H_t = HIE(x)_t = W_hie [x_{t-W}, ..., x_{t-1}] + b            (zero-padded history; ops.hie)
    G_t = sigmoid(W_g [x_t, H_t] + b_g);  C_t = tanh(W_c [x_t, H_t] + b_c)
    y_t = out_proj(G_t H_t + (1 - G_t) C_t)

The paper's HIE spans the whole input window (TPGN sets it to the series length minus one); a mixer over
sequences of any length needs a fixed span: ``window`` W (default 32) previous tokens. ``out_proj`` maps the
hidden width back to d_model (TPGN's final ``fc`` plays that role). Init: PyTorch's Linear/Conv1d defaults,
as the reference code.

State: exact ``step`` needs exactly the W previous inputs, ``[B, d_model, W]`` (W*d_model floats): H_t reads
nothing else, and the gate reads only x_t and H_t. No hidden state is carried from step to step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.hie import hie


@dataclass
class PGNConfig(MixerConfig):
    window: int = 32  # W: previous tokens the HIE layer reads
    expand: int = 1  # hidden width = expand * d_model

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window < 1 or self.expand < 1:
            raise ValueError(f"window and expand must be >= 1, got {self.window}, {self.expand}")


@register("pgn")
class PGN(Mixer):
    """Parallel Gated Network: a linear read of the last W inputs (HIE), gated with the current input."""

    config_class = PGNConfig
    paper = "Jia et al. 2024, PGN: The RNN's New Successor is Effective for Long-Range Time Series Forecasting"
    state_formula = "window*d_model (the HIE window of previous inputs)"
    fast_path = "dense causal F.conv1d over the window (rnnzoo.ops.hie mode='conv')"
    fast_mode = "conv"

    def __init__(self, config: PGNConfig):
        super().__init__(config)
        c, d = config, config.d_model
        self.hidden = c.expand * d
        bound = 1 / math.sqrt(d * c.window)  # nn.Conv1d's default (fan_in = D * W)
        self.hie_weight = nn.Parameter(torch.empty(self.hidden, d, c.window).uniform_(-bound, bound))
        self.hie_bias = nn.Parameter(torch.empty(self.hidden).uniform_(-bound, bound))
        self.gate = nn.Linear(d + self.hidden, 2 * self.hidden)
        self.out_proj = nn.Linear(self.hidden, d)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        return (torch.zeros(batch_size, self.d_model, self.config.window, device=device, dtype=dtype),)

    def _mix(self, x, state, mode):
        h, window = hie(x, self.hie_weight, self.hie_bias, initial_state=state[0], output_final_state=True, mode=mode)
        g, c = self.gate(torch.cat((x, h), dim=-1)).chunk(2, dim=-1)
        g = torch.sigmoid(g)
        return self.out_proj(g * h + (1 - g) * torch.tanh(c)), (window.to(x.dtype),)
