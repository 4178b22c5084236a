"""Log-linear mixers (Guo et al. 2025, Log-Linear Attention): ``log_linear_mamba2`` and ``log_linear_gated_deltanet``,
Mamba-2 and Gated DeltaNet whose one state becomes one state per level of a Fenwick-tree partition of the prefix
(``rnnzoo.ops.log_linear``), each level read out with a data-dependent level scale

    lambda_t^(l) = softplus(L_{h,l} * (W_lambda x_t)_{h,l})          L = 1 at init (flash-linear-attention's layer)

Everything else is the parent mixer's (``mamba2``'s in-projection, conv, SSD parameters, gated norm; ``gated_deltanet``'s
q/k/v convs, L2 norms, beta, decay, output gate), reused, not copied.

State: the parent's conv windows, the level states [B, num_levels, H, K, V] and the int64 token count. The Fenwick
tree needs ceil(log2 T) + 1 levels after T tokens; the mixer allocates ``num_levels`` of them (the most its level
scales cover: T <= 2^(num_levels - 1), 16384 at fla's default 15) and keeps the unused ones at zero, so
``state_size`` is that fixed allocation; a longer sequence raises ValueError. ``step`` is the op's recurrent form.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import MatrixParts, State
from rnnzoo.mixers.deltanet import GatedDeltaNet, GatedDeltaNetConfig
from rnnzoo.mixers.mamba2 import Mamba2
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.ssm_init import SSDConfig, no_weight_decay
from rnnzoo.ops.log_linear import hierarchical_mask, log_linear_attention, log_linear_gated_delta_rule, num_levels
from rnnzoo.ops.matrix import scalar_decay_matrix

NUM_LEVELS = 15  # fla's MAX_NUM_LEVELS: sequences up to 2^14 = 16384 tokens


def _check_levels(config) -> None:
    if config.num_levels < 1:
        raise ValueError(f"num_levels must be >= 1, got {config.num_levels}")
    if config.chunk_size & (config.chunk_size - 1):
        raise ValueError(f"chunk_size must be a power of two, got {config.chunk_size}")


@dataclass
class LogLinearMamba2Config(SSDConfig):
    num_levels: int = NUM_LEVELS  # Fenwick levels with a level scale: sequences up to 2^(num_levels - 1) tokens

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_levels(self)


@dataclass
class LogLinearGatedDeltaNetConfig(GatedDeltaNetConfig):
    num_levels: int = NUM_LEVELS  # Fenwick levels with a level scale: sequences up to 2^(num_levels - 1) tokens

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_levels(self)


class _Levels:
    """The level scales and the fixed-size level state shared by both mixers."""

    def _init_levels(self, d_model: int, heads: int, levels: int) -> None:
        self.level_proj = nn.Linear(d_model, heads * levels, bias=False)
        self.L = nn.Parameter(torch.ones(heads, levels))
        no_weight_decay(self.L)

    def _level_scales(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, d_model] -> lambda [B, T, H, num_levels]."""
        return F.softplus(self.level_proj(x).view(*x.shape[:2], *self.L.shape) * self.L)

    def _levels(self, state_levels: torch.Tensor, pos: torch.Tensor, t: int) -> tuple[int, torch.Tensor]:
        """-> (offset, the levels in use after offset tokens) for a call of t tokens; all rows share one position."""
        offset = int(pos[0]) if pos.numel() else 0
        self._check_length(offset + t)
        return offset, state_levels[:, :num_levels(offset)]

    def _check_length(self, n: int) -> None:
        """Raises ValueError when n tokens need more Fenwick levels than the level scales cover."""
        if num_levels(n) > self.config.num_levels:
            raise ValueError(f"{type(self).__name__}: position {n} needs {num_levels(n)} Fenwick "
                             f"levels but num_levels={self.config.num_levels} (sequences up to "
                             f"{2 ** (self.config.num_levels - 1)} tokens): raise num_levels")

    def _pad_levels(self, s: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return torch.cat((s.to(like.dtype), like.new_zeros(like.shape[0], like.shape[1] - s.shape[1],
                                                           *like.shape[2:])), 1)


@register("log_linear_mamba2")
class LogLinearMamba2(_Levels, Mamba2):
    """Log-linear Mamba-2: SSD heads with one state per Fenwick level, read out with level scales lambda_t^(l)."""

    config_class = LogLinearMamba2Config
    paper = "Guo et al. 2025, Log-Linear Attention (log-linear Mamba-2)"
    state_formula = ("num_levels*expand*d_model*d_state + (expand*d_model + 2*ngroups*d_state)*(d_conv - 1) "
                     "(ceil(log2 T) + 1 levels in use after T tokens)")
    fast_path = "chunkwise Fenwick levels over aligned chunks (ops.log_linear.log_linear_attention, mode='chunk')"
    fast_mode = "chunk"
    matrix_form = ("Mamba-2's scalar-decay matrix weighted by the level scale of each Fenwick bucket "
                   "(C_t·B_s exp(segsum) lambda_t^(level(t, s)), delta_s folded into column s), D on the diagonal")
    sequence_parallel = None

    def __init__(self, config: LogLinearMamba2Config):
        super().__init__(config)
        self._init_levels(config.d_model, self.nheads, config.num_levels)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        conv, h = super().init_state(batch_size, device=device, dtype=dtype)
        levels = h.new_zeros(batch_size, self.config.num_levels, *h.shape[1:])
        return conv, levels, torch.zeros(batch_size, dtype=torch.long, device=device)

    def _mix(self, u, state, mode):
        conv_state, levels, pos = state
        bt, t, _ = u.shape
        offset, s = self._levels(levels, pos, t)
        z, x, B, C, delta, log_decay, conv_state = self._inputs(u, conv_state)
        y, s = log_linear_attention(C, B, x * delta.unsqueeze(-1), log_decay, self._level_scales(u), scale=1.0,
                                    initial_state=s, output_final_state=True, offset=offset, mode=mode,
                                    chunk_size=self.config.chunk_size)
        y = (y + x * self.D[:, None]).reshape(bt, t, self.d_inner)
        return self.out_proj(self.norm(y, z)), (conv_state, self._pad_levels(s, levels), pos + t)

    def _matrix_parts(self, u):
        self._check_length(u.shape[1])
        z, x, B, C, delta, log_decay, _ = self._inputs(u, self.conv.init_state(u.shape[0], device=u.device,
                                                                                dtype=u.dtype))
        m = scalar_decay_matrix(C, B, log_decay, scale=1.0) * hierarchical_mask(self._level_scales(u))
        m = m * delta.transpose(1, 2)[:, :, None, :] + self.D[:, None, None] * torch.eye(
            u.shape[1], dtype=m.dtype, device=m.device)
        return MatrixParts(m, x, lambda o: self.out_proj(self.norm(o.flatten(2), z)))


@register("log_linear_gated_deltanet")
class LogLinearGatedDeltaNet(_Levels, GatedDeltaNet):
    """Log-linear Gated DeltaNet: every Fenwick level takes the gated delta transition, read out with lambda_t^(l)."""

    config_class = LogLinearGatedDeltaNetConfig
    paper = "Guo et al. 2025, Log-Linear Attention (log-linear Gated DeltaNet)"
    state_formula = ("num_levels * num_heads * K * V + (conv_size - 1) * num_heads * (2K + V) "
                     "(ceil(log2 T) + 1 levels in use after T tokens)")
    fast_path = ("chunkwise Fenwick levels over aligned chunks with the UT transform "
                 "(ops.log_linear.log_linear_gated_delta_rule, mode='chunk')")
    fast_mode = "chunk"
    matrix_form = ("the gated delta rule's transition products weighted by the level scale of each Fenwick bucket "
                   "(P_{t,s} lambda_t^(level(t, s)))")
    sequence_parallel = None

    def __init__(self, config: LogLinearGatedDeltaNetConfig):
        super().__init__(config)
        self._init_levels(config.d_model, self.num_heads, config.num_levels)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        s, *convs = super().init_state(batch_size, device=device, dtype=dtype)
        levels = s.new_zeros(batch_size, self.config.num_levels, *s.shape[1:])
        return (levels, *convs, torch.zeros(batch_size, dtype=torch.long, device=device))

    def _mix(self, x, state, mode):
        levels, *_, pos = state
        offset, s = self._levels(levels, pos, x.shape[1])
        q, k, v, beta, g, z, convs = self.project(x, state)
        o, s = log_linear_gated_delta_rule(q, k, v, g, beta, self._level_scales(x), initial_state=s,
                                           output_final_state=True, offset=offset, mode=mode,
                                           chunk_size=self.config.chunk_size)
        return self._readout(o.to(x.dtype), z), (self._pad_levels(s, levels), *convs, pos + x.shape[1])

    def _matrix_parts(self, x):
        self._check_length(x.shape[1])
        parts = super()._matrix_parts(x)
        return MatrixParts(parts.matrix * hierarchical_mask(self._level_scales(x)).to(parts.matrix.dtype),
                           parts.values, parts.readout)
