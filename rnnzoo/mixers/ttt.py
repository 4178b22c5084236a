"""TTT-Linear (Sun et al. 2024, Learning to (Learn at Test Time): RNNs with Expressive Hidden States): the hidden
state is the weight W [K, K] (and bias) of the inner model f(x) = x + LN(x W + b) per head, trained on the sequence by
mini-batch gradient descent on 0.5 ||f(k_t) - v_t||^2 and read out at q_t (``rnnzoo.ops.ttt.ttt_linear``).

Layer as ttt-lm-pytorch's ``TTTLinear`` (its default config: no shared q/k conv, no gate, no pre-conv): q, k, v
projections; rotary positions on q and k at the position within the mini-batch (ttt-lm-pytorch's
``position_ids % mini_batch_size``); learning rate eta_t = base_lr * sigmoid(W_eta,h x_t + b_eta,h) / K per head
(W_eta ~ N(0, 0.02), b_eta = 0); token scale s_i = max(1/(i+1) + learned offset, 0) (offset 0 at init); inner
W_1 ~ N(0, 0.02), b_1 = 0, inner LayerNorm weight 1, bias 0 per head; output post-LayerNorm (eps 1e-6) and projection.
Defaults: mini_batch_size 16, base_lr 1.0, rotary base 10000.

State: (W - W_1 [B, H, K, K], b - b_1 [B, H, K], the gradients accumulated in the current mini-batch (same shapes),
and the int64 token count), so the zero state is the learned start.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.rotary import apply_rotary
from rnnzoo.ops.ttt import ttt_linear


@dataclass
class TTTConfig(MixerConfig):
    num_heads: int = 4
    mini_batch_size: int = 16  # tokens per inner gradient step (ttt-lm-pytorch's default)
    base_lr: float = 1.0  # ttt_base_lr
    rotary_base: float = 10000.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1 or self.d_model % self.num_heads or (self.d_model // self.num_heads) % 2:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads} into an even "
                             f"head dim (rotary)")
        if self.mini_batch_size < 1:
            raise ValueError(f"mini_batch_size must be >= 1, got {self.mini_batch_size}")
        if self.base_lr <= 0:
            raise ValueError(f"base_lr must be > 0, got {self.base_lr}")


@register("ttt")
class TTTLinear(Mixer):
    """TTT-Linear: a linear inner model with LayerNorm and residual, one gradient step per mini-batch."""

    config_class = TTTConfig
    paper = "Sun et al. 2024, Learning to (Learn at Test Time): RNNs with Expressive Hidden States (TTT-Linear)"
    state_formula = "2 * num_heads * K * (K + 1), K = d_model / num_heads (weights and the mini-batch's gradients)"
    fast_path = "dual form per mini-batch (ops.ttt.ttt_linear, mode='dual')"
    fast_mode = "dual"

    def __init__(self, config: TTTConfig):
        super().__init__(config)
        d, h = config.d_model, config.num_heads
        dk = d // h
        self.num_heads, self.head_dim = h, dk
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(d, d, bias=False) for _ in range(3))
        self.lr_weight = nn.Parameter(torch.randn(h, d) * 0.02)
        self.lr_bias = nn.Parameter(torch.zeros(h))
        self.token_offset = nn.Parameter(torch.zeros(config.mini_batch_size))
        self.W1 = nn.Parameter(torch.randn(h, dk, dk) * 0.02)
        self.b1 = nn.Parameter(torch.zeros(h, dk))
        self.ttt_norm_weight, self.ttt_norm_bias = nn.Parameter(torch.ones(h, dk)), nn.Parameter(torch.zeros(h, dk))
        self.post_norm = nn.LayerNorm(d, eps=1e-6)
        self.o_proj = nn.Linear(d, d, bias=False)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        w = torch.zeros(batch_size, self.num_heads, self.head_dim, self.head_dim, device=device, dtype=dtype)
        b = torch.zeros(batch_size, self.num_heads, self.head_dim, device=device, dtype=dtype)
        return w, b, w.clone(), b.clone(), torch.zeros(batch_size, dtype=torch.long, device=device)

    def _mix(self, x, state, mode):
        bt, t, _ = x.shape
        h, dk, m = self.num_heads, self.head_dim, self.config.mini_batch_size
        *inner, pos = state
        offset = int(pos[0]) if pos.numel() else 0
        q, k, v = (p(x).view(bt, t, h, dk) for p in (self.q_proj, self.k_proj, self.v_proj))
        within = ((pos[:, None] + torch.arange(t, device=x.device)) % m)
        q, k = apply_rotary(q, within, self.config.rotary_base), apply_rotary(k, within, self.config.rotary_base)
        eta = self.config.base_lr * torch.sigmoid(torch.einsum("btd,hd->bth", x, self.lr_weight) + self.lr_bias) / dk
        scale = (1.0 / torch.arange(1, m + 1, dtype=x.dtype, device=x.device) + self.token_offset).clamp_min(0)
        o, inner = ttt_linear(q, k, v, self.W1, self.b1, eta, self.ttt_norm_weight, self.ttt_norm_bias,
                              mini_batch_size=m, token_scale=scale, initial_state=tuple(inner),
                              output_final_state=True, offset=offset, mode=mode)
        y = self.o_proj(self.post_norm(o.reshape(bt, t, -1)))
        return y, (*(n.to(s.dtype) for n, s in zip(inner, state)), pos + t)
