"""``lightning``: decayed linear attention of TransNormerLLM / Lightning Attention-2 (Qin et al. 2024,
Lightning Attention-2, eq. 1-3; TransNormerLLM, sec. 3.1 "LRPE-d" decay and "NormAttention").

    q, k = silu(W_q x), silu(W_k x);  v = W_v x;  u = W_u x   (use_short_conv: conv on W_q x, W_k x, W_v x)
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

from rnnzoo.mixers.base import MatrixParts, State
from rnnzoo.mixers.linear_base import ShortConvConfig, SquareHeadsMixer
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.ops.matrix import scalar_decay_matrix
from rnnzoo.ops.simple_gla import simple_gla


@dataclass
class LightningConfig(ShortConvConfig):
    layer_idx: int = 0
    num_layers: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.layer_idx < self.num_layers:
            raise ValueError(f"need 0 <= layer_idx < num_layers, got {self.layer_idx}, {self.num_layers}")


@register("lightning")
class Lightning(SquareHeadsMixer):
    """TransNormerLLM-style decayed linear attention with fixed per-head decays."""

    config_class = LightningConfig
    paper = "Qin et al. 2024, Lightning Attention-2 / TransNormerLLM"
    state_formula = "d_model * d_model / num_heads (+ 3 * (conv_size - 1) * d_model with use_short_conv)"
    fast_path = "compiled CPU loop or chunkwise decayed linear attention (simple_gla with fixed g, mode='auto')"
    fast_mode = "auto"
    matrix_form = "scalar decay (fixed lambda_h), scale 1"
    sequence_parallel = "diagonal"  # rnnzoo.distributed: the state crosses a chunk as T * S + b

    def __init__(self, config: LightningConfig):
        super().__init__(config)
        d, h = config.d_model, config.num_heads
        self.u_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.norm = GatedRMSNorm(d, group_size=self.head_dim, eps=1e-5)
        slopes = 2.0 ** (-8.0 * torch.arange(1, h + 1, dtype=torch.float64) / h)
        depth = 1 - config.layer_idx / max(config.num_layers - 1, 1) + 1e-5
        self.register_buffer("log_decay", -slopes * depth)
        # No activation in the conv: silu follows on q and k (as fla's LightNet / HGRN2 layers do).
        self._init_short_conv(d, d, d, activation=None)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints from before the q/k/v/u split hold one fused ``qkvu`` [4d, d] weight (rows q, k, v, u).
        fused = state_dict.pop(prefix + "qkvu.weight", None)
        if fused is not None:
            for name, rows in zip(("q_proj", "k_proj", "v_proj", "u_proj"), fused.chunk(4, 0)):
                state_dict[f"{prefix}{name}.weight"] = rows
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        s = self._zero_memory(batch_size, device=device, dtype=dtype)
        return (s, *self._conv_state(batch_size, device=device, dtype=s.dtype))

    def _mix(self, x, state, mode):
        b, t, _ = x.shape
        (s,), windows = self._split_conv_state(state)
        q, k, v, windows = self._qkv(x, windows)
        g = self.log_decay.to(x.dtype).expand(b, t, -1)
        o, s = simple_gla(F.silu(q), F.silu(k), v, g, scale=1.0, initial_state=s, output_final_state=True, mode=mode)
        return self._readout(o, x), (s.to(x.dtype), *windows)

    def _readout(self, o, x):
        return self.o_proj(self.norm(o.reshape(*x.shape[:2], -1), self.u_proj(x)))

    def _matrix_parts(self, x):
        b, t, _ = x.shape
        q, k, v, _ = self._qkv(x, self._conv_state(b, device=x.device, dtype=x.dtype))
        m = scalar_decay_matrix(F.silu(q), F.silu(k), self.log_decay.to(x.dtype).expand(b, t, -1), scale=1.0)
        return MatrixParts(m, v, lambda o: self._readout(o, x))
