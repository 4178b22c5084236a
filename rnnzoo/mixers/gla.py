"""``gla``: Gated Linear Attention (Yang et al. 2024, Gated Linear Attention Transformers with
Hardware-Efficient Training, eq. 3-4 and sec. 4.4), parameterised as flash-linear-attention's
``GatedLinearAttention``:

    q, k = W_q x, W_k x (key dim = expand_k * d_model);  v = W_v x
    alpha_t = logsigmoid(W_a2 W_a1 x_t + b) / 16   (low-rank gate, rank 16; /16 keeps decays near 1)
    S_t = diag(exp(alpha_t)) S_{t-1} + k_t v_tᵀ;   o_t = S_tᵀ q_t / sqrt(d_k)
    y = W_o (RMSNorm_head(o) * swish(W_r x))

``use_short_conv`` passes W_q x, W_k x, W_v x through fla's causal conv + SiLU (the gate does not) and
appends the three conv windows to the state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import MatrixParts, State
from rnnzoo.mixers.fused import fused_linear
from rnnzoo.mixers.linear_base import ExpandedConfig, LinearMixer
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.ops.gla import gla
from rnnzoo.ops.matrix import channel_decay_matrix


@dataclass
class GLAConfig(ExpandedConfig):  # expand_k (default 0.5 here), expand_v
    expand_k: float = 0.5
    gate_low_rank_dim: int = 16
    gate_logit_normalizer: float = 16.0


@register("gla")
class GLA(LinearMixer):
    """Gated linear attention; state S [B, H, d_k, d_v]."""

    config_class = GLAConfig
    paper = "Yang et al. 2024, Gated Linear Attention Transformers with Hardware-Efficient Training"
    state_formula = ("expand_k * expand_v * d_model^2 / num_heads "
                     "(+ (conv_size - 1) * (2 * expand_k + expand_v) * d_model with use_short_conv)")
    fast_path = "compiled CPU loop or chunkwise GLA (gla op, mode='auto', recursive secondary chunking)"
    fast_mode = "auto"
    matrix_form = "decay per key channel"
    sequence_parallel = "diagonal"  # rnnzoo.distributed: the state crosses a chunk as T * S + b

    def __init__(self, config: GLAConfig):
        super().__init__(config)
        d, h = config.d_model, config.num_heads
        self.key_dim, self.value_dim = int(config.expand_k * d), int(config.expand_v * d)
        self.num_heads, self.head_k, self.head_v = h, self.key_dim // h, self.value_dim // h
        self.q_proj, self.k_proj = nn.Linear(d, self.key_dim, bias=False), nn.Linear(d, self.key_dim, bias=False)
        self.v_proj, self.g_proj = (nn.Linear(d, self.value_dim, bias=False) for _ in range(2))
        self.gk_proj = nn.Sequential(nn.Linear(d, config.gate_low_rank_dim, bias=False),
                                     nn.Linear(config.gate_low_rank_dim, self.key_dim, bias=True))
        self.norm = GatedRMSNorm(self.value_dim, group_size=self.head_v, eps=1e-5)
        self.o_proj = nn.Linear(self.value_dim, d, bias=False)
        self._init_short_conv(self.key_dim, self.key_dim, self.value_dim)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        s = torch.zeros(batch_size, self.num_heads, self.head_k, self.head_v, device=device, dtype=dtype)
        return (s, *self._conv_state(batch_size, device=device, dtype=dtype))

    def _mix(self, x, state, mode):
        (s,), windows = self._split_conv_state(state)
        q, k, v, gk, gate, windows = self._inputs(x, windows)
        o, s = gla(q, k, v, gk, initial_state=s, output_final_state=True, mode=mode)
        return self._readout(o, gate), (s.to(x.dtype), *windows)

    def _inputs(self, x, windows):
        """x [B, T, d_model] -> q, k, gk [B, T, H, d_k], v [B, T, H, d_v], the gate's projection W_r x
        [B, T, H*d_v] and the new conv windows. The projections of x (the gate's low-rank first factor included)
        run as one GEMM."""
        projs = (self.q_proj, self.k_proj, self.v_proj, self.g_proj, self.gk_proj[0])
        q, k, v, gate, gk = fused_linear(x, projs).split([p.out_features for p in projs], dim=-1)
        q, k, v, windows = self._short_conv(q, k, v, windows)
        gk = self._heads(F.logsigmoid(self.gk_proj[1](gk)) / self.config.gate_logit_normalizer)
        return self._heads(q), self._heads(k), self._heads(v), gk, gate, windows

    def _readout(self, o, gate):
        """o [B, T, H, d_v], gate W_r x [B, T, H*d_v] -> y [B, T, d_model]."""
        return self.o_proj(self.norm(o.reshape(gate.shape), gate))

    def _matrix_parts(self, x):
        q, k, v, gk, gate, _ = self._inputs(x, self._conv_state(x.shape[0], device=x.device, dtype=x.dtype))
        return MatrixParts(channel_decay_matrix(q, k, gk), v, lambda o: self._readout(o, gate))
