"""``mlstm``: xLSTM's mLSTM block (Beck et al. 2024, xLSTM, eq. 19-27 and fig. 11, the pre-up-projection
block as in NX-AI/xlstm ``mLSTMLayer``):

    x_m, z = split(W_up x)                                   (inner = proj_factor * d_model)
    x_c = silu(causal_conv4(x_m));  q, k = W_q x_c, W_k x_c;  v = W_v x_m
    i_t, f~_t = W_i [q; k; v] + b_i,  W_f [q; k; v] + b_f     (one scalar gate per head)
    h = mLSTM cell (rnnzoo.ops.mlstm; log f = logsigmoid(f~), exponential input gate, normaliser n,
        stabiliser m);  y = W_down ((GroupNorm_head(h) + skip * x_c) * silu(z))

Init as xLSTM: gate weights 0, forget bias linspace(3, 6) over heads, input bias N(0, 0.1), skip 1.
Deviation: q, k, v are dense ``nn.Linear`` maps (xLSTM uses block-diagonal maps of 4x4 blocks).
State: (C [B, H, D, D], n [B, H, D], m [B, H], conv window [B, inner, 3]), D = inner / num_heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.linear_base import LinearMixer
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.ops.mlstm import mlstm


@dataclass
class MLSTMConfig(MixerConfig):
    num_heads: int = 4
    proj_factor: int = 2
    conv_size: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        inner = self.proj_factor * self.d_model
        if self.proj_factor < 1 or self.num_heads < 1 or inner % self.num_heads:
            raise ValueError(f"proj_factor * d_model = {inner} must be divisible by num_heads={self.num_heads}")


@register("mlstm")
class MLSTM(LinearMixer):
    """xLSTM mLSTM block: matrix memory, exponential input gate, normaliser and stabiliser."""

    config_class = MLSTMConfig
    paper = "Beck et al. 2024, xLSTM: Extended Long Short-Term Memory (mLSTM)"
    state_formula = "inner^2 / num_heads + inner + num_heads + inner * (conv_size - 1), inner = proj_factor * d_model"
    fast_path = "compiled CPU loop, else chunkwise stabilised mLSTM (rnnzoo.ops.mlstm, mode='auto')"
    fast_mode = "auto"

    def __init__(self, config: MLSTMConfig):
        Mixer.__init__(self, config)
        d, h = config.d_model, config.num_heads
        inner = config.proj_factor * d
        self.num_heads, self.head_dim = h, inner // h
        self.up = nn.Linear(d, 2 * inner)
        self.conv = ShortConvolution(inner, config.conv_size, activation="silu")
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(inner, inner, bias=False) for _ in range(3))
        self.igate, self.fgate = nn.Linear(3 * inner, h), nn.Linear(3 * inner, h)
        self.norm = nn.GroupNorm(h, inner)
        self.skip = nn.Parameter(torch.ones(inner))
        self.down = nn.Linear(inner, d)
        with torch.no_grad():
            for gate in (self.igate, self.fgate):
                gate.weight.zero_()
            self.igate.bias.normal_(0.0, 0.1)
            self.fgate.bias.copy_(torch.linspace(3.0, 6.0, h))

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        h, dh = self.num_heads, self.head_dim
        zeros = lambda *shape: torch.zeros(batch_size, *shape, device=device, dtype=dtype)  # noqa: E731
        return zeros(h, dh, dh), zeros(h, dh), zeros(h), self.conv.init_state(batch_size, device, dtype)

    def _mix(self, x, state, mode):
        *cell, window = state
        b, t, _ = x.shape
        x_m, z = self.up(x).chunk(2, -1)
        x_c, window = self.conv(x_m, window)
        q, k, v = self.q_proj(x_c), self.k_proj(x_c), self.v_proj(x_m)
        qkv = torch.cat((q, k, v), -1)
        i, f = self.igate(qkv), F.logsigmoid(self.fgate(qkv))
        hid, cell = mlstm(self._heads(q), self._heads(k), self._heads(v), i, f, initial_state=tuple(cell),
                          output_final_state=True, mode=mode)
        hid = self.norm(hid.reshape(b * t, -1)).view(b, t, -1)
        y = self.down((hid + self.skip * x_c) * F.silu(z))
        return y, (*(s.to(x.dtype) for s in cell), window)
