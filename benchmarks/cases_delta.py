"""Benchmark cases for the delta-rule family: {op: {mode: make}}, the reference mode first.
``make()`` draws the inputs (untimed) and returns ``run``, the timed call.

Shapes (those the speed targets in docs/speed.md are stated at): B=batch, H=4, K=V=64. Keys are unit
vectors and beta in (0, 1) as DeltaNet's mixer makes them; decays are Gated DeltaNet-like
logsigmoid(N(0, 1) + 3); DeltaProduct uses 2 Householder steps.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from rnnzoo.ops.delta import delta_product, delta_rule, gated_delta_rule

HEADS, DIM, HOUSEHOLDER = 4, 64, 2


def _inputs(batch, seqlen, rows=1):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(batch, seqlen, HEADS, DIM, generator=g)
    k = F.normalize(torch.randn(batch, seqlen * rows, HEADS, DIM, generator=g), dim=-1)
    v = torch.randn(batch, seqlen * rows, HEADS, DIM, generator=g)
    beta = torch.rand(batch, seqlen * rows, HEADS, generator=g)
    decay = F.logsigmoid(torch.randn(batch, seqlen, HEADS, generator=g) + 3)
    return tuple(x.requires_grad_() for x in (q, k, v, beta, decay))


def cases(batch: int, seqlen: int) -> dict[str, dict[str, Callable[[], Callable[[], torch.Tensor]]]]:
    def dr(mode):
        def fn():
            q, k, v, beta, _ = _inputs(batch, seqlen)
            return lambda: delta_rule(q, k, v, beta, mode=mode)[0]
        return fn

    def gdr(mode):
        def fn():
            q, k, v, beta, g = _inputs(batch, seqlen)
            return lambda: gated_delta_rule(q, k, v, g, beta, mode=mode)[0]
        return fn

    def dp(mode):
        def fn():
            q, k, v, beta, g = _inputs(batch, seqlen, HOUSEHOLDER)
            return lambda: delta_product(q, k, v, g, beta, num_householder=HOUSEHOLDER, mode=mode)[0]
        return fn

    return {
        name: {"recurrent": make("recurrent"), "chunk": make("chunk")}
        for name, make in (("delta_rule", dr), ("gated_delta_rule", gdr), ("delta_product", dp))
    }
