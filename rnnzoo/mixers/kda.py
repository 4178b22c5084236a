"""Delta rules with a per-channel decay: ``kda`` (Kimi Delta Attention) and ``gdn2`` (Gated DeltaNet-2).

Both share one body, as flash-linear-attention's ``KimiDeltaAttention`` and ``GatedDeltaNet2`` layers do: q, k, v
projections through a causal short convolution with SiLU, L2-normalised q and k per head, a per-key-channel log
decay from a low-rank projection,

    g_t = -exp(A_log_h) * softplus(W_f2 W_f1 x_t + dt_bias)          (rank = V; A ~ U(1, 16) per head)

the recurrence of ``rnnzoo.ops.kda`` on the state S [B, H, K, V], and the output RMSNorm_head(o) * sigmoid(W_g2 W_g1 x)
(low-rank gate with bias) before the output projection.

- KDA (Kimi Team 2025, Kimi Linear: An Expressive, Efficient Attention Architecture, the KDA recurrence):
  S_t = (I - beta_t k_t k_tᵀ) diag(exp(g_t)) S_{t-1} + beta_t k_t v_tᵀ, beta = sigmoid(W_b x) per head;
  dt_bias = 0 at init (fla's layer).
- Gated DeltaNet-2 (Gated DeltaNet-2: Decoupling Erase and Write in Linear Attention; NVlabs/GatedDeltaNet-2):
  S_t = (I - k_t (b_t ⊙ k_t)ᵀ) diag(exp(g_t)) S_{t-1} + k_t (w_t ⊙ v_t)ᵀ with a channel-wise erase gate
  b = sigmoid(W_b x) [K] and write gate w = sigmoid(W_w x) [V]; dt_bias = softplus^{-1}(dt), dt log-uniform in
  [1e-3, 0.1] per channel (fla's layer).

``allow_neg_eigval`` doubles beta (KDA) or b (GDN-2): eigenvalues of the erase in [-1, 1] (Grazzi et al. 2024).
A_log and dt_bias are float32 and ``_no_weight_decay``; linear layers keep torch's init (fla's layers do not
re-initialise them). State: (S [B, H, K, V], conv windows of q, k [B, H*K, c-1] and v [B, H*V, c-1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import Mixer, State
from rnnzoo.mixers.deltanet import DeltaNetConfig
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.parts import l2norm, mamba2_decay
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.mixers.ssm_init import dt_bias_init, no_weight_decay
from rnnzoo.ops.kda import gdn2, kda


@dataclass
class KDAConfig(DeltaNetConfig):
    gate_low_rank_dim: int | None = None  # rank of the decay and output-gate projections; None: V (fla's layers)
    # decays of up to -16 nats a step (A ~ U(1, 16)) leave dplr's one-matmul span in any long chunk, and its
    # level-wise weights cost less in short chunks
    chunk_size: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gate_low_rank_dim is not None and self.gate_low_rank_dim < 1:
            raise ValueError(f"gate_low_rank_dim must be >= 1 (or None: V), got {self.gate_low_rank_dim}")


class _ChannelDecayDelta(Mixer):
    """Shared body; subclasses set ``_gates`` (the erase / write gates from x) and call the op in ``_recurrence``."""

    fast_mode = "auto"  # the compiled delta-rule kernel where it fits, else the chunk form

    def __init__(self, config: KDAConfig):
        super().__init__(config)
        d, h, dk, dv = config.d_model, config.num_heads, config.head_dim, config.head_v_dim
        rank = config.gate_low_rank_dim or dv
        self.num_heads, self.head_dim, self.head_v_dim = h, dk, dv
        self.q_proj, self.k_proj = nn.Linear(d, h * dk, bias=False), nn.Linear(d, h * dk, bias=False)
        self.v_proj = nn.Linear(d, h * dv, bias=False)
        self.q_conv, self.k_conv = (ShortConvolution(h * dk, config.conv_size, bias=False) for _ in range(2))
        self.v_conv = ShortConvolution(h * dv, config.conv_size, bias=False)
        self.f_proj = nn.Sequential(nn.Linear(d, rank, bias=False), nn.Linear(rank, h * dk, bias=False))
        self.A_log = nn.Parameter(torch.empty(h, dtype=torch.float32).uniform_(1, 16).log())
        self.dt_bias = nn.Parameter(self._dt_bias_init(h * dk))
        no_weight_decay(self.A_log, self.dt_bias)
        self.g_proj = nn.Sequential(nn.Linear(d, rank, bias=False), nn.Linear(rank, h * dv, bias=True))
        self.o_norm = GatedRMSNorm(dv, eps=config.norm_eps)  # one weight per channel, shared by heads
        self.o_proj = nn.Linear(h * dv, d, bias=False)

    def _dt_bias_init(self, n: int) -> torch.Tensor:
        raise NotImplementedError

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        s = torch.zeros(batch_size, self.num_heads, self.head_dim, self.head_v_dim, device=device, dtype=dtype)
        convs = (self.q_conv, self.k_conv, self.v_conv)
        return (s, *(c.init_state(batch_size, device=device, dtype=dtype) for c in convs))

    def _mix(self, x, state, mode):
        b, t, _ = x.shape
        h, dk, dv = self.num_heads, self.head_dim, self.head_v_dim
        q, cq = self.q_conv(self.q_proj(x), state[1])
        k, ck = self.k_conv(self.k_proj(x), state[2])
        v, cv = self.v_conv(self.v_proj(x), state[3])
        q, k, v = l2norm(q.view(b, t, h, dk)), l2norm(k.view(b, t, h, dk)), v.view(b, t, h, dv)
        g = mamba2_decay(self.f_proj(x).view(b, t, h, dk), self.A_log[:, None], self.dt_bias.view(h, dk))
        o, s = self._recurrence(x, q, k, v, g, state[0], mode)
        gate = torch.sigmoid(self.g_proj(x).view(b, t, h, dv))
        y = self.o_proj((self.o_norm(o.to(x.dtype)) * gate).flatten(2))
        return y, (s.to(state[0].dtype), cq, ck, cv)

    def _recurrence(self, x, q, k, v, g, s, mode):
        raise NotImplementedError


@register("kda")
class KDA(_ChannelDecayDelta):
    """Kimi Delta Attention: S_t = (I - beta_t k_t k_tᵀ) diag(exp(g_t)) S_{t-1} + beta_t k_t v_tᵀ (Kimi Linear)."""

    config_class = KDAConfig
    paper = "Kimi Team 2025, Kimi Linear: An Expressive, Efficient Attention Architecture (Kimi Delta Attention)"
    state_formula = "num_heads * K * V + (conv_size - 1) * num_heads * (2K + V)"
    fast_path = "compiled CPU delta-rule loop, else chunkwise WY form (ops.kda.kda, mode='auto')"

    def __init__(self, config: KDAConfig):
        super().__init__(config)
        self.b_proj = nn.Linear(config.d_model, config.num_heads, bias=False)

    def _dt_bias_init(self, n):
        return torch.zeros(n, dtype=torch.float32)

    def _recurrence(self, x, q, k, v, g, s, mode):
        beta = torch.sigmoid(self.b_proj(x)) * (2.0 if self.config.allow_neg_eigval else 1.0)
        return kda(q, k, v, g, beta, initial_state=s, output_final_state=True, mode=mode,
                   chunk_size=self.config.chunk_size)


@register("gdn2")
class GatedDeltaNet2(_ChannelDecayDelta):
    """Gated DeltaNet-2: S_t = (I - k_t (b_t ⊙ k_t)ᵀ) diag(exp(g_t)) S_{t-1} + k_t (w_t ⊙ v_t)ᵀ with channel-wise
    erase b [K] and write w [V] gates."""

    config_class = KDAConfig
    paper = "Gated DeltaNet-2: Decoupling Erase and Write in Linear Attention (NVlabs/GatedDeltaNet-2)"
    state_formula = "num_heads * K * V + (conv_size - 1) * num_heads * (2K + V)"
    fast_path = "compiled CPU delta-rule loop, else chunkwise WY form (ops.kda.gdn2, mode='auto')"

    def __init__(self, config: KDAConfig):
        super().__init__(config)
        d, h = config.d_model, config.num_heads
        self.b_proj = nn.Linear(d, h * config.head_dim, bias=False)
        self.w_proj = nn.Linear(d, h * config.head_v_dim, bias=False)

    def _dt_bias_init(self, n):
        return dt_bias_init(n, 1e-3, 0.1, 1e-4)

    def _recurrence(self, x, q, k, v, g, s, mode):
        b = torch.sigmoid(self.b_proj(x)).view_as(k) * (2.0 if self.config.allow_neg_eigval else 1.0)
        w = torch.sigmoid(self.w_proj(x)).view_as(v)
        return gdn2(q, k, v, g, b, w, initial_state=s, output_final_state=True, mode=mode,
                    chunk_size=self.config.chunk_size)
