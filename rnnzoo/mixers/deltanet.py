"""Delta-rule mixers: ``deltanet``, ``gated_deltanet``, ``deltaproduct``.

All three share one body (as flash-linear-attention's layers do): q, k, v projections, a causal short
convolution with SiLU on each, L2-normalised q and k per head, a per-head write strength
beta = sigmoid(W_b x) (2 * sigmoid with ``allow_neg_eigval``: eigenvalues of I - beta k kᵀ in [-1, 1],
Grazzi et al. 2024, Unlocking State-Tracking in Linear RNNs Through Negative Eigenvalues), the
recurrence of ``rnnzoo.ops.delta`` on the state S [B, H, K, V], a per-head RMS output norm and an
output projection.

- DeltaNet (Schlag et al. 2021; Yang et al. 2024, Parallelizing Linear Transformers with the Delta Rule
  over Sequence Length, eq. 1): S_t = (I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ, o_t = S_tᵀ q_t / sqrt(K).
- Gated DeltaNet (Yang et al. 2025, Gated Delta Networks: Improving Mamba2 with Delta Rule, eq. 10):
  S_t = a_t (I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ with Mamba-2's decay
  log a_t = -exp(A_log) * softplus(W_a x_t + dt_bias), and output RMSNorm(o) * SiLU(W_g x).
- DeltaProduct (Siems et al. 2025, DeltaProduct: Improving State-Tracking in Linear RNNs via Householder
  Products, eq. 4): n_h keys, values and betas per token, i.e. n_h delta steps per token (a product of
  generalised Householder transitions), optional Gated-DeltaNet decay once per token, output gate.

Inits follow fla's layers: A = U(0, 16), A_log = log A; dt log-uniform in [1e-3, 0.1], dt_bias =
softplus^{-1}(dt); both float32-friendly and marked ``_no_weight_decay``. Linear layers keep torch's
default init for DeltaNet / Gated DeltaNet (fla's layers do not re-initialise them); DeltaProduct uses
fla's GatedDeltaProduct init, xavier_uniform(gain=2**-2.5).

State: (S [B, H, K, V], conv windows of q [B, H*K, c-1], k [B, n*H*K, c-1], v [B, n*H*V, c-1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.base import MatrixParts, Mixer, MixerConfig, State
from rnnzoo.mixers.fused import fused_linear, fused_short_conv
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.parts import (
    l2norm,
    mamba2_decay,
    mamba2_decay_params,
    resolve_head_dims,
)
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.ops.delta import delta_product, delta_rule, gated_delta_rule
from rnnzoo.ops.matrix import delta_matrix


@dataclass
class DeltaNetConfig(MixerConfig):
    num_heads: int = 4
    head_dim: int | None = None  # key head dim K; None: d_model // num_heads
    expand_v: float = 1.0  # value head dim V = K * expand_v
    conv_size: int = 4
    allow_neg_eigval: bool = False  # beta = 2 * sigmoid: beta in (0, 2)
    norm_eps: float = 1e-5
    chunk_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        resolve_head_dims(self)
        if self.conv_size < 1 or self.chunk_size < 1:
            raise ValueError(f"conv_size and chunk_size must be >= 1, got {self.conv_size}, {self.chunk_size}")

    @property
    def head_v_dim(self) -> int:
        return int(self.head_dim * self.expand_v)


@dataclass
class GatedDeltaNetConfig(DeltaNetConfig):
    expand_v: float = 2.0  # fla's Gated DeltaNet default


@dataclass
class DeltaProductConfig(GatedDeltaNetConfig):
    num_householder: int = 2
    use_forget_gate: bool = True
    allow_neg_eigval: bool = True  # DeltaProduct's state-tracking setting (fla's default)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_householder < 1:
            raise ValueError(f"num_householder must be >= 1, got {self.num_householder}")


class _DeltaBase(Mixer):
    """Shared body; subclasses set ``n_rows`` (delta steps per token), ``gated`` and ``output_gate``."""

    n_rows = 1
    gated = False
    output_gate = False
    fast_mode = "auto"  # the compiled delta-rule kernel where it fits, else the chunk form
    sequence_parallel = "matrix"  # rnnzoo.distributed: the memory crosses a chunk as A S + b
    matrix_form = "transition products of the (gated) delta rule"

    def __init__(self, config: DeltaNetConfig):
        super().__init__(config)
        d, h, dk, dv, n = config.d_model, config.num_heads, config.head_dim, config.head_v_dim, self.n_rows
        self.num_heads, self.head_dim, self.head_v_dim = h, dk, dv
        self.q_proj = nn.Linear(d, h * dk, bias=False)
        self.k_proj = nn.Linear(d, n * h * dk, bias=False)
        self.v_proj = nn.Linear(d, n * h * dv, bias=False)
        self.b_proj = nn.Linear(d, n * h, bias=False)
        self.q_conv = ShortConvolution(h * dk, config.conv_size, bias=False)
        self.k_conv = ShortConvolution(n * h * dk, config.conv_size, bias=False)
        self.v_conv = ShortConvolution(n * h * dv, config.conv_size, bias=False)
        if self.gated:
            self.a_proj = nn.Linear(d, h, bias=False)
            self.A_log, self.dt_bias = mamba2_decay_params(h)
        if self.output_gate:
            self.g_proj = nn.Linear(d, h * dv, bias=False)
        self.o_norm = GatedRMSNorm(dv, eps=config.norm_eps)  # one weight per channel, shared by heads
        self.o_proj = nn.Linear(h * dv, d, bias=False)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        s = torch.zeros(batch_size, self.num_heads, self.head_dim, self.head_v_dim, device=device, dtype=dtype)
        convs = (self.q_conv, self.k_conv, self.v_conv)
        return (s, *(c.init_state(batch_size, device=device, dtype=dtype) for c in convs))

    def project(self, x: torch.Tensor, state: State):
        """x: [B, T, d_model] -> q [B,T,H,K], k [B,T*n,H,K], v [B,T*n,H,V], beta [B,T*n,H], g [B,T,H] or None,
        the output gate's projection z [B,T,H,V] or None, and the new conv windows.

        All input projections run as one GEMM and the three short convolutions as one (``rnnzoo.mixers.fused``)."""
        b, t, _ = x.shape
        n, h, dk, dv = self.n_rows, self.num_heads, self.head_dim, self.head_v_dim
        projs = [self.q_proj, self.k_proj, self.v_proj, self.b_proj]
        projs += [self.a_proj] if self.gated else []
        projs += [self.g_proj] if self.output_gate else []
        conv_dim = h * dk + n * h * (dk + dv)
        qkv, b_in, *rest = fused_linear(x, projs).split([conv_dim, *(p.out_features for p in projs[3:])], dim=-1)
        qkv, windows = fused_short_conv(qkv, (self.q_conv, self.k_conv, self.v_conv), state[1:4])
        q, k, v = qkv.split([h * dk, n * h * dk, n * h * dv], dim=-1)
        # Per token the n rows are laid out (n, h, d), so rows t*n + j follow each other in time.
        q = l2norm(q.view(b, t, h, dk))
        k = l2norm(k.reshape(b, t * n, h, dk))
        v = v.reshape(b, t * n, h, dv)
        beta = torch.sigmoid(b_in).reshape(b, t * n, h)
        if self.config.allow_neg_eigval:
            beta = 2 * beta
        g = mamba2_decay(rest.pop(0), self.A_log, self.dt_bias) if self.gated else None
        z = rest.pop(0).view(b, t, h, dv) if self.output_gate else None
        return q, k, v, beta, g, z, windows

    def _recurrence(self, q, k, v, beta, g, s, mode):
        raise NotImplementedError

    def _mix(self, x, state, mode):
        q, k, v, beta, g, z, convs = self.project(x, state)
        o, s = self._recurrence(q, k, v, beta, g, state[0], mode)
        return self._readout(o.to(x.dtype), z), (s.to(state[0].dtype), *convs)

    def _readout(self, o, z):
        """o [B, T, H, V], output gate projection z [B, T, H, V] or None -> y [B, T, d_model]."""
        return self.o_proj(self.o_norm(o, z).flatten(2))

    def _matrix_parts(self, x):
        q, k, v, beta, g, z, _ = self.project(x, self.init_state(x.shape[0], device=x.device, dtype=x.dtype))
        return MatrixParts(delta_matrix(q, k, beta, g).to(x.dtype), v, lambda o: self._readout(o, z))


@register("deltanet")
class DeltaNet(_DeltaBase):
    """DeltaNet: S_t = (I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ, o_t = S_tᵀ q_t / sqrt(K) (Yang et al. 2024, eq. 1)."""

    config_class = DeltaNetConfig
    paper = ("Yang et al. 2024, Parallelizing Linear Transformers with the Delta Rule over Sequence Length "
             "(DeltaNet: Schlag et al. 2021)")
    state_formula = "num_heads * K * V + (conv_size - 1) * num_heads * (2K + V)"
    fast_path = "compiled CPU loop, else chunkwise WY/UT transform (ops.delta.delta_rule, mode='auto')"

    def _recurrence(self, q, k, v, beta, g, s, mode):
        return delta_rule(q, k, v, beta, initial_state=s, output_final_state=True, mode=mode,
                          chunk_size=self.config.chunk_size)


@register("gated_deltanet")
class GatedDeltaNet(_DeltaBase):
    """Gated DeltaNet: S_t = a_t (I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ, log a_t = -exp(A_log) softplus(W_a x + dt_bias);
    y = W_o RMSNorm(o) * SiLU(W_g x) (Yang et al. 2025, eq. 10)."""

    config_class = GatedDeltaNetConfig
    paper = "Yang et al. 2025, Gated Delta Networks: Improving Mamba2 with Delta Rule"
    state_formula = "num_heads * K * V + (conv_size - 1) * num_heads * (2K + V)"
    fast_path = "compiled CPU loop, else chunkwise WY/UT transform with decay (ops.delta.gated_delta_rule, mode='auto')"
    gated = True
    output_gate = True

    def _recurrence(self, q, k, v, beta, g, s, mode):
        return gated_delta_rule(q, k, v, g, beta, initial_state=s, output_final_state=True, mode=mode,
                                chunk_size=self.config.chunk_size)


@register("deltaproduct")
class DeltaProduct(_DeltaBase):
    """DeltaProduct: per token, n_h delta steps S <- (I - b_j k_j k_jᵀ) S + b_j k_j v_jᵀ after the decay a_t
    (optional), o_t = S_tᵀ q_t / sqrt(K) (Siems et al. 2025, eq. 4); output gate as Gated DeltaNet."""

    config_class = DeltaProductConfig
    paper = "Siems et al. 2025, DeltaProduct: Improving State-Tracking in Linear RNNs via Householder Products"
    state_formula = "num_heads * K * V + (conv_size - 1) * num_heads * (K + n_h * (K + V))"
    matrix_form = ""  # n_h values per token: its map from values to outputs is [T, n_h T], not square
    fast_path = "gated delta rule chunk form on the T*n_h interleaved rows (ops.delta.delta_product)"
    output_gate = True

    def __init__(self, config: DeltaProductConfig):
        self.n_rows = config.num_householder
        self.gated = config.use_forget_gate
        super().__init__(config)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=2 ** -2.5)

    def _recurrence(self, q, k, v, beta, g, s, mode):
        return delta_product(q, k, v, g, beta, num_householder=self.n_rows, initial_state=s,
                             output_final_state=True, mode=mode, chunk_size=self.config.chunk_size)
