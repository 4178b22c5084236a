"""The chunkwise form of scalar-decay linear attention with a hand-written backward pass (the fast path of
``simple_gla``, ``ssd``, ``linear_attention``).

Per chunk of C tokens, with in-chunk cumulative log decays b (b_i <= 0, decreasing) and the state H
entering the chunk (Yang et al. 2024, GLA, sec. 3.3; Dao & Gu 2024, sec. 6):

    o = ((q e^{b-m}) (k e^{m-b})^T  tril) v + (q e^b) H           m = (b_1 + b_C) / 2
    H' = e^{b_C} H + (k e^{b_C-b})^T v

The decay between tokens i >= j, e^{b_i - b_j}, is one scalar per pair, so it factors into the two
operands around the chunk's mid log decay m: every product keeps its exact value up to two roundings, and
no C x C decay mask is built (``segsum`` in the autograd form builds and differentiates five of them).
The factors stay within e^{+-span/2}; chunks whose log decay spans more than ``DIRECT_MAX_SPAN`` nats use
the autograd form instead (the caller checks ``direct_ok``).

The decay g itself gets no gradient here: callers run this on ``detach_decay``'d q, k and take dg from the
identity there.
"""

from __future__ import annotations

import torch

from rnnzoo.ops._chunk import from_chunks, to_chunks

DIRECT_MAX_SPAN = 60.0  # nats: factors up to e^30 each side, far from float32 overflow (e^88)


def direct_ok(g: torch.Tensor, chunk_size: int) -> bool:
    """Whether every chunk's total log decay is within DIRECT_MAX_SPAN (g: [B, T, H], <= 0)."""
    span = -to_chunks(g, chunk_size).sum(-1)  # [B, H, N]
    return bool(span.max() <= DIRECT_MAX_SPAN) if span.numel() else True


def scalar_decay_chunk(q, k, v, g, s0, chunk_size):
    """q, k: [B, T, H, K] (q already scaled); v: [B, T, H, V]; g: [B, T, H] log decay (no gradient);
    s0: [B, H, K, V]. Returns (o [B, T, H, V], S_T [B, H, K, V])."""
    t = q.shape[1]
    o, s = _ScalarDecayChunk.apply(q, k, v, g.detach(), s0, min(chunk_size, t))
    return from_chunks(o, t), s


def _factors(g, c):
    """Chunked log decays -> (e^{b-m}, e^{m-b}, e^b, e^{b_C-b}, e^{b_C}) as [B, H, N, C, 1] (the last one
    [B, H, N, 1, 1])."""
    b = to_chunks(g, c).cumsum(-1)  # [B, H, N, C]
    last = b[..., -1:]
    mid = 0.5 * (b[..., :1] + last)
    col = (lambda x: x.exp().unsqueeze(-1))  # noqa: E731
    return col(b - mid), col(mid - b), col(b), col(last - b), col(last)


def _states(kd, v, decay, s0):
    """States entering each chunk [B, H, N, K, V] and the final one, by the chunk-level recurrence
    S_{n+1} = e^{b_C} S_n + kd_n^T v_n (a loop over the T/C chunks)."""
    writes = kd.transpose(-1, -2) @ v
    states = torch.empty_like(writes)
    s = s0
    for n in range(writes.shape[2]):
        states[:, :, n] = s
        s = torch.addcmul(writes[:, :, n], decay[:, :, n], s)
    return states, s


class _ScalarDecayChunk(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, g, s0, c):
        qc, kc, vc = (to_chunks(x, c) for x in (q, k, v))  # [B, H, N, C, D]
        eq, ek, eb, eld, elast = _factors(g, c)
        qm, km = qc * eq, kc * ek
        o = (qm @ km.transpose(-1, -2)).tril_() @ vc
        qe = qc * eb
        states, s = _states(kc * eld, vc, elast, s0)
        o += qe @ states
        ctx.save_for_backward(qc, kc, vc, g, states)
        ctx.c = c
        return o, s

    @staticmethod
    def backward(ctx, do, ds):
        qc, kc, vc, g, states = ctx.saved_tensors
        c = ctx.c
        eq, ek, eb, eld, elast = _factors(g, c)
        qm, km, qe, kd = qc * eq, kc * ek, qc * eb, kc * eld
        do = do.contiguous()
        # dL/dS_{n+1} for every chunk n: the reverse chunk recurrence dS_n = qe_n^T do_n + e^{b_C} dS_{n+1}
        reads = qe.transpose(-1, -2) @ do  # [B, H, N, K, V]
        dnext = torch.empty_like(reads)
        d = ds
        for n in range(reads.shape[2] - 1, -1, -1):
            dnext[:, :, n] = d
            d = torch.addcmul(reads[:, :, n], elast[:, :, n], d)
        ds0 = d
        scores = (qm @ km.transpose(-1, -2)).tril_()  # [B, H, N, C, C]
        dv = scores.transpose(-1, -2) @ do
        dv.add_(kd @ dnext)
        dscores = (do @ vc.transpose(-1, -2)).tril_()
        dq = (dscores @ km).mul_(eq).add_((do @ states.transpose(-1, -2)).mul_(eb))
        dk = (dscores.transpose(-1, -2) @ qm).mul_(ek).add_((vc @ dnext.transpose(-1, -2)).mul_(eld))
        t = g.shape[1]
        return from_chunks(dq, t), from_chunks(dk, t), from_chunks(dv, t), None, ds0, None
