"""Benchmark cases for the delta-rule family: {op: {mode: make}}, the reference mode first.
``make()`` draws the inputs (untimed) and returns ``run``, the timed call.

Shapes (those the speed targets in docs/speed.md are stated at): B=batch, H=4, K=V=64. Keys are unit
vectors and beta in (0, 1) as DeltaNet's mixer makes them; decays are Gated DeltaNet-like
logsigmoid(N(0, 1) + 3); DeltaProduct uses 2 Householder steps.

``kernel`` modes (the compiled CPU loop) are listed only where a C compiler could build it.

Every op also has a ``fla_naive`` mode: what a CPU user of flash-linear-attention runs, since its Triton kernels
need a GPU, i.e. fla's ``chunk_gated_delta_rule_ref`` (``fla/ops/gated_delta_rule/naive.py``: head-first
layout, the in-chunk inverse (I + A)^{-1} built row by row in a Python loop over the chunk, a loop over chunks for
the state), differentiated by autograd; delta_rule runs it with g = 0 and delta_product on the T*n rows with the
decay on each token's first row and q on its last (as fla's DeltaProduct layer does). Written here from fla's
code, for timing only.

``flops(batch, seqlen)`` counts the floating-point operations of the compiled kernel's forward and backward
(the roofline in docs/speed.md), per (token, head) with the state K x V and n rows per token:
forward n 5KV + 2KV (S^T a, the rank-1 update with decay, the output), backward n 15KV + 7KV (recomputation,
du, dk, da, the adjoint's update and decay, dq and the output's share).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from rnnzoo.ops.delta import delta_product, delta_rule, gated_delta_rule
from rnnzoo.ops.kernels.native import load

HEADS, DIM, HOUSEHOLDER = 4, 64, 2


def _inputs(batch, seqlen, rows=1):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(batch, seqlen, HEADS, DIM, generator=g)
    k = F.normalize(torch.randn(batch, seqlen * rows, HEADS, DIM, generator=g), dim=-1)
    v = torch.randn(batch, seqlen * rows, HEADS, DIM, generator=g)
    beta = torch.rand(batch, seqlen * rows, HEADS, generator=g)
    decay = F.logsigmoid(torch.randn(batch, seqlen, HEADS, generator=g) + 3)
    return tuple(x.requires_grad_() for x in (q, k, v, beta, decay))


def _fla_naive(q, k, v, g, beta, scale, chunk_size=64):
    """fla's chunk_gated_delta_rule_ref: q, k [B, T, H, K]; v [B, T, H, V]; g, beta [B, T, H] -> o [B, T, H, V]."""
    q, k, v, beta, g = (x.transpose(1, 2).contiguous().float() for x in (q, k, v, beta, g))
    bt, t = chunk_size, q.shape[2]
    pad = (bt - t % bt) % bt
    if pad:
        q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
        beta, g = F.pad(beta, (0, pad)), F.pad(g, (0, pad))
    q = q * scale
    v = v * beta[..., None]
    k_beta = k * beta[..., None]
    b, h, length, dk = q.shape
    q, k, v, k_beta = (x.reshape(b, h, -1, bt, x.shape[-1]) for x in (q, k, v, k_beta))
    decay = g.reshape(b, h, -1, bt).cumsum(-1)
    l_mask = (decay[..., :, None] - decay[..., None, :]).tril().exp().float().tril()
    mask = torch.triu(torch.ones(bt, bt, dtype=torch.bool, device=q.device), diagonal=0)
    attn = -((k_beta @ k.transpose(-1, -2)) * l_mask).masked_fill(mask, 0)
    for i in range(1, bt):
        attn[..., i, :i] = attn[..., i, :i].clone() + (attn[..., i, :i, None].clone() * attn[..., :i, :i].clone()).sum(-2)
    attn = attn + torch.eye(bt, dtype=attn.dtype, device=q.device)
    value = attn @ v
    k_cumdecay = attn @ (k_beta * decay.exp()[..., None])
    s = q.new_zeros(b, h, dk, v.shape[-1])
    o = torch.zeros_like(value)
    mask = torch.triu(torch.ones(bt, bt, dtype=torch.bool, device=q.device), diagonal=1)
    for i in range(length // bt):
        q_i, k_i, v_i = q[:, :, i], k[:, :, i], value[:, :, i]
        attn = (q_i @ k_i.transpose(-1, -2) * l_mask[:, :, i]).masked_fill_(mask, 0)
        v_new = v_i - k_cumdecay[:, :, i] @ s
        o[:, :, i] = (q_i * decay[:, :, i, :, None].exp()) @ s + attn @ v_new
        s = s * decay[:, :, i, -1, None, None].exp() + (
            k_i * (decay[:, :, i, -1, None] - decay[:, :, i]).exp()[..., None]).transpose(-1, -2) @ v_new
    return o.reshape(b, h, -1, o.shape[-1])[:, :, :t].transpose(1, 2)


def _fla_naive_product(q, k, v, g, beta, n):
    """fla's DeltaProduct layout on the reference above: T*n rows, q on each token's last row, g on its first."""
    b, t, h, dk = q.shape
    q_rows = torch.cat((q.new_zeros(b, t, n - 1, h, dk), q[:, :, None]), 2).reshape(b, t * n, h, dk)
    g_rows = torch.cat((g[:, :, None], g.new_zeros(b, t, n - 1, h)), 2).reshape(b, t * n, h)
    return _fla_naive(q_rows, k, v, g_rows, beta, dk ** -0.5)[:, n - 1::n]


def cases(batch: int, seqlen: int) -> dict[str, dict[str, Callable[[], Callable[[], torch.Tensor]]]]:
    def dr(mode):
        def fn():
            q, k, v, beta, g = _inputs(batch, seqlen)
            if mode == "fla_naive":
                zero = torch.zeros_like(g)
                return lambda: _fla_naive(q, k, v, zero, beta, DIM ** -0.5)
            return lambda: delta_rule(q, k, v, beta, mode=mode)[0]
        return fn

    def gdr(mode):
        def fn():
            q, k, v, beta, g = _inputs(batch, seqlen)
            if mode == "fla_naive":
                return lambda: _fla_naive(q, k, v, g, beta, DIM ** -0.5)
            return lambda: gated_delta_rule(q, k, v, g, beta, mode=mode)[0]
        return fn

    def dp(mode):
        def fn():
            q, k, v, beta, g = _inputs(batch, seqlen, HOUSEHOLDER)
            if mode == "fla_naive":
                return lambda: _fla_naive_product(q, k, v, g, beta, HOUSEHOLDER)
            return lambda: delta_product(q, k, v, g, beta, num_householder=HOUSEHOLDER, mode=mode)[0]
        return fn

    modes = ("recurrent", "chunk", "kernel", "fla_naive") if load("delta_rule") else ("recurrent", "chunk", "fla_naive")
    return {name: {m: make(m) for m in modes}
            for name, make in (("delta_rule", dr), ("gated_delta_rule", gdr), ("delta_product", dp))}


def flops(batch: int, seqlen: int) -> dict[str, float]:
    """Floating-point operations of the compiled kernel's forward + backward per op (see the module docstring)."""
    per_row = batch * seqlen * HEADS * DIM * DIM
    return {"delta_rule": per_row * 29, "gated_delta_rule": per_row * 29, "delta_product": per_row * (20 * HOUSEHOLDER + 9)}
