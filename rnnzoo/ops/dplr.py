"""Generalized delta rules with a diagonal-plus-low-rank transition (flash-linear-attention's
``generalized_delta_rule``): ``dplr_delta_rule`` (the core of RWKV-7 "Goose") and ``iplr_delta_rule`` (identity
plus low rank, no decay). With the state S [K, V] per head (keys by rows, as every rnnzoo op):

    dplr:  S_t = (diag(exp(gk_t)) + b_t a_tᵀ) S_{t-1} + k_t v_tᵀ,      o_t = S_tᵀ (scale q_t)
    iplr:  S_t = (I + b_t a_tᵀ) S_{t-1} + k_t v_tᵀ

which is fla's S_t = S_{t-1} (diag(exp(gk_t)) + a_t b_tᵀ) + v_t k_tᵀ for its transposed state [V, K]. The low-rank
read a_tᵀ S_{t-1} sees the state before this step's decay. RWKV-7 takes a = -κ̂, b = κ̂ ⊙ a_iclr (Peng et al. 2025,
the RWKV-7 time mix); Gated DeltaNet-2 and KDA are the case a = exp(gk) ⊙ b' ⊙ k, b = -k (``ops.kda``).

``mode="chunk"`` is the WY form of the DPLR chunk recurrence (fla's ``chunk_dplr_delta_rule``), derived here for
rnnzoo's layout. Write the step as two writes, S_t = D_t S_{t-1} + k_t v_tᵀ + b_t u_tᵀ with the pseudo-value
u_t = S_{t-1}ᵀ a_t. Inside a chunk, with G_i the cumulative log decay from the chunk start (per key channel) and
G_{i-1} the one before token i:

    (I - A_ab) U = A_ak V + (exp(G_{i-1}) ⊙ a) S_0,     A_xy[i, j] = Σ_c x_ic y_jc exp(G_{i-1,c} - G_jc)  (j < i)
    O   = A_qk V + A_qb U + (exp(G) ⊙ q) S_0,           A_qy[i, j] = Σ_c q_ic y_jc exp(G_ic - G_jc)       (j <= i)
    S_C = exp(G_C) ⊙ S_0 + (exp(G_C - G) ⊙ k)ᵀ V + (exp(G_C - G) ⊙ b)ᵀ U

so U = U~ + W S_0 by unit-lower-triangular solves over all chunks at once, and only the chain of states runs in a
loop over chunks (one [K, K] x [K, V] product per chunk). When no chunk decays by more than ``DIRECT_MAX_SPAN``
nats in any channel (gla's rule), the per-channel weights A_xy are one masked matmul around the chunk's middle
token; otherwise they are built by ``_gram``:
every pair (i, j) is taken at the level where i and j fall in the two halves of one block of 2^l tokens, both
factors rescaled to the boundary between the halves (gla's secondary chunking, by halving), so every exponent is a
sum of gates over a segment, <= 0, and strong decay never overflows. Gates are summed in float64, and every
exponent that can follow a -inf gate (decay exactly 0) is summed over its own segment, never taken as a difference
of prefix sums (-inf - (-inf) is NaN).

``mode="kernel"`` is the loop compiled for CPU (``kernels/csrc/dplr.c``, built on first use) with a hand-written
backward; ``"auto"`` (the default) takes it for CPU float32/float64 tensors whose K and V are multiples of 16
(V <= 256) wherever a C compiler is present (``kernels.resolve`` with ``kernels.dplr.fits``), else ``"chunk"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops import kernels
from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.delta import _solve_unit_lower, _to_chunks
from rnnzoo.ops.gla import DIRECT_MAX_SPAN, _suffix
from rnnzoo.ops.kernels import dplr as kernel
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk", "kernel", "auto")
KERNEL = "dplr"  # the compiled CPU kernel (rnnzoo/ops/kernels) of the "kernel" mode


def _check(op, q, k, v, a, b, gk, initial_state, mode, chunk_size):
    check_mode(op, mode, MODES)
    check_chunk_size(op, chunk_size)
    if q.dim() != 4 or v.dim() != 4 or q.shape[1] == 0:
        raise ValueError(f"{op}: q must be [B, T, H, K] and v [B, T, H, V] with T >= 1, got q {tuple(q.shape)}, "
                         f"v {tuple(v.shape)}")
    for name, x in (("k", k), ("a", a), ("b", b), ("gk", gk)):
        if x is not None and x.shape != q.shape:
            raise ValueError(f"{op}: {name} must be [B, T, H, K] like q {tuple(q.shape)}, got {tuple(x.shape)}")
    if v.shape[:3] != q.shape[:3]:
        raise ValueError(f"{op}: v must be [B, T, H, V] with q's [B, T, H] {tuple(q.shape[:3])}, got {tuple(v.shape)}")
    bt, _, h, dk = q.shape
    if initial_state is not None and tuple(initial_state.shape) != (bt, h, dk, v.shape[-1]):
        raise ValueError(f"{op}: initial_state must be [B, H, K, V]={[bt, h, dk, v.shape[-1]]}, "
                         f"got {tuple(initial_state.shape)}")


def _recurrent(q, k, v, a, b, gk, s):
    """The loop of the equation (steps by unbind: indexing [:, t] makes backward O(T^2)); gk None: no decay."""
    decays = [None] * q.shape[1] if gk is None else gk.exp().unbind(1)
    out = []
    for q_t, k_t, v_t, a_t, b_t, d_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), a.unbind(1), b.unbind(1), decays):
        u = torch.einsum("bhk,bhkv->bhv", a_t, s)  # a_tᵀ S_{t-1}: read before the decay
        s = (s if d_t is None else d_t[..., None] * s) + b_t[..., None] * u[..., None, :] + k_t[..., None] * v_t[..., None, :]
        out.append(torch.einsum("bhk,bhkv->bhv", q_t, s))
    return torch.stack(out, 1), s


def _gram(x, y, g, strict):
    """[..., C, C]: entry (i, j) = Σ_c x_ic y_jc exp(Σ g_c over (j, i]) for j <= i, 0 above; ``strict``: over (j, i-1]
    for j < i, 0 on the diagonal (the rows read the state before token i's decay).

    x, y: [..., C, K]; g: [..., C, K] float64 log decays (None: no decay). Built by halving (gla's secondary chunking,
    as a matrix): blocks of 2s tokens are [[M_left, 0], [R Lᵀ, M_right]] with R the right half's rows decayed from r
    (the left half's last token) and L the left half's columns decayed to r. Every exponent is a sum of gates over a
    segment, never a difference of prefix sums: those lose the segment under strong decay and a -inf gate (decay 0)
    makes them -inf - (-inf). C is padded to a power of two with zero vectors and zero gates."""
    c, dk = x.shape[-2:]
    idx = torch.arange(c, device=x.device)
    if g is None:
        return (x @ y.mT).masked_fill(~(idx[:, None] > idx[None, :] if strict else idx[:, None] >= idx[None, :]), 0)
    n = 1 << (c - 1).bit_length()
    x, y, g = (F.pad(z, (0, 0, 0, n - c)) for z in (x, y, g))
    lead = x.shape[:-2]
    diag = x.new_zeros(*lead, n) if strict else (x * y).sum(-1)
    m = diag[..., None, None]  # [..., n blocks, 1, 1]
    size = 1
    while size < n:
        pairs = n // (2 * size)
        xs, ys, gs = (z.view(*lead, pairs, 2, size, dk) for z in (x, y, g))
        right = gs[..., 1, :, :]
        if strict:  # over (r, i - 1]
            right = torch.cat((torch.zeros_like(right[..., :1, :]), right[..., :-1, :]), -2)
        from_r = right.cumsum(-2)  # over (r, i]
        rows = xs[..., 1, :, :] * from_r.to(x.dtype).exp()
        cols = ys[..., 0, :, :] * _suffix(gs[..., 0, :, :]).to(x.dtype).exp()  # over (j, r]
        block = rows @ cols.mT  # [..., pairs, size, size]
        halves = m.view(*lead, pairs, 2, size, size)
        top = torch.cat((halves[..., 0, :, :], torch.zeros_like(block)), -1)
        m = torch.cat((top, torch.cat((block, halves[..., 1, :, :]), -1)), -2)  # [..., pairs, 2 size, 2 size]
        size *= 2
    return m[..., 0, :c, :c]


def _grams_direct(q, k, a, b, g_in, g_ex):
    """The four weight matrices (A_ab, A_ak strictly lower; A_qk, A_qb lower) in one masked matmul each, for chunks
    that decay by at most DIRECT_MAX_SPAN nats in every channel: every factor is rescaled to the chunk's middle
    token m, so each lies within exp(+-span) of 1 (no overflow) and the exponents are float64 differences."""
    c = q.shape[-2]
    ref = g_in[..., c // 2, None, :]
    rows_a, rows_q = (x * (p - ref).to(x.dtype).exp() for x, p in ((a, g_ex), (q, g_in)))
    to_ref = (ref - g_in).to(k.dtype).exp()
    cols_b, cols_k = b * to_ref, k * to_ref
    idx = torch.arange(c, device=q.device)
    strict, lower = idx[:, None] > idx[None, :], idx[:, None] >= idx[None, :]
    return ((rows_a @ cols_b.mT).masked_fill(~strict, 0), (rows_a @ cols_k.mT).masked_fill(~strict, 0),
            (rows_q @ cols_k.mT).masked_fill(~lower, 0), (rows_q @ cols_b.mT).masked_fill(~lower, 0))


def _chunk(q, k, v, a, b, gk, s0, chunk_size):
    """Every input [B, T, H, *]; gk None: no decay; s0 [B, H, K, V]. Returns (o [B, T, H, V], S_T)."""
    bt, t, h, dk = q.shape
    dv = v.shape[-1]
    c = min(chunk_size, t)
    # padded rows: k = v = a = b = q = 0 and gk = 0, so they neither write, read nor decay
    q, k, v, a, b = (_to_chunks(x, c) for x in (q, k, v, a, b))  # [N, B*H, C, *]
    if gk is None:
        g = g_in = g_ex = None
        decay_q, decay_a, to_end, chunk_decay = q, a, (k, b), None
    else:
        g = _to_chunks(gk, c).double()
        g_in = g.cumsum(-2)  # G_i
        g_ex = F.pad(g_in[..., :-1, :], (0, 0, 1, 0))  # G_{i-1}, not G_i - g_i: a -inf gate would make that NaN
        decay_q, decay_a = q * g_in.exp().to(q.dtype), a * g_ex.exp().to(q.dtype)
        to_end = tuple(x * _suffix(g).exp().to(q.dtype) for x in (k, b))  # G_C - G_i, summed over (i, C]
        chunk_decay = g_in[..., -1, :].exp().to(q.dtype)  # [N, B*H, K]
    if g_in is not None and -g_in[..., -1, :].min() <= DIRECT_MAX_SPAN:
        a_ab, a_ak, a_qk, a_qb = _grams_direct(q, k, a, b, g_in, g_ex)
    else:
        a_ab, a_ak = _gram(a, b, g, True), _gram(a, k, g, True)
        a_qk, a_qb = _gram(q, k, g, False), _gram(q, b, g, False)
    u_tilde, w = _solve_unit_lower(-a_ab, torch.cat((a_ak @ v, decay_a), -1)).split((dv, dk), -1)
    o_intra = a_qk @ v + a_qb @ u_tilde  # [N, B*H, C, V]
    q_state = decay_q + a_qb @ w  # what reads S_0: O = O_intra + q_state S_0
    k_end, b_end = (x.mT for x in to_end)
    writes = k_end @ v + b_end @ u_tilde  # [N, B*H, K, V]
    diagonal = torch.eye(dk, dtype=q.dtype, device=q.device) if chunk_decay is None else chunk_decay.diag_embed()
    transitions = diagonal + b_end @ w  # [N, B*H, K, K]: S_{n+1} = transition S_n + write
    s = s0.reshape(bt * h, dk, dv)
    states = []
    # unbind once: indexing chunk n inside the loop would make backward scatter a full-size zero tensor per chunk
    for m, wr in zip(transitions.unbind(0), writes.unbind(0)):
        states.append(s)
        s = torch.baddbmm(wr, m, s)
    o = o_intra + q_state @ torch.stack(states)
    o = o.view(-1, bt, h, c, dv).permute(1, 0, 3, 2, 4).reshape(bt, -1, h, dv)
    return o[:, :t], s.view(bt, h, dk, dv)


def _run(op, q, k, v, a, b, gk, scale, initial_state, output_final_state, mode, chunk_size):
    dtype = q.dtype
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    q, k, v, a, b, gk, s0 = upcast(q, k, v, a, b, gk, initial_state, op=op)
    mode = kernels.resolve(mode, KERNEL, q, k, v, a, b, gk, s0, fits=kernel.fits(q, v))
    if mode == "kernel":
        o, s = kernel.kernel_recurrence(q * scale, k, v, a, b, gk, s0)
        return o.to(dtype), (s if output_final_state else None)
    bt, _, h, dk = q.shape
    s0 = q.new_zeros(bt, h, dk, v.shape[-1]) if s0 is None else s0
    fn = _recurrent if mode == "recurrent" else lambda *x: _chunk(*x, chunk_size)
    o, s = fn(q * scale, k, v, a, b, gk, s0)
    return o.to(dtype), (s if output_final_state else None)


@packable("dplr_delta_rule")
@autocast_safe
def dplr_delta_rule(q, k, v, a, b, gk, scale=None, initial_state=None, output_final_state=False, mode="auto",
                    chunk_size=64):
    """S_t = (diag(exp(gk_t)) + b_t a_tᵀ) S_{t-1} + k_t v_tᵀ, o_t = S_tᵀ (scale q_t) (see the module docstring).

    q, k, a, b: [B, T, H, K]; gk: [B, T, H, K] log decay (<= 0); v: [B, T, H, V]; initial_state: [B, H, K, V].
    scale=None means K**-0.5. Returns (o [B, T, H, V] in q's dtype, S_T [B, H, K, V] float32 (float64 for float64
    inputs) or None).
    """
    _check("dplr_delta_rule", q, k, v, a, b, gk, initial_state, mode, chunk_size)
    return _run("dplr_delta_rule", q, k, v, a, b, gk, scale, initial_state, output_final_state, mode, chunk_size)


@packable("iplr_delta_rule")
@autocast_safe
def iplr_delta_rule(q, k, v, a, b, scale=None, initial_state=None, output_final_state=False, mode="auto",
                    chunk_size=64):
    """S_t = (I + b_t a_tᵀ) S_{t-1} + k_t v_tᵀ, o_t = S_tᵀ (scale q_t): ``dplr_delta_rule`` without decay.

    q, k, a, b: [B, T, H, K]; v: [B, T, H, V]; initial_state: [B, H, K, V].
    Returns (o [B, T, H, V] in q's dtype, S_T [B, H, K, V] float32 (float64 for float64 inputs) or None).
    """
    _check("iplr_delta_rule", q, k, v, a, b, None, initial_state, mode, chunk_size)
    return _run("iplr_delta_rule", q, k, v, a, b, None, scale, initial_state, output_final_state, mode, chunk_size)
