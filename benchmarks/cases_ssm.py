"""Benchmark cases for the state-space family: {op: {mode: fn}}, the reference mode first.

Shapes from issue 5: B=batch, d_inner 512, d_state 16. SSD and Aaren split d_inner into 8 heads of 64;
S4D runs 512 channels with 8 complex modes (d_state 16). Decays as Mamba's init gives them:
delta = softplus(N(-3, 1)), A = -(1..16).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from rnnzoo.ops.aaren import aaren
from rnnzoo.ops.s4d import s4d_conv, s4d_init
from rnnzoo.ops.scan import signed_diagonal_scan
from rnnzoo.ops.selective_scan import selective_scan
from rnnzoo.ops.ssd import ssd

D_INNER, D_STATE, HEADS = 512, 16, 8


def _gen():
    return torch.Generator().manual_seed(0)


def cases(batch: int, seqlen: int) -> dict[str, dict[str, Callable[[], torch.Tensor]]]:
    def sscan(mode):
        def fn():
            g = _gen()
            u = torch.randn(batch, D_INNER, seqlen, generator=g).requires_grad_()
            delta = (torch.randn(batch, D_INNER, seqlen, generator=g) - 3).requires_grad_()
            A = (-torch.arange(1, D_STATE + 1.0).repeat(D_INNER, 1)).requires_grad_()
            B, C = (torch.randn(batch, D_STATE, seqlen, generator=g).requires_grad_() for _ in range(2))
            D = torch.ones(D_INNER, requires_grad=True)
            return selective_scan(u, delta, A, B, C, D, delta_softplus=True, mode=mode)
        return fn

    def signed(mode):
        def fn():
            g = _gen()
            x = torch.randn(batch, seqlen, D_INNER, D_STATE, generator=g).requires_grad_()
            a = (2 * torch.rand(batch, seqlen, D_INNER, D_STATE, generator=g) - 1).requires_grad_()
            return signed_diagonal_scan(x, a, mode=mode)[0]
        return fn

    def ssd_(mode):
        def fn():
            g = _gen()
            P = D_INNER // HEADS
            x = torch.randn(batch, seqlen, HEADS, P, generator=g).requires_grad_()
            a = (-F.softplus(torch.randn(batch, seqlen, HEADS, generator=g) - 3)).requires_grad_()
            b, c = (torch.randn(batch, seqlen, HEADS, D_STATE, generator=g).requires_grad_() for _ in range(2))
            return ssd(x, a, b, c, mode=mode)[0]
        return fn

    def aaren_(mode):
        def fn():
            g = _gen()
            P = D_INNER // HEADS
            q = torch.randn(HEADS, P, generator=g).requires_grad_()
            k, v = (torch.randn(batch, seqlen, HEADS, P, generator=g).requires_grad_() for _ in range(2))
            return aaren(q, k, v, mode=mode)[0]
        return fn

    def s4d_(mode):
        def fn():
            g = _gen()
            params = [p.requires_grad_() for p in s4d_init(D_INNER, D_STATE // 2, generator=g)]
            u = torch.randn(batch, seqlen, D_INNER, generator=g).requires_grad_()
            return s4d_conv(u, *params, mode=mode)[0]
        return fn

    return {
        "selective_scan": {"recurrent": sscan("recurrent"), "chunk": sscan("chunk")},
        "signed_diagonal_scan": {"recurrent": signed("recurrent"), "chunk": signed("chunk")},
        "ssd": {"recurrent": ssd_("recurrent"), "chunk": ssd_("chunk")},
        "aaren": {"recurrent": aaren_("recurrent"), "chunk": aaren_("chunk")},
        "s4d_conv": {"recurrent": s4d_("recurrent"), "fft": s4d_("fft")},
    }
