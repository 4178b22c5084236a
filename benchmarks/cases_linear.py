"""Benchmark cases for the linear-attention family: {op: {mode: make}}, the reference mode first.
``make()`` draws the inputs (untimed) and returns ``run``, the timed call.

Shapes (those the speed targets in docs/speed.md are stated at): B=batch, H=4, K=V=64; decays drawn as
logsigmoid of N(3, 1) (moderate memory).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from rnnzoo.ops.gla import gla
from rnnzoo.ops.kernels.native import load
from rnnzoo.ops.linear_attention import linear_attention
from rnnzoo.ops.mlstm import mlstm
from rnnzoo.ops.simple_gla import simple_gla

HEADS, DIM = 4, 64


def _inputs(batch, seqlen, gate_shape):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, seqlen, HEADS, DIM, generator=g).requires_grad_() for _ in range(3))
    gate = F.logsigmoid(torch.randn(*gate_shape, generator=g) + 3).requires_grad_()
    return q, k, v, gate


def cases(batch: int, seqlen: int) -> dict[str, dict[str, Callable[[], Callable[[], torch.Tensor]]]]:
    def la(mode):
        def fn():
            q, k, v, _ = _inputs(batch, seqlen, (1,))
            return lambda: linear_attention(q, k, v, mode=mode)[0]
        return fn

    def sgla(mode):
        def fn():
            q, k, v, g = _inputs(batch, seqlen, (batch, seqlen, HEADS))
            return lambda: simple_gla(q, k, v, g, mode=mode)[0]
        return fn

    def gla_(mode):
        def fn():
            q, k, v, gk = _inputs(batch, seqlen, (batch, seqlen, HEADS, DIM))
            return lambda: gla(q, k, v, gk, mode=mode)[0]
        return fn

    def mlstm_(mode):
        def fn():
            q, k, v, f = _inputs(batch, seqlen, (batch, seqlen, HEADS))
            i = torch.randn(batch, seqlen, HEADS, generator=torch.Generator().manual_seed(1)).requires_grad_()
            return lambda: mlstm(q, k, v, i, f, mode=mode)[0]
        return fn

    modes = ("recurrent", "chunk", "kernel") if load("linear_attention") else ("recurrent", "chunk")  # kernel: compiled
    return {
        "linear_attention": {m: la(m) for m in modes},
        "simple_gla": {m: sgla(m) for m in modes},
        "gla": {m: gla_(m) for m in modes},
        "mlstm": {m: mlstm_(m) for m in (("recurrent", "chunk", "kernel") if load("mlstm") else ("recurrent", "chunk"))},
    }


def flops(batch: int, seqlen: int) -> dict[str, float]:
    """Floating-point operations of mlstm's compiled kernel, forward + backward, per (token, head) with the state
    K x V: forward 5KV (the decayed rank-1 update, the output), backward 14KV (recomputation, the adjoint's
    update and decay, dq, dv, Lambda v, dfw) (the roofline in docs/speed.md)."""
    return {"mlstm": batch * seqlen * HEADS * DIM * DIM * 19}
