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

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.mamba_block import MambaBlock, MambaBlockConfig
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.ssm_init import no_weight_decay
from rnnzoo.ops.longhorn import longhorn


@dataclass
class LonghornConfig(MambaBlockConfig):  # d_state, expand, d_conv, dt_rank: Mamba's block
    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dt_rank is not None and self.dt_rank < 1:
            raise ValueError(f"dt_rank must be >= 1 (or None: ceil(d_model / 16)), got {self.dt_rank}")


@register("longhorn")
class Longhorn(MambaBlock):
    """Longhorn: a Mamba-style block whose state update is an implicit online-regression step (no A)."""

    config_class = LonghornConfig
    paper = "Liu et al. 2024, Longhorn: State Space Models are Amortized Online Learners"
    fast_path = "chunked diagonal scan over the d_inner x d_state state (ops.longhorn, mode='chunk')"
    fast_mode = "chunk"

    def __init__(self, config: LonghornConfig):
        super().__init__(config)
        c = config
        self._input_layers(c)
        self.dt_head = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        nn.init.zeros_(self.dt_head.bias)
        self._output_layers(c)
        no_weight_decay(self.D)

    def _mix(self, x, state, mode):
        conv_state, s = state
        xi, z, dt, k, q, conv_state = self._projections(x, conv_state)
        beta = torch.sigmoid(self.dt_head(dt))
        y, s = longhorn(xi, beta, k, q, initial_state=s, output_final_state=True, mode=mode)
        y = (y + self.D * xi) * F.silu(z)
        return self.out_proj(y), (conv_state, s.to(x.dtype))
