"""``gsa``: Gated Slot Attention (Zhang et al. 2024, Gated Slot Attention for Efficient Linear-Time Sequence
Modeling, its recurrence), parameterised as flash-linear-attention's ``GatedSlotAttention`` layer:

    q, k = swish(W_q x), swish(W_k x) (key dim = expand_k * d_model);  v = silu(W_v x)
    g_t = logsigmoid(W_f x_t) / 8   (one forget gate per slot and head);  s_t = 1 - exp(g_t)
    K~_t = K~_{t-1} diag(exp(g_t)) + k_t s_tᵀ;   V~_t = diag(exp(g_t)) V~_{t-1} + s_t v_tᵀ
    o_t = V~_tᵀ softmax(K~_tᵀ q_t)   (scale 1);   y = W_o RMSNorm(silu(o))

M = ``num_slots`` slots per head (fla: None means the head's key dim; the paper trains with 64). ``use_short_conv``
passes W_q x, W_k x, W_v x through fla's causal conv + SiLU before the feature maps and appends the three windows
to the state. Linear layers keep torch's init (fla's layer does not re-initialise them). fla's grouped key/value
heads (``num_kv_heads``) and its optional output gate (off by default) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import State
from rnnzoo.mixers.linear_base import ExpandedConfig, LinearMixer
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.ops.gsa import gsa


@dataclass
class GSAConfig(ExpandedConfig):  # expand_k, expand_v
    num_slots: int | None = None  # slots M per head; None: the head's key dim (fla's layer)
    gate_logit_normalizer: float = 8.0  # g = logsigmoid(W_f x) / this
    scale: float = 1.0  # of q in the slot scores (fla's layer: 1, not K**-0.5)
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_slots is not None and self.num_slots < 1:
            raise ValueError(f"num_slots must be >= 1 (or None: the head's key dim), got {self.num_slots}")
        for name in ("gate_logit_normalizer", "scale", "norm_eps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


@register("gsa")
class GSA(LinearMixer):
    """Gated Slot Attention; state (K~ [B, H, d_k, M], V~ [B, H, M, d_v]) (+ conv windows)."""

    config_class = GSAConfig
    paper = "Zhang et al. 2024, Gated Slot Attention for Efficient Linear-Time Sequence Modeling"
    state_formula = ("num_heads * num_slots * (d_k + d_v) with d_k = expand_k * d_model / num_heads, d_v likewise "
                     "(+ (conv_size - 1) * (2 * expand_k + expand_v) * d_model with use_short_conv)")
    fast_path = "two passes of chunkwise gated linear attention (ops.gsa, mode='chunk'; the second on gla)"

    def __init__(self, config: GSAConfig):
        super().__init__(config)
        d, h = config.d_model, config.num_heads
        self.key_dim, self.value_dim = int(config.expand_k * d), int(config.expand_v * d)
        self.num_heads, self.head_k, self.head_v = h, self.key_dim // h, self.value_dim // h
        self.num_slots = config.num_slots or self.head_k
        self.q_proj, self.k_proj = nn.Linear(d, self.key_dim, bias=False), nn.Linear(d, self.key_dim, bias=False)
        self.v_proj = nn.Linear(d, self.value_dim, bias=False)
        self.f_proj = nn.Linear(d, h * self.num_slots, bias=False)
        self.norm = GatedRMSNorm(self.value_dim, eps=config.norm_eps)
        self.o_proj = nn.Linear(self.value_dim, d, bias=False)
        self._init_short_conv(self.key_dim, self.key_dim, self.value_dim)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        h, m = self.num_heads, self.num_slots
        hk = torch.zeros(batch_size, h, self.head_k, m, device=device, dtype=dtype)
        hv = torch.zeros(batch_size, h, m, self.head_v, device=device, dtype=dtype)
        return (hk, hv, *self._conv_state(batch_size, device=device, dtype=dtype))

    def _mix(self, x, state, mode):
        (hk, hv), windows = self._split_conv_state(state)
        q, k, v, windows = self._short_conv(self.q_proj(x), self.k_proj(x), self.v_proj(x), windows)
        q, k, v = self._heads(F.silu(q)), self._heads(F.silu(k)), self._heads(F.silu(v))  # swish = silu
        g = self._heads(F.logsigmoid(self.f_proj(x)) / self.config.gate_logit_normalizer)
        o, (hk, hv) = gsa(q, k, v, 1 - g.exp(), g, scale=self.config.scale, initial_state=(hk, hv),
                          output_final_state=True, mode=mode)
        y = self.o_proj(self.norm(F.silu(o.reshape(*x.shape[:2], -1))))
        return y, (hk.to(x.dtype), hv.to(x.dtype), *windows)
