"""Benchmark cases for the DPLR delta rule (RWKV-7's core): {op: {mode: make}}, the reference mode first.
``make()`` draws the inputs (untimed) and returns ``run``, the timed call.

Shapes (those the speed targets in docs/speed.md are stated at): B=batch, H=4, K=V=64, RWKV-7's inputs: the removal
key κ unit-norm with a = -κ, b = κ ⊙ iclr (iclr in (0, 1)), log decays -e^{-1/2} sigmoid(N(0, 1)) in (-0.607, 0).
Every mode runs with ``chunk_size=32``, the rwkv7 mixer's (32 such tokens stay within the chunk form's one-matmul
span); only the chunk form reads it.

``kernel`` modes (the compiled CPU loop) are listed only where a C compiler could build it.

``flops(batch, seqlen)`` counts the floating-point operations of the compiled kernel's forward and backward (the
roofline in docs/speed.md) per (token, head) with the state K x V: forward 10 KV (the update e S + b uᵀ + k vᵀ, the
output Sᵀq, the next token's read Sᵀa), backward 27 KV (the recomputation 8 KV; the adjoint's output share, dq,
dk, db, dv, du 12 KV; da, dgk and its decay and rank-1 update 7 KV).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from rnnzoo.ops.dplr import dplr_delta_rule
from rnnzoo.ops.kernels.native import load

HEADS, DIM, CHUNK = 4, 64, 32


def _inputs(batch, seqlen):
    g = torch.Generator().manual_seed(0)
    q, k = (torch.randn(batch, seqlen, HEADS, DIM, generator=g) for _ in range(2))
    v = torch.randn(batch, seqlen, HEADS, DIM, generator=g)
    kappa = F.normalize(torch.randn(batch, seqlen, HEADS, DIM, generator=g), dim=-1)
    iclr = torch.rand(batch, seqlen, HEADS, DIM, generator=g)
    gk = -math.exp(-0.5) * torch.sigmoid(torch.randn(batch, seqlen, HEADS, DIM, generator=g))
    return tuple(x.requires_grad_() for x in (q, k, v, -kappa, kappa * iclr, gk))


def cases(batch: int, seqlen: int) -> dict[str, dict[str, Callable[[], Callable[[], torch.Tensor]]]]:
    def make(mode):
        def fn():
            q, k, v, a, b, gk = _inputs(batch, seqlen)
            return lambda: dplr_delta_rule(q, k, v, a, b, gk, mode=mode, chunk_size=CHUNK)[0]
        return fn

    modes = ("recurrent", "chunk", "kernel") if load("dplr") else ("recurrent", "chunk")
    return {"dplr_delta_rule": {m: make(m) for m in modes}}


def flops(batch: int, seqlen: int) -> dict[str, float]:
    """Floating-point operations of the compiled kernel's forward + backward (see the module docstring)."""
    return {"dplr_delta_rule": batch * seqlen * HEADS * DIM * DIM * 37}
