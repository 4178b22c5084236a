"""Delta-rule recurrences: ``delta_rule`` (DeltaNet), ``gated_delta_rule`` (Gated DeltaNet) and
``delta_product`` (DeltaProduct), each with a reference loop and a chunkwise-parallel form.

    delta_rule:        S_t = (I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ                 o_t = S_tᵀ (scale q_t)
    gated_delta_rule:  S_t = exp(g_t) (I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ
    delta_product:     n_h delta steps per token, decay exp(g_t) once per token, output after the last step

Layout ``[B, T, H, D]``, state ``S: [B, H, K, V]``, log-space gates ``g <= 0``, ``scale=None`` -> K**-0.5.
Arguments in flash-linear-attention's order ``(q, k, v, g, beta, ...)``; the output comes back in q's dtype,
the final state float32 (float64 for float64 inputs).
Ops never normalise q/k (DeltaNet's mixer L2-normalises them); beta in [0, 2] gives negative
eigenvalues (Grazzi et al. 2024).

``mode="chunk"`` is the WY/UT-transform form of Yang et al. 2024 (Parallelizing Linear Transformers
with the Delta Rule over Sequence Length, Sec. 3), with the decay of Yang et al. 2025 (Gated Delta
Networks, Sec. 3.3). Writing the step as S_i = exp(g_i) S_{i-1} + k_i u_iᵀ with the pseudo-value
u_i = b_i (v_i - exp(g_i) S_{i-1}ᵀ k_i), and G_i the cumulative log decay from the chunk start:

    (I + A) U = diag(b) V - diag(b exp(G)) K S_0,     A_ij = b_i exp(G_i - G_j) k_iᵀ k_j  (j < i)
    O   = diag(exp(G)) Q S_0 + (Q Kᵀ ∘ exp(G_i - G_j) ∘ [j <= i]) U
    S_C = exp(G_C) S_0 + (exp(G_C - G) ∘ K)ᵀ U

so with T = (I + A)^{-1} (unit-lower-triangular solves, all chunks at once, never forming T),
U = T diag(b) V - T diag(b exp(G)) K S_0 = U~ - W S_0. Only the S_0-dependent part runs in a loop over
chunks (four small matmuls per chunk). Every exponent is a difference G_i - G_j <= 0 inside one chunk,
so strong decay never overflows.

``mode="kernel"`` is the loop compiled for CPU (``kernels/csrc/delta_rule.c``, built on first use) with a
hand-written backward: one rank-1 row S <- S + k (x - Sᵀ a)ᵀ per Householder step with a = b k, x = b v, the
decay once per token. ``"auto"`` (the default) takes it for CPU float32/float64 tensors whose K and V are
multiples of 16 (V <= 256) wherever a C compiler is present (``kernels.resolve`` with
``kernels.delta_rule.fits``), else ``"chunk"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops import kernels
from rnnzoo.ops._chunk import segsum
from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.kernels import delta_rule as kernel
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk", "kernel", "auto")
KERNEL = "delta_rule"  # the compiled CPU kernel (rnnzoo/ops/kernels) of the "kernel" mode


# -- checks --------------------------------------------------------------------------------------
def _check(op, q, k, v, g, beta, initial_state, mode, chunk_size, rows_per_token=1):
    check_mode(op, mode, MODES)
    check_chunk_size(op, chunk_size)
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"q, k, v must be [B, T, H, D], got q {tuple(q.shape)}, k {tuple(k.shape)}, "
                         f"v {tuple(v.shape)}")
    b, t, h, dk = q.shape
    rows = (b, t * rows_per_token, h)
    if q.shape[1] == 0:
        raise ValueError(f"q has an empty time dimension: shape {tuple(q.shape)}")
    if tuple(k.shape) != (*rows, dk) or tuple(v.shape[:3]) != rows:
        what = f"[B, T*{rows_per_token}, H, D]" if rows_per_token > 1 else "[B, T, H, D] like q"
        raise ValueError(f"k and v must be {what}; got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    if tuple(beta.shape) != rows:
        raise ValueError(f"beta must be {list(rows)} (B, T{'*n' if rows_per_token > 1 else ''}, H), "
                         f"got {tuple(beta.shape)}")
    if g is not None and tuple(g.shape) != (b, t, h):
        raise ValueError(f"g must be [B, T, H]={[b, t, h]}, got {tuple(g.shape)}")
    if initial_state is not None and tuple(initial_state.shape) != (b, h, dk, v.shape[-1]):
        raise ValueError(f"initial_state must be [B, H, K, V]={[b, h, dk, v.shape[-1]]}, "
                         f"got {tuple(initial_state.shape)}")


# -- reference -----------------------------------------------------------------------------------
def _recurrent(q, k, v, g, beta, scale, initial_state, rows_per_token=1):
    """The loop of the equations. q: [B, T, H, K]; k, v, beta: T*rows_per_token rows; g: [B, T, H] or None."""
    b, t, h, dk = q.shape
    s = q.new_zeros(b, h, dk, v.shape[-1]) if initial_state is None else initial_state
    # unbind, not k[:, j]: backward of indexing inside the loop writes a full-size gradient per step.
    k, v, beta = k.unbind(1), v.unbind(1), beta.unbind(1)
    decay = [None] * t if g is None else g.exp().unbind(1)
    outs = []
    for i, (q_i, a_i) in enumerate(zip(q.unbind(1), decay)):
        if a_i is not None:
            s = s * a_i[..., None, None]
        for j in range(i * rows_per_token, (i + 1) * rows_per_token):
            # (I - b k kᵀ) S + b k vᵀ  ==  S + k (b (v - Sᵀ k))ᵀ
            u = beta[j][..., None] * (v[j] - torch.einsum("bhkv,bhk->bhv", s, k[j]))
            s = s + k[j][..., :, None] * u[..., None, :]
        outs.append(torch.einsum("bhkv,bhk->bhv", s, q_i * scale))
    return torch.stack(outs, 1), s


# -- chunkwise (WY / UT transform) ----------------------------------------------------------------
def _to_chunks(x, rows):
    """[B, T, H, ...] -> [N, B*H, rows, ...] zero-padded; chunk-first so each chunk is one contiguous block."""
    t = x.shape[1]
    n = -(-t // rows)
    x = F.pad(x, (0, 0) * (x.dim() - 2) + (0, n * rows - t))
    x = x.reshape(x.shape[0], n, rows, *x.shape[2:])
    x = x.permute(1, 0, 3, 2, *range(4, x.dim())).contiguous()
    return x.flatten(1, 2)


def _solve_unit_lower(a, r):
    """(I + strict_lower(a))^{-1} r for a batch of [C, C] a; r: [C, M]. Solved as the transposed problem,
    which hands LAPACK column-major views of our row-major tensors (no copies)."""
    return torch.linalg.solve_triangular(a.mT, r.mT, upper=True, left=False, unitriangular=True).mT


def _chunk(q, k, v, g, beta, scale, initial_state, chunk_size, rows_per_token=1):
    """k: [B, R, H, K]; v: [B, R, H, V]; beta, g (per row, or None): [B, R, H]; q: [B, R / rows_per_token, H, K],
    read after the last row of each token (rows_per_token > 1 is DeltaProduct's layout)."""
    b, rows, h, dk = k.shape
    dv, m = v.shape[-1], rows_per_token
    c = min(max(chunk_size // m, 1) * m, rows)  # whole tokens per chunk
    # Padded rows have k = v = beta = g = 0: no write, no decay, so the final state is untouched.
    k, v, beta = _to_chunks(k, c), _to_chunks(v, c), _to_chunks(beta, c)[..., None]  # [N, B*H, C, .]
    q = _to_chunks(q * scale, c // m)  # [N, B*H, C/m, K]
    lower = torch.ones(c, c, dtype=torch.bool, device=k.device).tril()
    read = slice(None) if m == 1 else torch.arange(m - 1, c, m, device=k.device)  # query rows in a chunk
    k_beta = beta * k
    a = k_beta @ k.mT  # b_i k_iᵀ k_j; only its strict lower part is read
    qk = q @ k.mT
    if g is None:
        p = qk.masked_fill(~lower[read], 0)
        rhs = torch.cat((beta * v, k_beta), -1)
        q_decay, k_to_end, chunk_decay = q, k, None
    else:
        # G_i - G_j as the sum of g over (j, i], summed directly in float64 (segsum), never as a difference of
        # prefix sums: a -inf gate makes both prefix sums -inf and their difference NaN, and the difference of
        # two large float32 prefix sums would lose |G| * 1e-7 of the exponent in every decay factor.
        gd = _to_chunks(g, c).double()
        seg = segsum(gd)  # [N, B*H, C, C], -inf above the diagonal
        diff = seg.to(k.dtype).exp()  # exp(G_i - G_j), j <= i
        to_end = seg[..., -1, :].to(k.dtype)  # G_C - G_i: the sum over (i, C]
        gc = gd.cumsum(-1).to(k.dtype)
        p = qk * diff[..., read, :]
        a = a * diff
        rhs = torch.cat((beta * v, k_beta * gc.exp()[..., None]), -1)
        q_decay = q * gc[..., read].exp()[..., None]
        k_to_end = k * to_end.exp()[..., None]
        chunk_decay = gc[..., -1].exp()[..., None, None]  # [N, B*H, 1, 1]
    u_tilde, w = _solve_unit_lower(a, rhs).split((dv, dk), -1)  # one solve for both right-hand sides
    s = k.new_zeros(b * h, dk, dv) if initial_state is None else initial_state.reshape(b * h, dk, dv)
    # Only the chain of states runs in the loop (two small matmuls per chunk); the outputs are one batched
    # matmul over all chunks afterwards. unbind once: indexing chunk i inside the loop would make backward
    # scatter into a full-size zero tensor per chunk (quadratic in T).
    per_chunk = [x.unbind(0) for x in (u_tilde, w, k_to_end.mT.contiguous())]
    decays = [None] * k.shape[0] if chunk_decay is None else chunk_decay.unbind(0)
    states, us = [], []
    for (u_t, w_i, k_i), decay in zip(zip(*per_chunk), decays):
        states.append(s)
        us.append(torch.baddbmm(u_t, w_i, s, alpha=-1))  # U = U~ - W S_0
        s = torch.baddbmm(s if decay is None else decay * s, k_i, us[-1])
    outs = torch.baddbmm((p @ torch.stack(us)).flatten(0, 1), q_decay.flatten(0, 1), torch.stack(states).flatten(0, 1))
    o = outs.view(-1, b, h, c // m, dv).permute(1, 0, 3, 2, 4).reshape(b, -1, h, dv)
    return o[:, :rows // m], s.view(b, h, dk, dv)


# -- public ops ----------------------------------------------------------------------------------
@packable("delta_rule")
@autocast_safe
def delta_rule(q, k, v, beta, scale=None, initial_state=None, output_final_state=False, mode="auto",
               chunk_size=64):
    """DeltaNet (Schlag et al. 2021; Yang et al. 2024, eq. 1): S_t = (I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ,
    o_t = S_tᵀ (scale q_t).

    q, k: [B, T, H, K]; v: [B, T, H, V]; beta: [B, T, H]; initial_state: [B, H, K, V] or None.
    Returns (o [B, T, H, V] in q's dtype, S_T [B, H, K, V] or None).
    """
    _check("delta_rule", q, k, v, None, beta, initial_state, mode, chunk_size)
    return _run("delta_rule", q, k, v, None, beta, scale, initial_state, output_final_state, mode, chunk_size)


@packable("gated_delta_rule")
@autocast_safe
def gated_delta_rule(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False, mode="auto",
                     chunk_size=64):
    """Gated DeltaNet (Yang et al. 2025, eq. 10): S_t = exp(g_t)(I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ,
    o_t = S_tᵀ (scale q_t).

    q, k: [B, T, H, K]; v: [B, T, H, V]; g (log decay, <= 0): [B, T, H]; beta: [B, T, H];
    initial_state: [B, H, K, V] or None. Returns (o [B, T, H, V] in q's dtype, S_T [B, H, K, V] or None).
    """
    _check("gated_delta_rule", q, k, v, g, beta, initial_state, mode, chunk_size)
    return _run("gated_delta_rule", q, k, v, g, beta, scale, initial_state, output_final_state, mode, chunk_size)


@packable("delta_product")
@autocast_safe
def delta_product(q, k, v, g, beta, num_householder=2, scale=None, initial_state=None,
                  output_final_state=False, mode="auto", chunk_size=64):
    """DeltaProduct (Siems et al. 2025, eq. 4): per token, n = num_householder delta steps
    S <- (I - b_{t,j} k_{t,j} k_{t,j}ᵀ) S + b_{t,j} k_{t,j} v_{t,j}ᵀ (j = 1..n), the decay exp(g_t) applied
    once per token before its first step, then o_t = S_tᵀ (scale q_t).

    q: [B, T, H, K]; k: [B, T*n, H, K]; v: [B, T*n, H, V]; g: [B, T, H] or None (no decay); beta: [B, T*n, H],
    rows t*n + j (token-major, as fla); initial_state: [B, H, K, V] or None.
    Returns (o [B, T, H, V] in q's dtype, S_T [B, H, K, V] or None). ``chunk_size`` counts rows of k, rounded down to
    whole tokens.
    """
    if num_householder < 1:
        raise ValueError(f"num_householder must be >= 1, got {num_householder}")
    _check("delta_product", q, k, v, g, beta, initial_state, mode, chunk_size, rows_per_token=num_householder)
    return _run("delta_product", q, k, v, g, beta, scale, initial_state, output_final_state, mode, chunk_size,
                num_householder)


def _run(op, q, k, v, g, beta, scale, initial_state, output_final_state, mode, chunk_size, rows_per_token=1):
    """g: [B, T, H] per token or None; k, v, beta: T * rows_per_token rows."""
    dtype = q.dtype
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    q, k, v, g, beta, initial_state = upcast(q, k, v, g, beta, initial_state, op=op)
    mode = kernels.resolve(mode, KERNEL, q, k, v, g, beta, initial_state, fits=kernel.fits(q, v))
    if mode == "kernel":  # the erase vector b k and the value b v formed here: dbeta by autograd
        o, s = kernel.kernel_recurrence(q * scale, k, beta[..., None] * k, beta[..., None] * v, g, initial_state)
    elif mode == "recurrent":
        o, s = _recurrent(q, k, v, g, beta, scale, initial_state, rows_per_token)
    else:
        if g is not None and rows_per_token > 1:  # one gated delta rule on the rows, the decay on each token's first
            b, t, h = g.shape
            g = torch.cat((g[:, :, None], g.new_zeros(b, t, rows_per_token - 1, h)), 2).reshape(b, -1, h)
        o, s = _chunk(q, k, v, g, beta, scale, initial_state, chunk_size, rows_per_token)
    return o.to(dtype), (s if output_final_state else None)
