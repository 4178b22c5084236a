"""``longhorn``: Longhorn (Liu et al. 2024, Longhorn: State Space Models are Amortized Online Learners),
the layer of the official Cranial-XIX/longhorn code: Mamba's block with the selective scan replaced by the
closed-form online-learning step of ``rnnzoo.ops.longhorn``:

    x, z = in_proj(u);  x = silu(conv1d(x))                        causal depthwise conv, window carried in step
    dt, k, q = x_proj(x);  beta = sigmoid(dt_head(dt))              (rank dt_rank; k, q [N] shared by channels)
    S_t = (1 - ε_t ⊗ k_t²) ⊙ S_{t-1} + (ε_t ⊙ x_t) ⊗ k_t,  ε_t = beta_t / (1 + beta_t |k_t|²)
    y = (S q + D x) * silu(z);  out = out_proj(y)

Defaults as the official layer: d_state 16, expand 2, d_conv 4 (with bias), dt_rank ceil(d_model / 16), D = 1
(``_no_weight_decay``); no A (the key sets the forgetting). The official model zeroes every linear bias at init, so
dt_head's bias starts at 0 (beta = sigmoid(dt_head(dt)), near 1/2); other weights keep torch's init.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.mixers.ssm_init import no_weight_decay
from rnnzoo.ops.longhorn import longhorn


@dataclass
class LonghornConfig(MixerConfig):
    d_state: int = 16
    expand: int = 2
    d_conv: int = 4
    dt_rank: int | None = None  # None: ceil(d_model / 16)

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.d_state, self.expand, self.d_conv) < 1:
            raise ValueError(f"d_state, expand, d_conv must be >= 1, got {self.d_state}, {self.expand}, {self.d_conv}")
        if self.dt_rank is not None and self.dt_rank < 1:
            raise ValueError(f"dt_rank must be >= 1 (or None: ceil(d_model / 16)), got {self.dt_rank}")


@register("longhorn")
class Longhorn(Mixer):
    """Longhorn: a Mamba-style block whose state update is an implicit online-regression step (no A)."""

    config_class = LonghornConfig
    paper = "Liu et al. 2024, Longhorn: State Space Models are Amortized Online Learners"
    state_formula = "expand*d_model*(d_state + d_conv - 1)"
    fast_path = "chunked diagonal scan over the d_inner x d_state state (ops.longhorn, mode='chunk')"
    fast_mode = "chunk"
    sequence_parallel = "diagonal"  # rnnzoo.distributed: the state crosses a chunk as T * S + b

    def __init__(self, config: LonghornConfig):
        super().__init__(config)
        c = config
        self.d_inner = c.expand * c.d_model
        self.dt_rank = c.dt_rank or math.ceil(c.d_model / 16)
        self.in_proj = nn.Linear(c.d_model, 2 * self.d_inner, bias=False)
        self.conv = ShortConvolution(self.d_inner, c.d_conv, bias=True, activation="silu")
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * c.d_state, bias=False)
        self.dt_head = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        nn.init.zeros_(self.dt_head.bias)
        self.D = nn.Parameter(torch.ones(self.d_inner))
        no_weight_decay(self.D)
        self.out_proj = nn.Linear(self.d_inner, c.d_model, bias=False)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        return (self.conv.init_state(batch_size, device=device, dtype=dtype),
                torch.zeros(batch_size, self.d_inner, self.config.d_state, device=device, dtype=dtype))

    def _mix(self, x, state, mode):
        conv_state, s = state
        xi, z = self.in_proj(x).chunk(2, dim=-1)
        xi, conv_state = self.conv(xi, conv_state)
        dt, k, q = self.x_proj(xi).split([self.dt_rank, self.config.d_state, self.config.d_state], dim=-1)
        beta = torch.sigmoid(self.dt_head(dt))
        y, s = longhorn(xi, beta, k, q, initial_state=s, output_final_state=True, mode=mode)
        y = (y + self.D * xi) * F.silu(z)
        return self.out_proj(y), (conv_state, s.to(x.dtype))
