"""``hgrn``: HGRN2, gated linear RNN with state expansion (Qin et al. 2024, HGRN2, eq. 5-7).

    f_t = lb + (1 - lb) sigmoid(W_f x_t)   (forget gate, lower-bounded by lb)
    S_t = diag(f_t) S_{t-1} + (1 - f_t) i_tᵀ,   i_t = W_i x_t     (outer-product state expansion)
    o_t = S_tᵀ silu(W_q x_t) / sqrt(d_f);   y = W_o RMSNorm(o)

i.e. the ``gla`` op with k = 1 - f and log decay log f (computed as logaddexp(log lb, log(1-lb) +
logsigmoid) for precision), as in flash-linear-attention's ``HGRN2Attention``. HGRN makes the lower
bound grow with depth (a learned cumulative softmax over layers, 0 for the first layer); here it is the
per-layer config value ``lower_bound`` (0 = no bound). Head forget dim = expand_ratio (default
d_model / num_heads). ``use_short_conv``: fla's causal conv, without activation as in fla's layer (f feeds
a sigmoid), on W_q x, W_f x, W_i x; its three windows are appended to the state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import MatrixParts, State
from rnnzoo.mixers.linear_base import LinearMixer, ShortConvConfig
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.ops.gla import gla
from rnnzoo.ops.matrix import channel_decay_matrix


@dataclass
class HGRNConfig(ShortConvConfig):
    expand_ratio: int | None = None  # forget dim per head; None: d_model / num_heads
    lower_bound: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.effective_lower_bound < 1.0:
            raise ValueError(f"lower_bound must be in [0, 1), got {self.effective_lower_bound}")
        if self.expand_ratio is not None and self.expand_ratio < 1:
            raise ValueError(f"expand_ratio must be >= 1, got {self.expand_ratio}")

    @property
    def effective_lower_bound(self) -> float:
        """The forget gate's lower bound this layer uses."""
        return self.lower_bound


@register("hgrn")
class HGRN(LinearMixer):
    """HGRN2 with a lower-bounded forget gate; state S [B, H, expand_ratio, d_model / num_heads]."""

    config_class = HGRNConfig
    paper = "Qin et al. 2024, HGRN2: Gated Linear RNNs with State Expansion"
    state_formula = ("num_heads * expand_ratio * d_model / num_heads "
                     "(+ (conv_size - 1) * (2 * num_heads * expand_ratio + d_model) with use_short_conv)")
    fast_path = "compiled CPU loop or chunkwise GLA (gla op, mode='auto')"
    fast_mode = "auto"
    matrix_form = "decay per forget channel (gla with k = 1 - f)"
    sequence_parallel = "diagonal"  # rnnzoo.distributed: the state crosses a chunk as T * S + b

    def __init__(self, config: HGRNConfig):
        super().__init__(config)
        d, h = config.d_model, config.num_heads
        self.num_heads, self.head_f = h, config.expand_ratio or d // h
        self.head_i = d // h
        forget_dim = h * self.head_f
        self.q_proj, self.f_proj = nn.Linear(d, forget_dim, bias=False), nn.Linear(d, forget_dim, bias=False)
        self.i_proj, self.o_proj = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.norm = GatedRMSNorm(d, eps=1e-5)
        self._init_short_conv(forget_dim, forget_dim, d, activation=None)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        s = torch.zeros(batch_size, self.num_heads, self.head_f, self.head_i, device=device, dtype=dtype)
        return (s, *self._conv_state(batch_size, device=device, dtype=dtype))

    def _mix(self, x, state, mode):
        (s,), windows = self._split_conv_state(state)
        q, k, i, g, windows = self._inputs(x, windows)
        o, s = gla(q, k, i, g, initial_state=s, output_final_state=True, mode=mode)
        return self._readout(o, x), (s.to(x.dtype), *windows)

    def _readout(self, o, x):
        return self.o_proj(self.norm(o.reshape(x.shape)))

    def _matrix_parts(self, x):
        q, k, i, g, _ = self._inputs(x, self._conv_state(x.shape[0], device=x.device, dtype=x.dtype))
        return MatrixParts(channel_decay_matrix(q, k, g), i, lambda o: self._readout(o, x))

    def _inputs(self, x, windows):
        """x [B, T, d_model] -> q, k = 1 - f, log f [B, T, H, d_f], i [B, T, H, d_i] and the new conv windows."""
        q, f, i, windows = self._short_conv(self.q_proj(x), self.f_proj(x), self.i_proj(x), windows)
        g = F.logsigmoid(f)
        lb = self.config.effective_lower_bound
        if lb > 0:
            g = torch.logaddexp(torch.full_like(g, math.log(lb)), math.log1p(-lb) + g)
        k = -torch.expm1(g)  # 1 - f
        q, k, g = (self._heads(t) for t in (F.silu(q), k, g))
        return q, k, self._heads(i), g, windows
