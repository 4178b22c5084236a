"""``based``: Based (Arora et al. 2024, Simple linear attention language models balance the
recall-throughput tradeoff, sec. 3): linear attention with a 2nd-order Taylor feature map on a small
projected dimension, plus exact softmax attention over a short sliding window.

    phi(x) = [1, x / d^(1/4), (x ⊗ x) / (sqrt(2) sqrt(d))]   so phi(q)·phi(k) = 1 + q·k/sqrt(d) + (q·k)²/(2d)
    S_t = S_{t-1} + phi(k_t) v_tᵀ;  z_t = z_{t-1} + phi(k_t);  o_t = S_tᵀ phi(q_t) / (z_tᵀ phi(q_t))
    y = W_o o + SlidingAttention_window(x)

q, k: [H, feature_dim] (feature_dim 16 as in the paper), v: [H, d_model / H]. The paper interleaves
the two kinds of layer (and short gated convolutions) in a hybrid stack; here one mixer holds both
branches, summed. The window branch is ``sliding_attention`` itself (its bounded KV cache included).
State: (S [B, H, F, D], z [B, H, F], k_cache, v_cache, pos), F = 1 + f + f².
``use_short_conv`` gives the linear branch the short-range token mixing that the paper's hybrid gets from
its separate gated-convolution (BaseConv) layers, in fla's form: a causal conv + SiLU on W_q x, W_k x,
W_v x before the Taylor map, its three windows appended to the state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.attention import SlidingAttention, SlidingAttentionConfig
from rnnzoo.mixers.base import State
from rnnzoo.mixers.linear_base import LinearMixer, ShortConvConfig
from rnnzoo.mixers.registry import register
from rnnzoo.ops.linear_attention import linear_attention


@dataclass
class BasedConfig(ShortConvConfig):
    feature_dim: int = 16
    window: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.feature_dim < 1 or self.window < 1:
            raise ValueError(f"feature_dim and window must be >= 1, got {self.feature_dim}, {self.window}")


def taylor_features(x: torch.Tensor) -> torch.Tensor:
    """[..., f] -> [..., 1 + f + f²], the 2nd-order Taylor expansion of exp(q·k / sqrt(f))."""
    f = x.shape[-1]
    second = (x[..., :, None] * x[..., None, :]).flatten(-2) / (2 ** 0.5 * f ** 0.5)
    return torch.cat((torch.ones_like(x[..., :1]), x / f ** 0.25, second), -1)


@register("based")
class Based(LinearMixer):
    """Taylor linear attention + sliding-window softmax attention."""

    config_class = BasedConfig
    paper = "Arora et al. 2024, Simple linear attention language models balance the recall-throughput tradeoff"
    state_formula = ("(1 + f + f^2) * (d_model + num_heads) + 2 * (window - 1) * d_model, f = feature_dim "
                     "(+ (conv_size - 1) * (2 * num_heads * f + d_model) with use_short_conv)")
    fast_path = "compiled CPU loop or chunkwise linear attention (mode='auto') + SDPA sliding window"
    fast_mode = "auto"

    def __init__(self, config: BasedConfig):
        super().__init__(config)
        d, h, f = config.d_model, config.num_heads, config.feature_dim
        self.num_heads, self.head_dim, self.features = h, d // h, 1 + f + f * f
        self.q_proj, self.k_proj = nn.Linear(d, h * f, bias=False), nn.Linear(d, h * f, bias=False)
        self.v_proj, self.o_proj = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.window = SlidingAttention(SlidingAttentionConfig(d_model=d, num_heads=h, window=config.window))
        self._init_short_conv(h * f, h * f, d)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        s = torch.zeros(batch_size, self.num_heads, self.features, self.head_dim, device=device, dtype=dtype)
        return (s, s[..., 0].clone(), *self.window.init_state(batch_size, device=device, dtype=dtype),
                *self._conv_state(batch_size, device=device, dtype=dtype))

    def _mix(self, x, state, mode):
        (s, z, *cache), windows = self._split_conv_state(state)
        q, k, v, windows = self._short_conv(self.q_proj(x), self.k_proj(x), self.v_proj(x), windows)
        q, k = taylor_features(self._heads(q)), taylor_features(self._heads(k))
        o, (s, z) = linear_attention(q, k, self._heads(v), scale=1.0, initial_state=(s, z),
                                     output_final_state=True, normalize=True, mode=mode)
        y_window, cache = self.window._forward(x, tuple(cache))
        return self.o_proj(o.reshape(x.shape)) + y_window, (s.to(x.dtype), z.to(x.dtype), *cache, *windows)
