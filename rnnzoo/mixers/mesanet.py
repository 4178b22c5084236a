"""MesaNet (von Oswald et al. 2025, MesaNet: Sequence Modeling by Locally Optimal Test-Time Training): per token
the output of the ridge regression of values on keys over the gated past (``rnnzoo.ops.mesa``),

    H_t = a_t H_{t-1} + beta_t k_t k_tᵀ,   G_t = a_t G_{t-1} + beta_t k_t v_tᵀ,   o_t = G_tᵀ (H_t + diag(lamb))^{-1} q_t

Layer as flash-linear-attention's ``MesaNet``: q, k projections through a causal short conv with SiLU and
L2-normalised per head; v a plain projection; forget gate a_t = sigmoid(W_a x_t + b_a) (log a = logsigmoid), input
gate beta_t = sigmoid(W_b x_t + b_b); lamb = softplus(lambda_params) + 0.25 per key channel, initialised to 1; an
RMSNorm per head (gated by SiLU(W_g x) with ``use_output_gate``) and the output projection. The solve is
``cg_steps`` conjugate-gradient iterations (fla's default 30 for training and decoding alike, so ``step`` and
``forward`` solve the same way; None: the exact solve).

State: (H [B, H, K, K], G [B, H, K, V], conv windows of q and k [B, H*K, c-1]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.parts import l2norm, resolve_head_dims
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.mixers.ssm_init import no_weight_decay
from rnnzoo.ops.mesa import mesa_net


@dataclass
class MesaNetConfig(MixerConfig):
    num_heads: int = 4
    head_dim: int | None = None  # K = V; None: d_model // num_heads
    conv_size: int = 4
    use_output_gate: bool = False  # fla's default
    lambda_lower_bound: float = 0.25  # lamb = softplus(lambda_params) + this
    lambda_init: float = 1.0  # lamb at init
    cg_steps: int | None = 30  # conjugate-gradient iterations per solve; None: exact solve
    norm_eps: float = 1e-5
    chunk_size: int = 64

    @property
    def expand_v(self) -> float:  # resolve_head_dims' value width: V = K here
        return 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        resolve_head_dims(self)
        if self.conv_size < 1 or self.chunk_size < 1:
            raise ValueError(f"conv_size and chunk_size must be >= 1, got {self.conv_size}, {self.chunk_size}")
        if self.cg_steps is not None and self.cg_steps < 1:
            raise ValueError(f"cg_steps must be >= 1 (or None: exact solve), got {self.cg_steps}")
        if self.lambda_lower_bound < 0 or self.lambda_init <= self.lambda_lower_bound:
            raise ValueError(f"need 0 <= lambda_lower_bound < lambda_init, got {self.lambda_lower_bound}, "
                             f"{self.lambda_init}")


@register("mesanet")
class MesaNet(Mixer):
    """MesaNet: o_t = G_tᵀ (H_t + diag(lamb))^{-1} q_t over gated key-key and key-value states."""

    config_class = MesaNetConfig
    paper = "von Oswald et al. 2025, MesaNet: Sequence Modeling by Locally Optimal Test-Time Training"
    state_formula = "num_heads * K * (K + V) + 2 * (conv_size - 1) * num_heads * K"
    fast_path = "simple_gla for both states + batched conjugate gradient (ops.mesa.mesa_net, mode='chunk')"
    fast_mode = "chunk"

    def __init__(self, config: MesaNetConfig):
        super().__init__(config)
        d, h, dk = config.d_model, config.num_heads, config.head_dim
        self.num_heads, self.head_dim = h, dk
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(d, h * dk, bias=False) for _ in range(3))
        self.a_proj, self.b_proj = nn.Linear(d, h, bias=True), nn.Linear(d, h, bias=True)
        self.q_conv, self.k_conv = (ShortConvolution(h * dk, config.conv_size, bias=False) for _ in range(2))
        init = math.log(math.expm1(config.lambda_init - config.lambda_lower_bound))  # softplus^{-1}
        self.lambda_params = nn.Parameter(torch.full((h, dk), init, dtype=torch.float32))
        no_weight_decay(self.lambda_params)
        if config.use_output_gate:
            self.g_proj = nn.Linear(d, h * dk, bias=False)
        self.o_norm = GatedRMSNorm(dk, eps=config.norm_eps)  # one weight per channel, shared by heads
        self.o_proj = nn.Linear(h * dk, d, bias=False)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        h, dk = self.num_heads, self.head_dim
        s = torch.zeros(batch_size, h, dk, dk, device=device, dtype=dtype)
        convs = (c.init_state(batch_size, device=device, dtype=dtype) for c in (self.q_conv, self.k_conv))
        return (s, s.clone(), *convs)

    def _mix(self, x, state, mode):
        b, t, _ = x.shape
        h, dk = self.num_heads, self.head_dim
        q, cq = self.q_conv(self.q_proj(x), state[2])
        k, ck = self.k_conv(self.k_proj(x), state[3])
        q, k, v = l2norm(q.view(b, t, h, dk)), l2norm(k.view(b, t, h, dk)), self.v_proj(x).view(b, t, h, dk)
        lamb = F.softplus(self.lambda_params) + self.config.lambda_lower_bound
        o, (hh, gg) = mesa_net(q, k, v, F.logsigmoid(self.a_proj(x)), lamb, torch.sigmoid(self.b_proj(x)),
                               initial_state=state[:2], output_final_state=True, mode=mode,
                               chunk_size=self.config.chunk_size, cg_steps=self.config.cg_steps)
        z = self.g_proj(x).view(b, t, h, dk) if self.config.use_output_gate else None
        y = self.o_proj(self.o_norm(o.to(x.dtype), z).flatten(2))
        return y, (hh.to(state[0].dtype), gg.to(state[1].dtype), cq, ck)
