"""``path``: PaTH attention (Yang, Shen, Wen, Tan, Mishra, Ren, Panda & Kim 2025, PaTH Attention: Position Encoding
via Accumulating Householder Transformations), the ``PaTHAttention`` layer of flash-linear-attention:

    w_t = l2norm(silu(conv3(W_w2 W_w1 x_t)))    (low-rank 32 projection, short conv of width 3)
    beta_t = 2 sigmoid(W_b x_t + b_b)            (one per head, in (0, 2): negative eigenvalues allowed)
    H_t = I - beta_t w_t w_tᵀ
    o_i = sum_{j<=i} softmax_j(q_iᵀ H_i ... H_{j+1} k_j / sqrt(D) [+ F_i - F_j]) v_j
    y = W_o o

``use_forget_gate=True`` adds FoX's per-head forget gate F = cumsum logsigmoid(W_f x + b_f). No rotary: the
Householder products are the position encoding. State: (k_cache [B, L, H, D] every key transformed up to the last
token, v_cache [B, L, H, D], [g_cache [B, L, H] log forget gates,] conv window [B, d_model, 2], pos [B] int64);
a new token transforms the cached keys by its H_t and appends its own key, so the exact step needs the growing
cache (state_size None) as softmax attention does. Defaults as fla: no QK norm, no forget gate, w rank 32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.attention import Attention
from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.parts import l2norm
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.ops.path import path_attention


@dataclass
class PaTHConfig(MixerConfig):
    num_heads: int = 4
    use_forget_gate: bool = False
    w_rank: int = 32  # rank of the w projection (fla's low-rank parametrisation for multi-head attention)
    w_conv_size: int = 3
    chunk_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1 or self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")
        for name in ("w_rank", "w_conv_size", "chunk_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@register("path")
class PaTH(Attention):
    """Softmax attention with accumulated Householder position transforms and a transformed-key cache."""

    config_class = PaTHConfig
    paper = "Yang et al. 2025, PaTH Attention: Position Encoding via Accumulating Householder Transformations"
    state_formula = "grows: 2 * d_model * T KV cache (+ num_heads * T log gates) + d_model * (w_conv_size - 1)"
    sequence_parallel = None  # the cached keys change with every later token
    fast_path = "UT-form chunked PaTH attention (ops.path.path_attention, mode='chunk')"
    matrix_form = ""  # the keys a query reads change with the tokens in between

    def __init__(self, config: PaTHConfig):
        Mixer.__init__(self, config)
        c, d, h = config, config.d_model, config.num_heads
        self.num_heads, self.head_dim = h, d // h
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.w_proj = nn.Sequential(nn.Linear(d, c.w_rank, bias=False), nn.Linear(c.w_rank, d, bias=False))
        self.w_conv = ShortConvolution(d, c.w_conv_size, bias=False, activation="silu")
        self.b_proj = nn.Linear(d, h, bias=True)
        self.f_proj = nn.Linear(d, h, bias=True) if c.use_forget_gate else None
        self.out_proj = nn.Linear(d, d, bias=False)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        k_cache, v_cache, pos = super().init_state(batch_size, device=device, dtype=dtype)
        gates = (k_cache.new_zeros(batch_size, 0, self.num_heads),) if self.f_proj is not None else ()
        conv = self.w_conv.init_state(batch_size, device=device, dtype=dtype or self._param_dtype())
        return (k_cache, v_cache, *gates, conv, pos)

    def _forward(self, x, state):
        b, t, _ = x.shape
        if state is None:
            state = self.init_state(b, device=x.device, dtype=x.dtype)
        k_cache, v_cache, *gates, conv, pos = state
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).unbind(2)
        w, conv = self.w_conv(self.w_proj(x), conv)
        w = l2norm(w.view(b, t, self.num_heads, self.head_dim))
        beta = 2 * torch.sigmoid(self.b_proj(x))
        keys, values = torch.cat((k_cache, k), 1), torch.cat((v_cache, v), 1)
        if self.f_proj is not None:
            gates = [torch.cat((gates[0], F.logsigmoid(self.f_proj(x))), 1)]
        o, keys = path_attention(q, keys, values, w, beta, *gates, k_valid=self._valid(pos, keys.shape[1], t),
                                 output_final_state=True, chunk_size=self.config.chunk_size)
        return self.out_proj(o.reshape(b, t, -1)), (keys.to(x.dtype), values, *gates, conv, pos + t)
