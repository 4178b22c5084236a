"""Mamba's selective scan (S6; Gu & Dao 2023, Mamba, Algorithm 2 and eqs. 2a-2b with ZOH-discretised A and
the simplified Euler B), with the argument names, layouts and semantics of ``mamba_ssm``'s
``selective_scan_ref``, so code written against mamba_ssm runs unchanged:

    delta <- softplus(delta + delta_bias)                        (each optional)
    h_t = exp(delta_t A) * h_{t-1} + delta_t B_t u_t             h: [B, D, N] per token
    y_t = C_t . h_t + D u_t,   out = y * silu(z)                 (D, z optional)

Shapes: ``u, delta, z: [B, D, L]``; ``A: [D, N]`` (real); ``B, C: [D, N]`` (time-invariant), ``[B, N, L]``
(shared by all channels) or ``[B, G, N, L]`` (grouped: channel d uses group d // (D/G)); ``D, delta_bias: [D]``.
Returns ``out [B, D, L]`` in u's dtype or, with ``return_last_state=True``, ``(out, last_state [B, D, N])``
exactly like mamba_ssm, whose reference also returns the last state in float32 (float64 for float64 inputs
here). The arguments keep mamba_ssm's order rather than the ``(..., initial_state, output_final_state, mode)``
of the other ops, so that code written for mamba_ssm runs unchanged. One extension: ``initial_state:
[B, D, N]`` (mamba_ssm always starts from zero), which a mixer needs to continue a sequence across calls.

``signed_selective_scan`` is the same op with the transition ``2 exp(delta A) - 1`` in (-1, 1] (Grazzi et al.
2025, negative eigenvalues), for Mamba's ``allow_neg_eigval``.

Modes: ``"recurrent"`` is mamba_ssm's reference loop over L. ``"kernel"`` is the same loop compiled for
CPU (``kernels/csrc/selective_scan.c``, built on first use; ``kernels/selective_scan.py``), with a
hand-written backward, and ``"auto"`` (default) takes it for CPU tensors wherever a C compiler is present
(``kernels.resolve``), else ``"chunk"``. ``"chunk"`` is pure PyTorch: one fused autograd
function (``_SelectiveScanFn``), like mamba_ssm's kernel taking bias, softplus, the D skip and the z gate
inside. Time is cut into blocks of about 2^19 ``[B, block, N, D]`` elements (8 tokens at B=8, D=512, N=16),
so that every such tensor stays in cache, in buffers reused by every block, and blocks are grouped into
tiles of 4 whose inputs are transposed to time-major once: per
block the transitions and inputs are built in one pass each, the state advances by one fused
multiply-add per token on the whole ``[B, N, D]`` state, and y is contracted per block; the backward pass
recomputes each block from its stored start state. Time-major inputs (the mixer's transposed views of
``[B, L, D]`` activations) are read in place, and outputs and gradients come back in their inputs' layouts.
Mamba-1's decay differs per (channel, state), so there is no matmul (SSD) form; a log-depth scan (mamba.py's
Blelloch pscan, timed in benchmarks/cases_ssm.py) does 2 log2(L) strided passes over the whole
[B, L, D, N] tensors and is slower on CPU than the cache-blocked sequential update. Only products of
transitions appear (no exp(-cumsum)), so any decay, underflow and the signed transition are exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from rnnzoo.ops import kernels
from rnnzoo.ops._common import autocast_safe, check_mode, upcast
from rnnzoo.ops.kernels import upstream
from rnnzoo.ops.kernels.selective_scan import kernel_scan
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk", "kernel", "auto")
KERNEL = "selective_scan"  # the compiled CPU kernel (rnnzoo/ops/kernels) of the "kernel" mode


def _check(op, u, delta, A, B, C, D, z, delta_bias, initial_state, mode):
    check_mode(op, mode, MODES)
    if u.dim() != 3 or delta.shape != u.shape:
        raise ValueError(f"u and delta must be [B, D, L] with equal shapes, got u {tuple(u.shape)}, "
                         f"delta {tuple(delta.shape)}")
    batch, dim, length = u.shape
    if length == 0:
        raise ValueError(f"u has an empty time dimension: shape {tuple(u.shape)}; need L >= 1")
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


@packable("selective_scan")
@autocast_safe
def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, initial_state=None, mode="auto"):
    """Selective scan, mamba_ssm semantics. u, delta, z: [B, D, L]; A: [D, N]; B, C: [D, N], [B, N, L] or
    [B, G, N, L]; D, delta_bias: [D]; initial_state: [B, D, N] or None.
    Returns out [B, D, L], or (out, last_state [B, D, N]) with return_last_state=True."""
    return _selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state,
                           initial_state, mode, signed=False)


@packable("signed_selective_scan")
@autocast_safe
def signed_selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                          return_last_state=False, initial_state=None, mode="auto"):
    """``selective_scan`` with the signed transition ``2 exp(delta A) - 1`` in (-1, 1] instead of
    ``exp(delta A)`` (Grazzi et al. 2025, negative eigenvalues for state tracking). u, delta, z: [B, D, L];
    A: [D, N]; B, C: [D, N], [B, N, L] or [B, G, N, L]; D, delta_bias: [D]; initial_state: [B, D, N] or None.
    Returns out [B, D, L], or (out, last_state [B, D, N]) with return_last_state=True."""
    return _selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state,
                           initial_state, mode, signed=True)


def _selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, initial_state,
                    mode, signed):
    _check("signed_selective_scan" if signed else "selective_scan", u, delta, A, B, C, D, z, delta_bias,
           initial_state, mode)
    if not signed and initial_state is None and (fn := upstream.dispatch("selective_scan", mode, u)) is not None:
        return fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)  # mamba_ssm's kernel
    dtype_in = u.dtype
    u, delta, A, B, C, D, z, delta_bias, h0 = upcast(u, delta, A, B, C, D, z, delta_bias, initial_state,
                                                     op="signed_selective_scan" if signed else "selective_scan")
    mode = kernels.resolve(mode, KERNEL, u, delta, A, B, C, D, z, delta_bias, h0)
    if mode in ("recurrent", "kernel"):
        core = _reference if mode == "recurrent" else kernel_scan
        out, last = _with_extras(core, u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, signed)
    else:  # bias, softplus, D skip and z gate fused into the blocked scan (as mamba_ssm's kernel does)
        out, last = _SelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias, h0, delta_softplus, signed)
    out = out.to(dtype_in)
    return (out, last) if return_last_state else out


def _with_extras(core, u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, signed):
    """Bias, softplus, D skip and z gate in PyTorch around ``core`` (the reference loop or the compiled
    kernel), as mamba_ssm's selective_scan_ref does."""
    if delta_bias is not None:
        delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    y, last = core(u, delta, A, B, C, h0, signed)
    out = y if D is None else y + u * D[:, None]
    return (out if z is None else out * F.silu(z)), last


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
_BLOCK_ELEMS = 2 ** 19
_TILE_BLOCKS = 4  # time blocks per tile of transposed inputs and outputs


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

    def accumulate_grad(self, f, v, t0, t1, tmp):
        """Adds dL/dM for out = outer(v) with dL/dout = f (f, tmp: [b, l, N, D] with tmp scratch; v: [b, l, D]).
        Products then sums over contiguous rows: batched matrix-vector products are several times slower."""
        if self.kind == 2:
            self.grad += torch.mul(f, v.unsqueeze(2), out=tmp).sum((0, 1)).t()
        elif self.kind == 3:
            self.grad[:, :, t0:t1] = torch.mul(f, v.unsqueeze(2), out=tmp).sum(-1).transpose(1, 2)
        else:
            b, l, n, d = f.shape
            G = self.m.shape[1]
            g = (f.view(b, l, n, G, d // G) * v.view(b, l, 1, G, d // G)).sum(-1)  # [b, l, N, G]
            self.grad[..., t0:t1] = g.permute(0, 3, 2, 1)


def _tiles(batch, dim, n, length):
    """[(s0, s1, [(t0, t1), ...])]: tiles of the [B, D, L] inputs, each cut into time blocks of about
    _BLOCK_ELEMS elements of [b, block, N, D]. A tile's inputs are transposed to time-major [b, tile, D] once,
    so the [B, D, L] layout is never copied whole."""
    step = max(1, min(length, _BLOCK_ELEMS // max(1, batch * dim * n)))
    span = step * _TILE_BLOCKS
    return [(s0, min(s0 + span, length), [(t0, min(t0 + step, s0 + span, length)) for t0 in range(s0, min(s0 + span, length), step)])
            for s0 in range(0, length, span)]


def _transition(delta, At2, signed, out, e_out):
    """a = exp(delta A) (or 2 exp(delta A) - 1) into ``out`` [b, l, N, D] from delta [b, l, D] and
    At2 = ``_exp_scale(A^T)`` [N, D]; returns (a, da/d(delta A)), the latter in ``e_out`` when
    signed."""
    x = torch.mul(delta.unsqueeze(2), At2, out=e_out if signed else out)
    e = x.exp2_() if x.dtype == torch.float32 else x.exp_()
    if not signed:
        return e, e
    torch.mul(e, 2, out=out).sub_(1)
    return out, e.mul_(2)


def _exp_scale(At):
    """A^T row-major, times log2(e) in float32: float32 transitions use exp2, about 3x faster than exp on CPU
    at the cost of one rounding in the exponent; float64 keeps exp, exact to 1e-10."""
    return (At * _LOG2E).contiguous() if At.dtype == torch.float32 else At.contiguous()


class _Workspace:
    """Buffers for one time block, [b, step, N, D] each, reused by every block: a fresh tensor per block
    would land on cold memory each time, and writing it costs several times the arithmetic."""

    def __init__(self, like, b, step, n, d, count):
        self.bufs = like.new_empty(count, b, step, n, d).unbind(0)

    def take(self, length):
        return [buf[:, :length] for buf in self.bufs]


def _time_major(x):
    """Whether a [b, D, L] tensor is laid out time-major in memory (D contiguous), as the transposed views
    of [b, L, D] activations that the mamba mixer passes are."""
    return x.stride(1) == 1 and x.shape[1] > 1 and x.shape[2] > 1


def _new_like(ref):
    """An empty [b, D, L] tensor in ref's layout (time-major or contiguous), as elementwise ops would make."""
    if _time_major(ref):
        return ref.new_empty(ref.shape[0], ref.shape[2], ref.shape[1]).transpose(1, 2)
    return ref.new_empty(ref.shape)


def _tile_in(x, s0, s1):
    """x[:, :, s0:s1] of a [b, D, L] tensor as a time-major [b, tile, D] tensor, read-only (a view when x is
    time-major already). Else in two copies: the slice's rows are contiguous, and the transpose then runs
    in cache (a direct strided copy is 3x slower)."""
    if _time_major(x):
        return x.transpose(1, 2)[:, s0:s1]
    return x[:, :, s0:s1].contiguous().transpose(1, 2).contiguous()


def _tile_out(y, out, s0, s1):
    """out[:, :, s0:s1] = y for time-major y [b, tile, D] (transposed in cache first, as in ``_tile_in``)."""
    if _time_major(out):
        out.transpose(1, 2)[:, s0:s1] = y
    else:
        out[:, :, s0:s1] = y.transpose(1, 2).contiguous()


def _tile_inputs(u, delta, delta_bias, softplus, s0, s1, dt_out, u_out):
    """Writes a tile's time-major inputs into dt_out, u_out [b, tile, D] (slices of [b, L, D] tensors kept
    for the backward pass): delta after bias and softplus, and u."""
    raw = _tile_in(delta, s0, s1)  # may share memory with delta: never modified in place
    if delta_bias is not None:
        raw = raw + delta_bias
    dt_out.copy_(F.softplus(raw) if softplus else raw)
    u_out.copy_(_tile_in(u, s0, s1))
    return dt_out, u_out


def _silu_grad(z):
    s = torch.sigmoid(z)
    return s * (1 + z * (1 - s))


class _SelectiveScanFn(torch.autograd.Function):
    """out = (y + D u) * silu(z), with h_t = a_t h_{t-1} + delta_t u_t B_t, y_t = C_t . h_t, a_t = exp(delta_t A)
    (or 2 exp(delta_t A) - 1) and delta = softplus(delta + delta_bias); h as [b, l, N, D].

    Fused and blocked over time. A tile's inputs are transposed to time-major once; inside it, a Python
    loop over blocks of a few tokens keeps every [b, block, N, D] tensor in cache (in buffers reused across
    blocks), and inside a block the recurrence runs token by token on whole [b, N, D] states (one fused
    multiply-add each). Only the state entering each block is stored; the backward pass recomputes a
    block's states from it and runs the adjoint recurrence lambda_t = dh_t + a_{t+1} lambda_{t+1} backwards
    through the blocks. Bias, softplus, D skip and z gate run per tile, on data already in cache."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, h0, softplus, signed):
        # u, delta, z: [b, D, L]; A: [D, N]; B, C: mamba_ssm layouts; D, delta_bias: [D]; h0: [b, D, N] or None
        batch, dim, length = u.shape
        n = A.shape[1]
        At2 = _exp_scale(A.t())  # [N, D] row-major: a transposed operand vectorizes badly
        Bs, Cs = _BC(B), _BC(C)
        tiles = _tiles(batch, dim, n, length)
        ws = _Workspace(u, batch, tiles[0][2][0][1], n, dim, 3 if signed else 2)
        h = u.new_zeros(batch, n, dim) if h0 is None else h0.transpose(1, 2).contiguous()
        out = _new_like(u)
        dt_all, u_all = u.new_empty(2, batch, length, dim)  # time-major, kept: the backward reads them as is
        starts = []
        with torch.no_grad():
            for s0, s1, blocks in tiles:
                dt, ub = _tile_inputs(u, delta, delta_bias, softplus, s0, s1, dt_all[:, s0:s1], u_all[:, s0:s1])
                du = dt * ub
                y = torch.empty_like(dt)
                for t0, t1 in blocks:
                    i0, i1 = t0 - s0, t1 - s0
                    starts.append(h)
                    a_buf, h_buf, *e_buf = ws.take(t1 - t0)
                    a, _ = _transition(dt[:, i0:i1], At2, signed, a_buf, e_buf[0] if e_buf else None)
                    hb = Bs.outer(du[:, i0:i1], t0, t1, h_buf)
                    for a_i, h_i in zip(a.unbind(1), hb.unbind(1)):
                        h = torch.addcmul(h_i, a_i, h, out=h_i)
                    y[:, i0:i1] = Cs.contract_n(hb, t0, t1)
                    h = h.clone()  # the buffer is overwritten by the next block
                if D is not None:
                    y.addcmul_(ub, D)
                if z is not None:
                    y *= F.silu(_tile_in(z, s0, s1))
                _tile_out(y, out, s0, s1)
        ctx.save_for_backward(dt_all, u_all, A, B, C, D, z, delta_bias, h0, *starts)
        ctx.flags = softplus, signed
        ctx.layouts = tuple(x is not None and _time_major(x) for x in (u, delta, z))
        return out, h.transpose(1, 2).clone()

    @staticmethod
    @once_differentiable  # the hand-written backward is not itself differentiated
    def backward(ctx, dout, dlast):
        dt_all, u_all, A, B, C, D, z, delta_bias, h0, *starts = ctx.saved_tensors
        softplus, signed = ctx.flags
        batch, length, dim = u_all.shape
        n = A.shape[1]
        At = A.t().contiguous()
        At2 = _exp_scale(At)
        Bs, Cs = _BC(B), _BC(C)
        tiles = _tiles(batch, dim, n, length)
        ws = _Workspace(u_all, batch, tiles[0][2][0][1], n, dim, 5 if signed else 4)
        # gradients in their inputs' layouts (time-major for the mixer's transposed activations)
        du_grad, ddelta, dz = (dout.new_empty(batch, length, dim).transpose(1, 2) if time_major
                               else dout.new_empty(batch, dim, length) for time_major in ctx.layouts)
        dz = None if z is None else dz
        dD = None if D is None else torch.zeros_like(D)
        dbias = None if delta_bias is None else torch.zeros_like(delta_bias)
        dAt = torch.zeros_like(At)
        carry = dlast.transpose(1, 2)  # dL/dh at the end of the current block from later tokens
        k = len(starts)
        for s0, s1, blocks in reversed(tiles):
            dt, ub = dt_all[:, s0:s1], u_all[:, s0:s1]
            du = dt * ub
            dob = _tile_in(dout, s0, s1)
            if z is None:
                dy = dob
            else:
                zb = _tile_in(z, s0, s1)
                dy = dob * F.silu(zb)
                y = torch.empty_like(dt)  # the scan's output, for dz
            dub = torch.zeros_like(ub) if D is None else dy * D
            if D is not None:
                dD += (dy * ub).sum((0, 1))
            ddt, ddu = torch.empty_like(dt), torch.empty_like(dt)
            for t0, t1 in reversed(blocks):
                i0, i1 = t0 - s0, t1 - s0
                k -= 1
                start, dy_b = starts[k], dy[:, i0:i1]
                a_buf, h_buf, lam_buf, tmp, *e_buf = ws.take(t1 - t0)
                a, dadla = _transition(dt[:, i0:i1], At2, signed, a_buf, e_buf[0] if e_buf else None)
                hb = Bs.outer(du[:, i0:i1], t0, t1, h_buf)
                prev = start
                for a_i, h_i in zip(a.unbind(1), hb.unbind(1)):  # recompute the block's states
                    prev = torch.addcmul(h_i, a_i, prev, out=h_i)
                if z is not None:
                    y[:, i0:i1] = Cs.contract_n(hb, t0, t1)
                Cs.accumulate_grad(hb, dy_b, t0, t1, tmp)
                lam = Cs.outer(dy_b, t0, t1, lam_buf)
                lam[:, -1] += carry
                lams, As = lam.unbind(1), a.unbind(1)
                for i in range(t1 - t0 - 2, -1, -1):
                    lams[i].addcmul_(As[i + 1], lams[i + 1])
                carry = As[0] * lams[0]
                ddu[:, i0:i1] = Bs.contract_n(lam, t0, t1)
                Bs.accumulate_grad(lam, du[:, i0:i1], t0, t1, tmp)
                # G = dL/d(delta A) = lambda_t h_{t-1} da_t/d(delta A)
                lam[:, 1:] *= hb[:, :-1]
                lam[:, 0] *= start
                lam *= dadla
                ddt[:, i0:i1] = torch.mul(lam, At, out=tmp).sum(2)
                dAt += lam.mul_(dt[:, i0:i1].unsqueeze(2)).sum((0, 1))
            ddt.addcmul_(ddu, ub)  # du = delta u
            dub.addcmul_(ddu, dt)
            if z is not None:
                if D is not None:
                    y.addcmul_(ub, D)
                _tile_out(dob * y * _silu_grad(zb), dz, s0, s1)
            if softplus:  # d softplus(x)/dx = sigmoid(x) = 1 - exp(-softplus(x))
                ddt *= torch.expm1(-dt).neg_()
            if delta_bias is not None:
                dbias += ddt.sum((0, 1))
            _tile_out(ddt, ddelta, s0, s1)
            _tile_out(dub, du_grad, s0, s1)
        dh0 = None if h0 is None else carry.transpose(1, 2)
        return du_grad, ddelta, dAt.t(), Bs.grad, Cs.grad, dD, dz, dbias, dh0, None, None


_LOG2E = 1.4426950408889634
