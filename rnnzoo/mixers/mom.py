"""Mixture-of-Memories (Du et al. 2025, MoM: Linear Sequence Modeling with Mixture-of-Memories), registry
name ``mom``: M gated-delta memories plus one shared memory; a router sends each token to its top-k memories.

    p_t = softmax(W_r x_t);  I_t = top-k(p_t);  w_{t,m} = p_{t,m} / sum_{m' in I_t} p_{t,m'}      (eqs. 4-5)
    for m in I_t (and always for the shared memory):
        S^m_t = a^m_t (I - b^m_t k^m_t k^mᵀ_t) S^m_{t-1} + b^m_t k^m_t v^mᵀ_t        (Gated DeltaNet update)
    for m not in I_t:  S^m_t = S^m_{t-1}   exactly: no decay, no write
    o_t = sum_{m in I_t} w_{t,m} S^mᵀ_t q_t + S^{shared}ᵀ_t q_t;  y_t = W_o RMSNorm(o_t) * SiLU(W_g x_t)

Each memory has its own k, v, beta and decay projections; q (with its short conv), A_log and dt_bias are
shared, as in fla's MomAttention (whose init this follows: xavier_uniform(gain=2**-2.5) linears,
Mamba-2 A_log/dt_bias). All M + 1 memories run as one gated delta rule with (M + 1) * H heads: a token not
routed to memory m enters that memory's scan with beta = 0 and g = 0, which leaves the state bit-for-bit
unchanged, so the chunk path is exact and matches ``step``.

Differences from fla: the short convolutions run over the whole token sequence (fla convolves each
memory's routed sub-sequence), so the conv windows are part of the state whatever the routing; the
router's load-balancing auxiliary loss is not returned (the mixer contract has no aux outputs).

State: (S [B, M+1, H, K, V], conv windows of q [B, H*K, c-1], k [B, (M+1)*H*K, c-1], v [B, (M+1)*H*V, c-1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.parts import (
    l2norm,
    mamba2_decay,
    mamba2_decay_params,
    resolve_head_dims,
)
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.ops.delta import gated_delta_rule


@dataclass
class MoMConfig(MixerConfig):
    num_heads: int = 4
    head_dim: int | None = None  # K; None: d_model // num_heads
    expand_v: float = 2.0  # V = K * expand_v (fla's default)
    num_memories: int = 4
    topk: int = 2
    conv_size: int = 4
    norm_eps: float = 1e-5
    chunk_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        resolve_head_dims(self)
        if not 1 <= self.topk <= self.num_memories:
            raise ValueError(f"need 1 <= topk <= num_memories, got topk={self.topk}, num_memories={self.num_memories}")
        if self.conv_size < 1 or self.chunk_size < 1:
            raise ValueError(f"conv_size and chunk_size must be >= 1, got {self.conv_size}, {self.chunk_size}")


@register("mom")
class MoM(Mixer):
    """Mixture-of-Memories: top-k routed gated-delta memories plus a shared memory (Du et al. 2025)."""

    config_class = MoMConfig
    paper = "Du et al. 2025, MoM: Linear Sequence Modeling with Mixture-of-Memories"
    state_formula = ("(num_memories + 1) * num_heads * K * V + "
                     "(conv_size - 1) * num_heads * (K + (num_memories + 1) * (K + V))")
    fast_path = "one chunkwise gated delta rule over (M+1)*H heads, unrouted tokens masked to beta=0, g=0"
    fast_mode = "auto"

    def __init__(self, config: MoMConfig):
        super().__init__(config)
        d, h, dk = config.d_model, config.num_heads, config.head_dim
        dv, mem = int(dk * config.expand_v), config.num_memories + 1  # the last memory is the shared one
        self.num_heads, self.head_dim, self.head_v_dim, self.n_mem = h, dk, dv, mem
        self.router = nn.Linear(d, config.num_memories, bias=False)
        self.q_proj = nn.Linear(d, h * dk, bias=False)
        self.k_proj = nn.Linear(d, mem * h * dk, bias=False)
        self.v_proj = nn.Linear(d, mem * h * dv, bias=False)
        self.b_proj = nn.Linear(d, mem * h, bias=False)
        self.a_proj = nn.Linear(d, mem * h, bias=False)
        self.A_log, self.dt_bias = mamba2_decay_params(h)
        self.q_conv = ShortConvolution(h * dk, config.conv_size, bias=False)
        self.k_conv = ShortConvolution(mem * h * dk, config.conv_size, bias=False)
        self.v_conv = ShortConvolution(mem * h * dv, config.conv_size, bias=False)
        self.g_proj = nn.Linear(d, h * dv, bias=False)
        self.o_norm = GatedRMSNorm(dv, eps=config.norm_eps)
        self.o_proj = nn.Linear(h * dv, d, bias=False)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=2 ** -2.5)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        s = torch.zeros(batch_size, self.n_mem, self.num_heads, self.head_dim, self.head_v_dim,
                        device=device, dtype=dtype)
        convs = (self.q_conv, self.k_conv, self.v_conv)
        return (s, *(c.init_state(batch_size, device=device, dtype=dtype) for c in convs))

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, T, d_model] -> (weights [B, T, M]: renormalised top-k softmax, 0 off the top-k;
        selected [B, T, M] bool)."""
        probs = torch.softmax(self.router(x).to(torch.promote_types(x.dtype, torch.float32)), dim=-1)
        top, idx = probs.topk(self.config.topk, dim=-1)
        weights = torch.zeros_like(probs).scatter(-1, idx, top / top.sum(-1, keepdim=True))
        selected = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, idx, True)
        return weights.to(x.dtype), selected

    def _mix(self, x, state, mode):
        b, t, _ = x.shape
        mem, h, dk, dv = self.n_mem, self.num_heads, self.head_dim, self.head_v_dim
        weights, selected = self.route(x)
        routed = torch.cat((selected, selected.new_ones(b, t, 1)), -1)[..., None]  # [B, T, M+1, 1]
        q, cq = self.q_conv(self.q_proj(x), state[1])
        k, ck = self.k_conv(self.k_proj(x), state[2])
        v, cv = self.v_conv(self.v_proj(x), state[3])
        q = l2norm(q.view(b, t, 1, h, dk)).expand(b, t, mem, h, dk).reshape(b, t, mem * h, dk)
        k = l2norm(k.view(b, t, mem * h, dk))
        v = v.view(b, t, mem * h, dv)
        beta = (torch.sigmoid(self.b_proj(x)).view(b, t, mem, h) * routed).flatten(2)
        g = mamba2_decay(self.a_proj(x).view(b, t, mem, h), self.A_log, self.dt_bias)
        g = (g * routed).flatten(2)  # an unrouted token must not decay the memory either
        o, s = gated_delta_rule(q, k, v, g, beta, initial_state=state[0].flatten(1, 2), output_final_state=True,
                                mode=mode, chunk_size=self.config.chunk_size)
        mix = torch.cat((weights, weights.new_ones(b, t, 1)), -1)  # the shared memory always counts fully
        o = (o.view(b, t, mem, h, dv) * mix[..., None, None]).sum(2).to(x.dtype)
        y = self.o_proj(self.o_norm(o, self.g_proj(x).view_as(o)).flatten(2))
        return y, (s.view_as(state[0]).to(state[0].dtype), cq, ck, cv)
