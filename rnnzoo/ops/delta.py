"""Delta-rule recurrences: ``delta_rule`` (DeltaNet), ``gated_delta_rule`` (Gated DeltaNet) and
``delta_product`` (DeltaProduct), each with a reference loop and a chunkwise-parallel form.

    delta_rule:        S_t = (I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ                 o_t = S_tᵀ (scale q_t)
    gated_delta_rule:  S_t = exp(g_t) (I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ
    delta_product:     n_h delta steps per token, decay exp(g_t) once per token, output after the last step

Layout ``[B, T, H, D]``, state ``S: [B, H, K, V]``, log-space gates ``g <= 0``, ``scale=None`` -> K**-0.5.
Ops never normalise q/k (DeltaNet's mixer L2-normalises them); beta in [0, 2] gives negative
eigenvalues (Grazzi et al. 2024).

``mode="chunk"`` is the WY/UT-transform form of Yang et al. 2024 (Parallelizing Linear Transformers
with the Delta Rule over Sequence Length, Sec. 3), with the decay of Yang et al. 2025 (Gated Delta
Networks, Sec. 3.3). Writing the step as S_i = exp(g_i) S_{i-1} + k_i u_iᵀ with the pseudo-value
u_i = b_i (v_i - exp(g_i) S_{i-1}ᵀ k_i), and G_i the cumulative log decay from the chunk start:

    (I + A) U = diag(b) V - diag(b exp(G)) K S_0,     A_ij = b_i exp(G_i - G_j) k_iᵀ k_j  (j < i)
    O   = diag(exp(G)) Q S_0 + (Q Kᵀ ∘ exp(G_i - G_j) ∘ [j <= i]) U
    S_C = exp(G_C) S_0 + (exp(G_C - G) ∘ K)ᵀ U

so with T = (I + A)^{-1} (one unit-lower-triangular solve per chunk, all chunks at once),
U = T diag(b) V - T diag(b exp(G)) K S_0 = U~ - W S_0. Only the S_0-dependent part runs in a loop over
chunks (four small matmuls per chunk). Every exponent is a difference G_i - G_j <= 0 inside one chunk,
so strong decay never overflows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MODES = ("recurrent", "chunk")


# -- checks --------------------------------------------------------------------------------------
def _check(q, k, v, beta, g, initial_state, mode, chunk_size, rows_per_token=1, g_name="g"):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
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
        raise ValueError(f"{g_name} must be [B, T, H]={[b, t, h]}, got {tuple(g.shape)}")
    if initial_state is not None and tuple(initial_state.shape) != (b, h, dk, v.shape[-1]):
        raise ValueError(f"initial_state must be [B, H, K, V]={[b, h, dk, v.shape[-1]]}, "
                         f"got {tuple(initial_state.shape)}")


def _upcast(*xs):
    """float32 at least; bf16/fp16 inputs are computed in float32."""
    return [None if x is None else (x if x.dtype in (torch.float32, torch.float64) else x.float()) for x in xs]


def _finish(o, state, dtype, output_final_state):
    return o.to(dtype), (state.to(dtype) if output_final_state else None)


# -- reference -----------------------------------------------------------------------------------
def _recurrent(q, k, v, beta, g, scale, initial_state, rows_per_token=1):
    """The loop of the equations. q: [B, T, H, K]; k, beta rows: T*rows_per_token; g: [B, T, H] or None."""
    b, t, h, dk = q.shape
    s = q.new_zeros(b, h, dk, v.shape[-1]) if initial_state is None else initial_state
    outs = []
    for i in range(t):
        if g is not None:
            s = s * g[:, i].exp()[..., None, None]
        for j in range(i * rows_per_token, (i + 1) * rows_per_token):
            k_j, v_j, b_j = k[:, j], v[:, j], beta[:, j, :, None]
            # (I - b k kᵀ) S + b k vᵀ  ==  S + k (b (v - Sᵀ k))ᵀ
            u = b_j * (v_j - torch.einsum("bhkv,bhk->bhv", s, k_j))
            s = s + k_j[..., :, None] * u[..., None, :]
        outs.append(torch.einsum("bhkv,bhk->bhv", s, q[:, i] * scale))
    return torch.stack(outs, 1), s


# -- chunkwise (WY / UT transform) ----------------------------------------------------------------
def _chunk(q, k, v, beta, g, scale, initial_state, chunk_size):
    """One row of q per row of k. q, k: [B, T, H, K]; v: [B, T, H, V]; beta: [B, T, H]; g: [B, T, H] or None."""
    b, t, h, dk = k.shape
    dv = v.shape[-1]
    c = min(chunk_size, t)
    n = -(-t // c)
    pad = n * c - t
    # Padded rows have k = v = beta = g = 0: no write, no decay, so the final state is untouched.
    q, k, v = (F.pad(x, (0, 0, 0, 0, 0, pad)).transpose(1, 2).reshape(b, h, n, c, -1) for x in (q, k, v))
    beta = F.pad(beta, (0, 0, 0, pad)).transpose(1, 2).reshape(b, h, n, c)
    q = q * scale
    lower = torch.ones(c, c, dtype=torch.bool, device=k.device).tril()
    strict = torch.ones(c, c, dtype=torch.bool, device=k.device).tril(-1)
    kk = k @ k.transpose(-1, -2)
    qk = q @ k.transpose(-1, -2)
    if g is None:
        a = (beta[..., None] * kk).masked_fill(~strict, 0)
        p = qk.masked_fill(~lower, 0)
        k_beta_decay = beta[..., None] * k
        q_decay, k_to_end, chunk_decay = q, k, None
    else:
        # G_i within each chunk, summed in float64: G_i - G_j of two large float32 prefix sums would lose
        # |G| * 1e-7 of the exponent, a relative error of that size in every decay factor.
        gc = F.pad(g, (0, 0, 0, pad)).transpose(1, 2).reshape(b, h, n, c).double().cumsum(-1)
        diff = (gc[..., :, None] - gc[..., None, :]).to(k.dtype)
        diff = diff.masked_fill(~lower, float("-inf")).exp()  # exp(G_i - G_j), j <= i
        to_end = (gc[..., -1:] - gc).to(k.dtype)
        gc = gc.to(k.dtype)
        a = (beta[..., None] * kk * diff).masked_fill(~strict, 0)
        p = qk * diff
        k_beta_decay = (beta * gc.exp())[..., None] * k
        q_decay = q * gc.exp()[..., None]
        k_to_end = k * to_end.exp()[..., None]
        chunk_decay = gc[..., -1].exp()[..., None, None]  # [B, H, N, 1, 1]
    eye = torch.eye(c, dtype=k.dtype, device=k.device)
    rhs = torch.cat((beta[..., None] * v, k_beta_decay), -1)
    sol = torch.linalg.solve_triangular(eye + a, rhs, upper=False, unitriangular=True)
    u_tilde, w = sol[..., :dv], sol[..., dv:]
    s = k.new_zeros(b, h, dk, dv) if initial_state is None else initial_state
    outs = []
    for i in range(n):
        u = u_tilde[:, :, i] - w[:, :, i] @ s
        outs.append(q_decay[:, :, i] @ s + p[:, :, i] @ u)
        s_next = k_to_end[:, :, i].transpose(-1, -2) @ u
        s = s + s_next if chunk_decay is None else chunk_decay[:, :, i] * s + s_next
    o = torch.stack(outs, 2).reshape(b, h, n * c, dv)[:, :, :t].transpose(1, 2)
    return o, s


# -- public ops ----------------------------------------------------------------------------------
def delta_rule(q, k, v, beta, scale=None, initial_state=None, output_final_state=False, mode="chunk",
               chunk_size=64):
    """DeltaNet (Schlag et al. 2021; Yang et al. 2024, eq. 1): S_t = (I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ,
    o_t = S_tᵀ (scale q_t).

    q, k: [B, T, H, K]; v: [B, T, H, V]; beta: [B, T, H]; initial_state: [B, H, K, V] or None.
    Returns (o [B, T, H, V], S_T [B, H, K, V] or None).
    """
    _check(q, k, v, beta, None, initial_state, mode, chunk_size)
    return _run(q, k, v, beta, None, scale, initial_state, output_final_state, mode, chunk_size)


def gated_delta_rule(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False, mode="chunk",
                     chunk_size=64):
    """Gated DeltaNet (Yang et al. 2025, eq. 10): S_t = exp(g_t)(I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ,
    o_t = S_tᵀ (scale q_t).

    q, k: [B, T, H, K]; v: [B, T, H, V]; g (log decay, <= 0): [B, T, H]; beta: [B, T, H];
    initial_state: [B, H, K, V] or None. Returns (o [B, T, H, V], S_T [B, H, K, V] or None).
    """
    _check(q, k, v, beta, g, initial_state, mode, chunk_size)
    return _run(q, k, v, beta, g, scale, initial_state, output_final_state, mode, chunk_size)


def delta_product(q, k, v, beta, g=None, num_householder=2, scale=None, initial_state=None,
                  output_final_state=False, mode="chunk", chunk_size=64):
    """DeltaProduct (Siems et al. 2025, eq. 4): per token, n = num_householder delta steps
    S <- (I - b_{t,j} k_{t,j} k_{t,j}ᵀ) S + b_{t,j} k_{t,j} v_{t,j}ᵀ (j = 1..n), the decay exp(g_t) applied
    once per token before its first step, then o_t = S_tᵀ (scale q_t).

    q: [B, T, H, K]; k: [B, T*n, H, K]; v: [B, T*n, H, V]; beta: [B, T*n, H], rows t*n + j (token-major,
    as fla); g: [B, T, H] or None; initial_state: [B, H, K, V] or None.
    Returns (o [B, T, H, V], S_T [B, H, K, V] or None). ``chunk_size`` counts rows of k (T*n of them).
    """
    if num_householder < 1:
        raise ValueError(f"num_householder must be >= 1, got {num_householder}")
    _check(q, k, v, beta, g, initial_state, mode, chunk_size, rows_per_token=num_householder)
    n = num_householder
    if mode == "recurrent" or n == 1:
        return _run(q, k, v, beta, g, scale, initial_state, output_final_state, mode, chunk_size, n)
    # One gated delta rule on the T*n rows: the decay sits on each token's first row and q on its last.
    b, t, h, dk = q.shape
    q_rows = q.new_zeros(b, t, n, h, dk)
    q_rows[:, :, -1] = q
    g_rows = None
    if g is not None:
        g_rows = g.new_zeros(b, t, n, h)
        g_rows[:, :, 0] = g
        g_rows = g_rows.reshape(b, t * n, h)
    scale = dk ** -0.5 if scale is None else scale
    o, s = _run(q_rows.reshape(b, t * n, h, dk), k, v, beta, g_rows, scale, initial_state, output_final_state,
                mode, chunk_size)
    return o.reshape(b, t, n, h, -1)[:, :, -1], s


def _run(q, k, v, beta, g, scale, initial_state, output_final_state, mode, chunk_size, rows_per_token=1):
    dtype = q.dtype
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    q, k, v, beta, g, initial_state = _upcast(q, k, v, beta, g, initial_state)
    if mode == "recurrent":
        o, s = _recurrent(q, k, v, beta, g, scale, initial_state, rows_per_token)
    else:
        o, s = _chunk(q, k, v, beta, g, scale, initial_state, chunk_size)
    return _finish(o, s, dtype, output_final_state)
