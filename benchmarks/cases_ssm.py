"""Benchmark cases for the state-space family: {op: {mode: make}}, the reference mode first.
``make()`` draws the inputs (untimed) and returns ``run``, the timed call.

Shapes (those the speed targets in docs/speed.md are stated at): B=batch, d_inner 512, d_state 16.
SSD and Aaren split d_inner into 8 heads of 64;
S4D runs 512 channels with 8 complex modes (d_state 16). Decays as Mamba's init gives them:
delta = softplus(N(-3, 1)), A = -(1..16).

``selective_scan`` also has a ``pscan`` mode: what a CPU user of mamba.py (alxndrTL/mamba.py) runs, i.e.
the [B, L, D, N] tensors exp(delta A) and delta B u materialised, Blelloch's in-place up-sweep /
down-sweep scan over them (mamba.py's ``pscan``, padded to a power of two, reverse scan in backward), then
y = h C + D u. Written here from the algorithm, for timing only.

``kernel`` modes (the compiled CPU loops) are listed only where a C compiler could build them.

``ssd`` also has a ``minimal`` mode: what a CPU user of mamba_ssm runs, since its Triton kernels need a GPU,
i.e. the paper's ``ssd_minimal_discrete`` (Dao & Gu 2024, Listing 1: exp(segsum) decay masks, einsum
contractions, the chunk-level recurrence as one [N+1, N+1] decay matrix), differentiated by autograd.
Written here from the listing, with our ``segsum`` (the listing's stable masked-cumsum one), for timing only.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from rnnzoo.ops._chunk import segsum
from rnnzoo.ops.aaren import aaren
from rnnzoo.ops.kernels.native import load
from rnnzoo.ops.s4d import s4d_conv, s4d_init
from rnnzoo.ops.scan import signed_diagonal_scan
from rnnzoo.ops.selective_scan import selective_scan
from rnnzoo.ops.ssd import ssd

D_INNER, D_STATE, HEADS = 512, 16, 8


def _blelloch(a, x, reverse=False):
    """In place over dim 2 of [B, D, L, N], L a power of two: x_t <- h_t, h_t = a_t h_{t-1} + x_t
    (reverse: h_t = a_t h_{t+1} + x_t). Up-sweep then down-sweep, 2 log2(L) strided steps."""
    L = x.shape[2]

    def combine(dst, src):
        x[:, :, dst] += a[:, :, dst] * x[:, :, src]
        a[:, :, dst] *= a[:, :, src]

    s = 1
    while s < L:  # node p (segment of length 2s ending at p) absorbs the segment of length s before it
        combine(slice(0, L, 2 * s), slice(s, L, 2 * s)) if reverse else combine(slice(2 * s - 1, L, 2 * s),
                                                                                  slice(s - 1, L, 2 * s))
        s *= 2
    s = L // 4
    while s >= 1:  # complete prefix at p - s (p + s if reverse) finishes the segment of length s at p
        if reverse:
            combine(slice(s, L - 2 * s + 1, 2 * s), slice(2 * s, L - s + 1, 2 * s))
        else:
            combine(slice(3 * s - 1, L, 2 * s), slice(2 * s - 1, L - s, 2 * s))
        s //= 2


class _PScan(torch.autograd.Function):
    """h = scan(a, x) over dim 1 of [B, L, D, N] by _blelloch on [B, D, L', N] copies (L' a power of two)."""

    @staticmethod
    def forward(ctx, a, x):
        L = x.shape[1]
        pad = (1 << (L - 1).bit_length()) - L
        aa = F.pad(a, (0, 0, 0, 0, 0, pad)).transpose(1, 2).contiguous()
        h = F.pad(x, (0, 0, 0, 0, 0, pad)).transpose(1, 2).contiguous()
        _blelloch(aa, h)
        ctx.save_for_backward(a, h)
        return h.transpose(1, 2)[:, :L]

    @staticmethod
    def backward(ctx, dh):
        a, h = ctx.saved_tensors
        L = a.shape[1]
        pad = h.shape[2] - L
        a_next = F.pad(a[:, 1:], (0, 0, 0, 0, 0, pad + 1)).transpose(1, 2).contiguous()
        lam = F.pad(dh, (0, 0, 0, 0, 0, pad)).transpose(1, 2).contiguous()
        _blelloch(a_next, lam, reverse=True)
        da = torch.zeros_like(h)
        da[:, :, 1:] = h[:, :, :-1] * lam[:, :, 1:]
        return da.transpose(1, 2)[:, :L], lam.transpose(1, 2)[:, :L]


def _mambapy_selective_scan(u, delta, A, B, C, D):
    """mamba.py's selective_scan on our [B, D, L] inputs (delta already softplus'd)."""
    u, delta, B, C = u.transpose(1, 2), delta.transpose(1, 2), B.transpose(1, 2), C.transpose(1, 2)
    dA = torch.exp(delta.unsqueeze(-1) * A)  # [B, L, D, N]
    BX = (delta.unsqueeze(-1) * B.unsqueeze(2)) * u.unsqueeze(-1)
    h = _PScan.apply(dA, BX)
    y = (h @ C.unsqueeze(-1)).squeeze(3) + D * u
    return y.transpose(1, 2)


def _ssd_minimal(x, a, b, c, block_len=64):
    """Listing 1 of Dao & Gu (2024) on x [B, T, H, P], a [B, T, H], b, c [B, T, H, N] (T divisible by
    block_len). Returns y [B, T, H, P]."""
    bsz, t, h, p = x.shape
    block_len = min(block_len, t)
    if t % block_len:
        raise ValueError(f"ssd_minimal needs T divisible by block_len={block_len}, got T={t}")
    x, b, c = (z.reshape(bsz, t // block_len, block_len, h, z.shape[-1]) for z in (x, b, c))
    a = a.reshape(bsz, t // block_len, block_len, h).permute(0, 3, 1, 2)  # [B, H, chunks, l]
    a_cumsum = a.cumsum(-1)
    y_diag = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", c, b, segsum(a).exp(), x)
    decay_states = (a_cumsum[..., -1:] - a_cumsum).exp()
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", b, decay_states, x)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], 1)
    decay_chunk = segsum(F.pad(a_cumsum[..., -1], (1, 0))).exp()
    states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)[:, :-1]
    y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", c, states, a_cumsum.exp())
    return (y_diag + y_off).reshape(bsz, t, h, p)


def _gen():
    return torch.Generator().manual_seed(0)


def cases(batch: int, seqlen: int) -> dict[str, dict[str, Callable[[], Callable[[], torch.Tensor]]]]:
    def sscan(mode):
        def fn():
            g = _gen()
            u = torch.randn(batch, D_INNER, seqlen, generator=g).requires_grad_()
            delta = (torch.randn(batch, D_INNER, seqlen, generator=g) - 3).requires_grad_()
            A = (-torch.arange(1, D_STATE + 1.0).repeat(D_INNER, 1)).requires_grad_()
            B, C = (torch.randn(batch, D_STATE, seqlen, generator=g).requires_grad_() for _ in range(2))
            D = torch.ones(D_INNER, requires_grad=True)
            if mode == "pscan":
                return lambda: _mambapy_selective_scan(u, F.softplus(delta), A, B, C, D)
            return lambda: selective_scan(u, delta, A, B, C, D, delta_softplus=True, mode=mode)
        return fn

    def signed(mode):
        def fn():
            g = _gen()
            x = torch.randn(batch, seqlen, D_INNER, D_STATE, generator=g).requires_grad_()
            a = (2 * torch.rand(batch, seqlen, D_INNER, D_STATE, generator=g) - 1).requires_grad_()
            return lambda: signed_diagonal_scan(x, a, mode=mode)[0]
        return fn

    def ssd_(mode):
        def fn():
            g = _gen()
            P = D_INNER // HEADS
            x = torch.randn(batch, seqlen, HEADS, P, generator=g).requires_grad_()
            a = (-F.softplus(torch.randn(batch, seqlen, HEADS, generator=g) - 3)).requires_grad_()
            b, c = (torch.randn(batch, seqlen, HEADS, D_STATE, generator=g).requires_grad_() for _ in range(2))
            if mode == "minimal":
                return lambda: _ssd_minimal(x, a, b, c)
            return lambda: ssd(x, a, b, c, mode=mode)[0]
        return fn

    def aaren_(mode):
        def fn():
            g = _gen()
            P = D_INNER // HEADS
            q = torch.randn(HEADS, P, generator=g).requires_grad_()
            k, v = (torch.randn(batch, seqlen, HEADS, P, generator=g).requires_grad_() for _ in range(2))
            return lambda: aaren(q, k, v, mode=mode)[0]
        return fn

    def s4d_(mode):
        def fn():
            g = _gen()
            params = [p.requires_grad_() for p in s4d_init(D_INNER, D_STATE // 2, generator=g)]
            u = torch.randn(batch, seqlen, D_INNER, generator=g).requires_grad_()
            return lambda: s4d_conv(u, *params, mode=mode)[0]
        return fn

    sscan_modes = ("recurrent", "chunk", "kernel") if load("selective_scan") else ("recurrent", "chunk")
    ssd_modes = ("recurrent", "chunk", "kernel") if load("linear_attention") else ("recurrent", "chunk")
    return {
        "selective_scan": {**{m: sscan(m) for m in sscan_modes}, "pscan": sscan("pscan")},
        "signed_diagonal_scan": {"recurrent": signed("recurrent"), "chunk": signed("chunk")},
        "ssd": {**{m: ssd_(m) for m in ssd_modes}, "minimal": ssd_("minimal")},
        "aaren": {"recurrent": aaren_("recurrent"), "chunk": aaren_("chunk")},
        "s4d_conv": {"recurrent": s4d_("recurrent"), "fft": s4d_("fft")},
    }
