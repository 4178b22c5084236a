"""``retnet``: multi-scale retention (Sun et al. 2023, Retentive Network, eq. 1-8).

    q, k = xPos/rotary(W_q x), rotary(W_k x);  v = W_v x  (value dim = expand_v * d_model)
    S_t = gamma_h S_{t-1} + k_t v_tᵀ;  o_t = S_tᵀ q_t / sqrt(d_k)            (retention, eq. 1-2)
    y = W_o (GroupNorm_head(o) * swish(W_g x))                              (eq. 8)

The decays are fixed, one per head: gamma_h = 1 - 2^(-5-h) (eq. 8), buffers not parameters. As in
flash-linear-attention's ``MultiScaleRetention``: rotary (not the full xPos decay) on q and k, an
RMS group norm per head fused with the swish gate, expand_v = 2. State: S [B, H, d_k, d_v] and the
token position (rotary phases continue across calls). ``use_short_conv``: fla's causal conv + SiLU on
W_q x, W_k x, W_v x before the rotary, its three windows appended to the state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import MatrixParts, State
from rnnzoo.mixers.fused import fused_linear
from rnnzoo.mixers.linear_base import LinearMixer, ShortConvConfig
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.ops.matrix import scalar_decay_matrix
from rnnzoo.ops.rotary import apply_rotary
from rnnzoo.ops.simple_gla import simple_gla
from rnnzoo.validate import at_least


@dataclass
class RetNetConfig(ShortConvConfig):
    expand_v: int = 2
    rotary_base: float = 10000.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.d_model // self.num_heads) % 2:
            raise ValueError(f"head dim d_model/num_heads={self.d_model // self.num_heads} must be even for rotary")
        at_least(self, 1, "expand_v")


@register("retnet")
class RetNet(LinearMixer):
    """Multi-scale retention; fixed per-head decays gamma_h = 1 - 2^(-5-h)."""

    config_class = RetNetConfig
    paper = "Sun et al. 2023, Retentive Network: A Successor to Transformer for Large Language Models"
    state_formula = ("expand_v * d_model * d_model / num_heads "
                     "(+ (conv_size - 1) * (2 + expand_v) * d_model with use_short_conv)")
    fast_path = "compiled CPU loop or chunkwise retention (simple_gla with fixed g, mode='auto')"
    fast_mode = "auto"
    matrix_form = "scalar decay (fixed gamma_h)"
    sequence_parallel = "diagonal"  # rnnzoo.distributed: the state crosses a chunk as T * S + b

    def __init__(self, config: RetNetConfig):
        super().__init__(config)
        d, h = config.d_model, config.num_heads
        self.num_heads, self.head_k, self.head_v = h, d // h, config.expand_v * d // h
        self.q_proj, self.k_proj = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.v_proj, self.g_proj = (nn.Linear(d, config.expand_v * d, bias=False) for _ in range(2))
        self.o_proj = nn.Linear(config.expand_v * d, d, bias=False)
        self.norm = GatedRMSNorm(config.expand_v * d, group_size=self.head_v, eps=1e-5)
        self.register_buffer("log_gamma", torch.log1p(-(2.0 ** (-5.0 - torch.arange(h, dtype=torch.float64)))))
        self._init_short_conv(d, d, config.expand_v * d)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        s = torch.zeros(batch_size, self.num_heads, self.head_k, self.head_v, device=device, dtype=dtype)
        pos = torch.zeros(batch_size, dtype=torch.long, device=device)
        return (s, pos, *self._conv_state(batch_size, device=device, dtype=dtype))

    def _mix(self, x, state, mode):
        (s, pos), windows = self._split_conv_state(state)
        q, k, v, g, gate, windows = self._inputs(x, pos, windows)
        o, s = simple_gla(q, k, v, g, initial_state=s, output_final_state=True, mode=mode)
        return self._readout(o, gate), (s.to(x.dtype), pos + x.shape[1], *windows)

    def _inputs(self, x, pos, windows):
        """x [B, T, d_model] from position pos [B] -> q, k [B, T, H, K], v [B, T, H, V], g [B, T, H], the gate's
        projection W_g x [B, T, expand_v * d_model] and the windows. The four projections run as one GEMM."""
        b, t, d = x.shape
        dv = self.config.expand_v * d
        projs = (self.q_proj, self.k_proj, self.v_proj, self.g_proj)
        q, k, v, gate = fused_linear(x, projs).split([d, d, dv, dv], dim=-1)
        positions = pos[:, None] + torch.arange(t, device=x.device)
        q, k, v, windows = self._short_conv(q, k, v, windows)
        q, k = (apply_rotary(self._heads(p), positions, self.config.rotary_base) for p in (q, k))
        return q, k, self._heads(v), self.log_gamma.to(x.dtype).expand(b, t, -1), gate, windows

    def _readout(self, o, gate):
        """o [B, T, H, V], gate W_g x [B, T, H*V] -> y [B, T, d_model]."""
        return self.o_proj(self.norm(o.reshape(gate.shape), gate))

    def _matrix_parts(self, x):
        pos = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        q, k, v, g, gate, _ = self._inputs(x, pos, self._conv_state(x.shape[0], device=x.device, dtype=x.dtype))
        return MatrixParts(scalar_decay_matrix(q, k, g), v, lambda o: self._readout(o, gate))
