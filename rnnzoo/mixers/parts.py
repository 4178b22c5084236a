"""Small functions shared by several mixer families (the delta rule, MoM, the test-time memories).

- ``l2norm``: q, k normalised per head (DeltaNet, Gated DeltaNet, MoM, Titans/ATLAS/Miras).
- ``mamba2_decay_params`` / ``mamba2_decay``: Mamba-2's per-head decay log a_t = -exp(A_log) softplus(. + dt_bias)
  with its init, used by Gated DeltaNet, DeltaProduct and MoM.
- ``resolve_head_dims``: the head layout rules of the delta-family configs (num_heads, head_dim, expand_v).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from rnnzoo.mixers.ssm_init import dt_bias_init, no_weight_decay
from rnnzoo.ops.kernels import l2_norm as l2_norm_kernel
from rnnzoo.ops.kernels import native


def resolve_head_dims(config) -> None:
    """Check num_heads / head_dim / expand_v of a delta-family config and fill head_dim (K) if None.

    Shared by DeltaNetConfig and MoMConfig, whose head layouts follow the same rules."""
    if config.num_heads < 1:
        raise ValueError(f"num_heads must be >= 1, got {config.num_heads}")
    if config.head_dim is None:
        if config.d_model % config.num_heads:
            raise ValueError(f"d_model={config.d_model} must be divisible by num_heads={config.num_heads} "
                             "(or set head_dim)")
        config.head_dim = config.d_model // config.num_heads
    v = config.head_dim * config.expand_v
    if config.head_dim < 1 or v < 1 or v != int(v):
        raise ValueError(f"head_dim={config.head_dim} * expand_v={config.expand_v} must be a positive integer")


class _L2Norm(torch.autograd.Function):
    """``l2norm`` by the compiled kernel (``rnnzoo.ops.kernels.l2_norm``): one pass over a row each way, the heads
    of a fused projection's piece read in place."""

    @staticmethod
    def forward(ctx, x, eps):
        y, r = l2_norm_kernel.forward(x, eps)
        ctx.save_for_backward(y, r)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        y, r = ctx.saved_tensors
        return l2_norm_kernel.backward(g, y, r), None


def l2norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x / sqrt(sum(x^2) + eps) over the last dim. x: [..., D] -> [..., D]. On CPU float32/float64 the compiled
    kernel (one pass over a row each way); elsewhere, and as its reference, the PyTorch form."""
    if native.available("l2_norm", x):
        return _L2Norm.apply(x, eps)
    return x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + eps)


def mamba2_decay_params(num_heads: int, dt_min=1e-3, dt_max=0.1, dt_floor=1e-4) -> tuple[nn.Parameter, nn.Parameter]:
    """(A_log, dt_bias) with Mamba-2's init: A ~ U(0, 16), dt log-uniform in [dt_min, dt_max]."""
    a_log = nn.Parameter(torch.empty(num_heads, dtype=torch.float32).uniform_(0, 16).log())
    dt_bias = nn.Parameter(dt_bias_init(num_heads, dt_min, dt_max, dt_floor))
    no_weight_decay(a_log, dt_bias)
    return a_log, dt_bias


def mamba2_decay(a: torch.Tensor, a_log: torch.Tensor, dt_bias: torch.Tensor) -> torch.Tensor:
    """log a_t = -exp(A_log) * softplus(a + dt_bias) <= 0, computed in float32 at least."""
    dtype = torch.promote_types(a.dtype, torch.float32)
    return -a_log.to(dtype).exp() * F.softplus(a.to(dtype) + dt_bias.to(dtype))
