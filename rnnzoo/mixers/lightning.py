"""``lightning``: decayed linear attention of TransNormerLLM / Lightning Attention-2 (Qin et al. 2024,
Lightning Attention-2, eq. 1-3; TransNormerLLM, sec. 3.1 "LRPE-d" decay and "NormAttention").

    q, k = silu(W_q x), silu(W_k x);  v = W_v x;  u = W_u x
    S_t = lambda_h S_{t-1} + k_t v_tᵀ;  o_t = S_tᵀ q_t                      (no 1/sqrt(d) scaling)
    y = W_o (RMSNorm_head(o) * swish(u))

lambda_h = exp(-s_h * (1 - l / (L - 1) + 1e-5)) with s_h the ALiBi slopes 2^(-8 (h+1) / H) and l, L
this layer's index and the model depth (config ``layer_idx`` / ``num_layers``): fixed, not learned.
The output normaliser follows TransNormerLLM's SRMSNorm fused with the gate, as in
flash-linear-attention's layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import State
from rnnzoo.mixers.linear_attention import HeadsConfig, LinearMixer
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.ops.simple_gla import simple_gla


@dataclass
class LightningConfig(HeadsConfig):
    layer_idx: int = 0
    num_layers: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.layer_idx < self.num_layers:
            raise ValueError(f"need 0 <= layer_idx < num_layers, got {self.layer_idx}, {self.num_layers}")


@register("lightning")
class Lightning(LinearMixer):
    """TransNormerLLM-style decayed linear attention with fixed per-head decays."""

    config_class = LightningConfig
    paper = "Qin et al. 2024, Lightning Attention-2 / TransNormerLLM"
    state_formula = "d_model * d_model / num_heads"
    fast_path = "chunkwise decayed linear attention (simple_gla with fixed g)"

    def __init__(self, config: LightningConfig):
        super().__init__(config)
        d, h = config.d_model, config.num_heads
        self.num_heads, self.head_dim = h, d // h
        self.qkvu = nn.Linear(d, 4 * d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.norm = GatedRMSNorm(d, group_size=self.head_dim, eps=1e-5)
        slopes = 2.0 ** (-8.0 * torch.arange(1, h + 1, dtype=torch.float64) / h)
        depth = 1 - config.layer_idx / max(config.num_layers - 1, 1) + 1e-5
        self.register_buffer("log_decay", -slopes * depth)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        return (torch.zeros(batch_size, self.num_heads, self.head_dim, self.head_dim, device=device, dtype=dtype),)

    def _mix(self, x, state, mode):
        b, t, _ = x.shape
        q, k, v, u = self.qkvu(x).chunk(4, -1)
        q, k, v = self._heads(F.silu(q)), self._heads(F.silu(k)), self._heads(v)
        g = self.log_decay.to(x.dtype).expand(b, t, -1)
        o, s = simple_gla(q, k, v, g, scale=1.0, initial_state=state[0], output_final_state=True, mode=mode)
        return self.o_proj(self.norm(o.reshape(b, t, -1), u)), (s.to(x.dtype),)
