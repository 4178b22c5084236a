"""Mamba's selective scan (S6; Gu & Dao 2023, Mamba, Algorithm 2 and eqs. 2a-2b with ZOH-discretised A and
the simplified Euler B), with the argument names, layouts and semantics of ``mamba_ssm``'s
``selective_scan_ref``, so code written against mamba_ssm runs unchanged:

    delta <- softplus(delta + delta_bias)                        (each optional)
    h_t = exp(delta_t A) * h_{t-1} + delta_t B_t u_t             h: [B, D, N] per token
    y_t = C_t . h_t + D u_t,   out = y * silu(z)                 (D, z optional)

Shapes: ``u, delta, z: [B, D, L]``; ``A: [D, N]`` (real); ``B, C: [D, N]`` (time-invariant), ``[B, N, L]``
(shared by all channels) or ``[B, G, N, L]`` (grouped: channel d uses group d // (D/G)); ``D, delta_bias: [D]``.
Returns ``out [B, D, L]`` or, with ``return_last_state=True``, ``(out, last_state [B, D, N])`` exactly like
mamba_ssm. One extension: ``initial_state: [B, D, N]`` (mamba_ssm always starts from zero), which a mixer
needs to continue a sequence across calls.

``signed_selective_scan`` is the same op with the transition ``2 exp(delta A) - 1`` in (-1, 1] (Grazzi et al.
2025, negative eigenvalues), for Mamba's ``allow_neg_eigval``.

Modes: ``"recurrent"`` is mamba_ssm's reference loop over L; ``"chunk"`` (default) is one fused autograd
function (``_SelectiveScanFn``) blocked over time so that every ``[B, block, N, D]`` tensor stays in cache:
per block the transitions and inputs are built in one pass each, the state advances by one fused
multiply-add per token on the whole ``[B, N, D]`` state, and y is contracted per block; the backward pass
recomputes each block from its stored start state. Mamba-1's decay differs per (channel, state), so there is
no matmul (SSD) form; a log-depth scan (mamba.py's Blelloch pscan, timed in benchmarks/cases_ssm.py)
does 2 log2(L) strided passes over the whole [B, L, D, N] tensors and is slower on CPU than the
cache-blocked sequential update. Only products of transitions appear (no exp(-cumsum)), so any decay,
underflow and the signed transition are exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


MODES = ("recurrent", "chunk")


def _check(u, delta, A, B, C, D, z, delta_bias, initial_state, mode):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if u.dim() != 3 or delta.shape != u.shape:
        raise ValueError(f"u and delta must be [B, D, L] with equal shapes, got u {tuple(u.shape)}, "
                         f"delta {tuple(delta.shape)}")
    batch, dim, length = u.shape
    if A.is_complex() or A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be real [D, N] with D={dim}, got {tuple(A.shape)} {A.dtype}")
    n = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        ok = (t.shape == (dim, n) or t.shape == (batch, n, length)
              or (t.dim() == 4 and t.shape[0] == batch and t.shape[2:] == (n, length) and dim % t.shape[1] == 0))
        if not ok:
            raise ValueError(f"{name} must be [D, N]=[{dim}, {n}], [B, N, L]=[{batch}, {n}, {length}] or "
                             f"[B, G, N, L] with G dividing D, got {tuple(t.shape)}")
    for name, t, shape in (("D", D, (dim,)), ("delta_bias", delta_bias, (dim,)), ("z", z, tuple(u.shape)),
                           ("initial_state", initial_state, (batch, dim, n))):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")


def _per_channel(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[B, G, N, L] -> [B, D, N, L] (group g serves channels g*D/G .. (g+1)*D/G - 1)."""
    return t.repeat_interleave(dim // t.shape[1], dim=1)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, initial_state=None, mode="chunk"):
    """Selective scan, mamba_ssm semantics (see module docstring for shapes)."""
    return _selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state,
                           initial_state, mode, signed=False)


def signed_selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                          return_last_state=False, initial_state=None, mode="chunk"):
    """``selective_scan`` with the signed transition ``2 exp(delta A) - 1`` in (-1, 1] instead of
    ``exp(delta A)`` (Grazzi et al. 2025, negative eigenvalues for state tracking). Same shapes."""
    return _selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state,
                           initial_state, mode, signed=True)


def _selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, initial_state,
                    mode, signed):
    _check(u, delta, A, B, C, D, z, delta_bias, initial_state, mode)
    dtype_in = u.dtype
    up = (lambda t: t if t.dtype == torch.float64 else t.float())
    u, delta, A, B, C = up(u), up(delta), up(A), up(B), up(C)
    if delta_bias is not None:
        delta = delta + up(delta_bias)[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    h0 = None if initial_state is None else up(initial_state)
    if mode == "recurrent":
        y, last = _reference(u, delta, A, B, C, h0, signed)
    else:
        y, last = _chunked(u, delta, A, B, C, h0, signed)
    out = y if D is None else y + u * up(D)[:, None]
    if z is not None:
        out = out * F.silu(up(z))
    out = out.to(dtype_in)
    return (out, last) if return_last_state else out


def _reference(u, delta, A, B, C, h0, signed=False):
    """mamba_ssm's selective_scan_ref loop: one token at a time. (Per-step slices are taken by unbind, not
    by indexing: indexing [:, :, i] makes autograd add a zero-filled [B, D, L, N] gradient per step, a
    backward pass quadratic in L.)"""
    batch, dim, length = u.shape
    dA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    if signed:
        dA = 2 * dA - 1
    if B.dim() == 2:
        dBu = torch.einsum("bdl,dn,bdl->bdln", delta, B, u)
    elif B.dim() == 3:
        dBu = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    else:
        dBu = torch.einsum("bdl,bdnl,bdl->bdln", delta, _per_channel(B, dim), u)
    if C.dim() == 4:
        C = _per_channel(C, dim)
    Cs = [C] * length if C.dim() == 2 else C.unbind(-1)
    h = u.new_zeros(batch, dim, A.shape[1]) if h0 is None else h0
    ys = []
    for dA_i, dBu_i, C_i in zip(dA.unbind(2), dBu.unbind(2), Cs):
        h = dA_i * h + dBu_i
        if C.dim() == 2:
            ys.append(torch.einsum("bdn,dn->bd", h, C_i))
        elif C.dim() == 3:
            ys.append(torch.einsum("bdn,bn->bd", h, C_i))
        else:
            ys.append(torch.einsum("bdn,bdn->bd", h, C_i))
    return torch.stack(ys, dim=2), h


# time block of the fused scan: about this many elements of [B, block, N, D], so that a block's tensors stay in
# cache (the whole [B, L, D, N] tensors would go to memory at every elementwise pass)
_BLOCK_ELEMS = 2 ** 18


class _BC:
    """B or C in one of mamba_ssm's layouts ([D, N], [B, N, L], [B, G, N, L]), applied to one time block of
    [b, l, N, D] tensors (N before D: every contraction runs over contiguous rows of D)."""

    def __init__(self, m: torch.Tensor):
        self.m = m
        self.kind = m.dim()
        self.grad = torch.zeros_like(m)

    def block(self, t0, t1):
        if self.kind == 2:
            return self.m.t()  # [N, D]
        # contiguous (a small copy): strided operands make TensorIterator pick a slow loop order
        if self.kind == 3:
            return self.m[:, :, t0:t1].transpose(1, 2).contiguous()  # [b, l, N]
        return self.m[..., t0:t1].permute(0, 3, 2, 1).contiguous()  # [b, l, N, G]

    def outer(self, v, t0, t1, out):
        """out[b, l, n, d] = v[b, l, d] * M[.., n, d]."""
        m = self.block(t0, t1)
        if self.kind == 2:
            return torch.mul(v.unsqueeze(2), m, out=out)
        if self.kind == 3:
            return torch.mul(m.unsqueeze(-1), v.unsqueeze(2), out=out)
        b, l, n, d = out.shape
        G = m.shape[-1]
        torch.mul(m.unsqueeze(-1), v.view(b, l, 1, G, d // G), out=out.view(b, l, n, G, d // G))
        return out

    def contract_n(self, f, t0, t1):
        """sum_n f[b, l, n, d] M[.., n, d] -> [b, l, d]."""
        m = self.block(t0, t1)
        if self.kind == 2:
            return (f * m).sum(2)
        if self.kind == 3:
            return torch.matmul(m.unsqueeze(2), f).squeeze(2)
        b, l, n, d = f.shape
        G = m.shape[-1]
        return (f.view(b, l, n, G, d // G) * m.unsqueeze(-1)).sum(2).view(b, l, d)

    def accumulate_grad(self, f, v, t0, t1):
        """Adds dL/dM for out = outer(v) with dL/dout = f."""
        # products then sums over contiguous rows: batched matrix-vector products are several times slower here
        if self.kind == 2:
            self.grad += (f * v.unsqueeze(2)).sum((0, 1)).t()
        elif self.kind == 3:
            self.grad[:, :, t0:t1] = (f * v.unsqueeze(2)).sum(-1).transpose(1, 2)
        else:
            b, l, n, d = f.shape
            G = self.m.shape[1]
            g = (f.view(b, l, n, G, d // G) * v.view(b, l, 1, G, d // G)).sum(-1)  # [b, l, N, G]
            self.grad[..., t0:t1] = g.permute(0, 3, 2, 1)


def _blocks(shape, n, length):
    b, _, d = shape
    step = max(1, min(length, _BLOCK_ELEMS // max(1, b * d * n)))
    return [(t0, min(t0 + step, length)) for t0 in range(0, length, step)]


def _transition(delta, At, signed):
    """[b, l, D] x [N, D] -> a = exp(delta A) (or 2 exp(delta A) - 1) as [b, l, N, D], and da/d(delta A)."""
    e = torch.mul(delta.unsqueeze(2), At).exp_()
    if not signed:
        return e, e
    return 2 * e - 1, e.mul_(2)


class _SelectiveScanFn(torch.autograd.Function):
    """h_t = a_t h_{t-1} + du_t B_t, y_t = C_t . h_t with a_t = exp(delta_t A) (or 2 exp(delta_t A) - 1),
    h as [b, l, N, D]. Fused and blocked over time: a Python loop over blocks of a few tokens keeps every
    [b, block, N, D] tensor in cache, and inside a block the recurrence runs token by token on whole
    [b, N, D] states (one fused multiply-add each). Only the state entering each block is stored; the
    backward pass recomputes a block's states from it and runs the adjoint recurrence
    lambda_t = dh_t + a_{t+1} lambda_{t+1} backwards through the blocks."""

    @staticmethod
    def forward(ctx, delta, du, A, B, C, h0, signed):
        # delta, du: [b, L, D] (time-major); A: [D, N]; B, C: mamba_ssm layouts; h0: [b, D, N] or None
        b, length, d = delta.shape
        n = A.shape[1]
        At = A.t()
        Bs, Cs = _BC(B), _BC(C)
        h = delta.new_zeros(b, n, d) if h0 is None else h0.transpose(1, 2).contiguous()
        starts, ys = [], []
        with torch.no_grad():
            for t0, t1 in _blocks(delta.shape, A.shape[1], length):
                starts.append(h)
                a, _ = _transition(delta[:, t0:t1], At, signed)
                hb = Bs.outer(du[:, t0:t1], t0, t1, torch.empty_like(a))
                for i in range(t1 - t0):
                    h = torch.addcmul(hb[:, i], a[:, i], h, out=hb[:, i])
                ys.append(Cs.contract_n(hb, t0, t1))
        ctx.save_for_backward(delta, du, A, B, C, h0, *starts)
        ctx.signed = signed
        return torch.cat(ys, 1), h.transpose(1, 2).clone()

    @staticmethod
    def backward(ctx, dy, dlast):
        delta, du, A, B, C, h0, *starts = ctx.saved_tensors
        b, length, d = delta.shape
        At = A.t()
        Bs, Cs = _BC(B), _BC(C)
        ddelta, ddu = torch.empty_like(delta), torch.empty_like(du)
        dAt = torch.zeros_like(At)
        carry = dlast.transpose(1, 2)  # dL/dh at the end of the current block from later tokens
        for (t0, t1), start in reversed(list(zip(_blocks(delta.shape, A.shape[1], length), starts))):
            a, dadla = _transition(delta[:, t0:t1], At, ctx.signed)
            hb = Bs.outer(du[:, t0:t1], t0, t1, torch.empty_like(a))
            prev = start
            for i in range(t1 - t0):  # recompute the block's states
                prev = torch.addcmul(hb[:, i], a[:, i], prev, out=hb[:, i])
            dyb = dy[:, t0:t1]
            lam = Cs.outer(dyb, t0, t1, torch.empty_like(a))
            Cs.accumulate_grad(hb, dyb, t0, t1)
            lam[:, -1] += carry
            for i in range(t1 - t0 - 2, -1, -1):
                lam[:, i].addcmul_(a[:, i + 1], lam[:, i + 1])
            carry = a[:, 0] * lam[:, 0]
            ddu[:, t0:t1] = Bs.contract_n(lam, t0, t1)
            Bs.accumulate_grad(lam, du[:, t0:t1], t0, t1)
            # d/d(delta A) of a_t h_{t-1}: lambda_t h_{t-1} da_t/d(delta A)
            lam[:, 1:] *= hb[:, :-1]
            lam[:, 0] *= start
            lam *= dadla
            dAt += torch.mul(lam, delta[:, t0:t1].unsqueeze(2), out=hb).sum((0, 1))
            ddelta[:, t0:t1] = lam.mul_(At).sum(2)
        dh0 = None if h0 is None else carry.transpose(1, 2)
        return ddelta, ddu, dAt.t(), Bs.grad, Cs.grad, dh0, None


def _chunked(u, delta, A, B, C, h0, signed=False):
    dt = delta.transpose(1, 2).contiguous()
    du = (delta * u).transpose(1, 2).contiguous()
    y, last = _SelectiveScanFn.apply(dt, du, A, B, C, h0, signed)
    return y.transpose(1, 2), last
