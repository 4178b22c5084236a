"""Benchmark cases for the test-time-memory op: {op: {mode: make}}, the reference mode first.
``make()`` draws the inputs (untimed) and returns ``run``, the timed call.

H=4, K=V=64, chunk_size=16, unit keys, Titans-like gates (theta <= 0.1, forget logsigmoid(N(0,1) - 4),
momentum logsigmoid(N(0,1))). ``memory_linear``: matrix memory with momentum; ``memory_mlp``: the 2-layer
residual memory (expansion 2) with momentum, as the ``titans`` mixer uses it. The reference
(``recurrent``) takes its gradients by autograd token by token.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from rnnzoo.ops.memory import MemoryRule, init_memory_state, memory_update

HEADS, DIM, CHUNK = 4, 64, 16


def _inputs(batch, seqlen, rule):
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(batch, seqlen, HEADS, DIM, generator=g), dim=-1)
    k = F.normalize(torch.randn(batch, seqlen, HEADS, DIM, generator=g), dim=-1)
    v = torch.randn(batch, seqlen, HEADS, DIM, generator=g)
    lr = 0.1 * torch.rand(batch, seqlen, HEADS, generator=g)
    log_decay = F.logsigmoid(torch.randn(batch, seqlen, HEADS, generator=g) - 4)
    log_mom = F.logsigmoid(torch.randn(batch, seqlen, HEADS, generator=g))
    shapes = [(HEADS, DIM, DIM)] if rule.memory == "linear" else [(HEADS, DIM, 2 * DIM), (HEADS, 2 * DIM, DIM)]
    params = tuple((torch.randn(*s, generator=g) * s[1] ** -0.5).expand(batch, *s) for s in shapes)
    leaves = tuple(x.requires_grad_() for x in (q, k, v, lr, log_decay, log_mom))
    return leaves, init_memory_state(params, rule, momentum=True)


def cases(batch: int, seqlen: int) -> dict[str, dict[str, Callable[[], Callable[[], torch.Tensor]]]]:
    def make(rule, mode):
        def fn():
            (q, k, v, lr, ld, lm), st = _inputs(batch, seqlen, rule)
            return lambda: memory_update(q, k, v, lr, ld, lm, rule=rule, initial_state=st, chunk_size=CHUNK, mode=mode)[0]
        return fn

    rules = {"memory_linear": MemoryRule(), "memory_mlp": MemoryRule(memory="mlp")}
    return {name: {"recurrent": make(rule, "recurrent"), "chunk": make(rule, "chunk")} for name, rule in rules.items()}
