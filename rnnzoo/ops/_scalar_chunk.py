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
from torch.autograd.function import once_differentiable

from rnnzoo.ops._chunk import from_chunks, pass_states, to_chunks

DIRECT_MAX_SPAN = 60.0  # nats: factors up to e^30 each side, far from float32 overflow (e^88)


def direct_ok(g: torch.Tensor, chunk_size: int) -> bool:
    """Whether every chunk's total log decay is within DIRECT_MAX_SPAN (g: [B, T, H], <= 0)."""
    span = -to_chunks(g, chunk_size).sum(-1)  # [B, H, N]
    return bool(span.max() <= DIRECT_MAX_SPAN) if span.numel() else True


def scalar_decay_chunk(q, k, v, g, s0, chunk_size):
    """q, k: [B, T, H, K] (q already scaled); v: [B, T, H, V]; g: [B, T, H] log decay (no gradient);
    s0: [B, H, K, V]. Returns (o [B, T, H, V], S_T [B, H, K, V])."""
    b, t, h = g.shape
    o, s = _ScalarDecayChunk.apply(q, k, v, g.detach(), s0, min(chunk_size, t))
    return from_chunks(o.unflatten(0, (b, h)), t), s.unflatten(0, (b, h))


# rows (batch x head) per group of the in-chunk work: about this many elements of [rows, N, C, C] scores,
# so that a group's intermediates stay in cache (whole-tensor products run 1.3-1.5x slower here)
_GROUP_ELEMS = 2 ** 20


def _rows(x, c):
    """[B, T, H, D] -> [B*H, N, C, D] chunks (B*H "rows")."""
    return to_chunks(x, c).flatten(0, 1)


def _groups(rows, chunks, c):
    step = max(1, _GROUP_ELEMS // (chunks * c * c))
    return [slice(r, min(r + step, rows)) for r in range(0, rows, step)]


def _factors(g, c):
    """Log decays [B, T, H] -> (e^{b-m}, e^{m-b}, e^b, e^{b_C-b}) as [B*H, N, C, 1], e^{b_C} [B*H, N, 1, 1]
    and the chunk's log decay b_C [B*H, N, 1]."""
    b = to_chunks(g, c).flatten(0, 1).cumsum(-1)  # [R, N, C]
    last = b[..., -1:]
    mid = 0.5 * (b[..., :1] + last)
    col = (lambda x: x.exp().unsqueeze(-1))  # noqa: E731
    return col(b - mid), col(mid - b), col(b), col(last - b), col(last), last


def _bmm(x):
    return x.flatten(0, 1)


class _ScalarDecayChunk(torch.autograd.Function):
    """Works on rows = batch x head; the in-chunk products run one group of rows at a time."""

    @staticmethod
    def forward(ctx, q, k, v, g, s0, c):
        qc, kc, vc = (_rows(x, c) for x in (q, k, v))  # [R, N, C, D]
        eq, ek, eb, eld, _, last = _factors(g, c)
        # the chunk-level recurrence S_{n+1} = e^{b_C} S_n + kd_n^T v_n, on rows as a batch of one
        states, s = pass_states((kc * eld)[None], vc[None], last[None], s0.flatten(0, 1)[None])
        states, s = states[0], s[0]  # [R, N, K, V], [R, K, V]
        o = vc.new_empty(vc.shape)
        for r in _groups(*qc.shape[:2], c):
            scores = ((qc[r] * eq[r]) @ (kc[r] * ek[r]).transpose(-1, -2)).tril_()
            torch.matmul(scores, vc[r], out=o[r])
            _bmm(o[r]).baddbmm_(_bmm(qc[r] * eb[r]), _bmm(states[r]))
        ctx.save_for_backward(qc, kc, vc, g, states)
        ctx.c = c
        return o, s

    @staticmethod
    @once_differentiable  # the hand-written backward is not itself differentiated
    def backward(ctx, do, ds):
        qc, kc, vc, g, states = ctx.saved_tensors
        c = ctx.c
        eq, ek, eb, eld, elast, _ = _factors(g, c)
        do = do.contiguous()
        # dL/dS_{n+1} for every chunk n: the reverse chunk recurrence dS_n = qe_n^T do_n + e^{b_C} dS_{n+1}
        reads = (qc * eb).transpose(-1, -2) @ do  # [R, N, K, V]
        dnext = torch.empty_like(reads)
        d = ds  # [R, K, V]
        for n in range(reads.shape[1] - 1, -1, -1):
            dnext[:, n] = d
            d = torch.addcmul(reads[:, n], elast[:, n], d)
        dq, dk, dv = torch.empty_like(qc), torch.empty_like(kc), torch.empty_like(vc)
        for r in _groups(*qc.shape[:2], c):
            qm, km, do_r, v_r = qc[r] * eq[r], kc[r] * ek[r], do[r], vc[r]
            scores = (qm @ km.transpose(-1, -2)).tril_()  # [g, N, C, C]
            torch.matmul(scores.transpose(-1, -2), do_r, out=dv[r])
            _bmm(dv[r]).baddbmm_(_bmm(kc[r] * eld[r]), _bmm(dnext[r]))
            dscores = (do_r @ v_r.transpose(-1, -2)).tril_()
            torch.matmul(dscores, km, out=dq[r]).mul_(eq[r]).addcmul_(do_r @ states[r].transpose(-1, -2), eb[r])
            torch.matmul(dscores.transpose(-1, -2), qm, out=dk[r]).mul_(ek[r])
            dk[r].addcmul_(v_r @ dnext[r].transpose(-1, -2), eld[r])
        b, t, h = g.shape
        back = (lambda x: from_chunks(x.unflatten(0, (b, h)), t))  # noqa: E731
        return back(dq), back(dk), back(dv), None, d.unflatten(0, (b, h)), None
