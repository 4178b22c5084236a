"""Implicit attention matrices: the [B, H, T, T] matrix M by which a mixer maps its values to its outputs,
o[b, t, h] = sum_s M[b, h, t, s] v[b, s, h] (Sieber et al. 2024, Understanding the differences in Foundation
Models: Attention, State Space Models, and Recurrent Neural Networks (the Dynamical Systems Framework);
Hwang et al. 2024, Hydra: Bidirectional State Space Models Through Generalized Matrix Mixers).

Each function builds M in closed form from the quantities the op reads (queries, keys, log decays, write
strengths), so it is the matrix the recurrence applies, not a probe of it: entry (t, s) is the query at t read
through the transitions from s+1 to t onto the key written at s. Entries above the diagonal are zero (causal).
Memory is O(B H T²) (``channel_decay_matrix`` and ``selective_scan_matrix`` O(B H T² K)): for inspection at
short T, not for training.
"""

from __future__ import annotations

import torch


def segsum(g: torch.Tensor) -> torch.Tensor:
    """g: [B, T, H] log decays -> [B, H, T, T] with entry (t, s) = sum_{r=s+1..t} g_r for s <= t, -inf above.

    Summed directly over the masked window (not as cumsum_t - cumsum_s), so long sequences lose no precision."""
    t = g.shape[1]
    x = g.transpose(1, 2)[..., None].expand(*g.shape[:1], g.shape[2], t, t)  # [B, H, T(r), T(s)]
    x = x.masked_fill(~torch.tril(torch.ones(t, t, dtype=torch.bool, device=g.device), -1), 0)
    out = x.cumsum(-2)  # [B, H, T(t), T(s)]: sum over r in (s, t]
    return out.masked_fill(~torch.tril(torch.ones(t, t, dtype=torch.bool, device=g.device)), float("-inf"))


def scalar_decay_matrix(q: torch.Tensor, k: torch.Tensor, g: torch.Tensor | None = None,
                        scale: float | None = None) -> torch.Tensor:
    """q, k: [B, T, H, K]; g: [B, T, H] log decay per head and step (None: no decay) -> M [B, H, T, T].

    M[t, s] = scale q_t·k_s exp(g_{s+1} + ... + g_t) for s <= t: the matrix of ``simple_gla``
    (``linear_attention`` with g = 0, RetNet and Lightning with fixed g, SSD with scale 1)."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    if g is None:
        g = q.new_zeros(q.shape[:3])
    return scale * torch.einsum("bthk,bshk->bhts", q, k) * segsum(g).exp()


def channel_decay_matrix(q: torch.Tensor, k: torch.Tensor, gk: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """q, k, gk: [B, T, H, K] (gk log decay per key channel) -> M [B, H, T, T], the matrix of ``gla``:
    M[t, s] = scale sum_c q_t[c] k_s[c] exp(gk_{s+1}[c] + ... + gk_t[c]) for s <= t."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    decay = torch.stack([segsum(gk[..., c]) for c in range(gk.shape[-1])], -1).exp()  # [B, H, T, T, K]
    return scale * torch.einsum("bthk,bshk,bhtsk->bhts", q, k, decay)


def delta_matrix(q: torch.Tensor, k: torch.Tensor, beta: torch.Tensor, g: torch.Tensor | None = None,
                 scale: float | None = None) -> torch.Tensor:
    """q, k: [B, T, H, K]; beta: [B, T, H]; g: [B, T, H] log decay or None -> M [B, H, T, T], the matrix of the
    (gated) delta rule S_t = exp(g_t)(I - b_t k_t k_tᵀ) S_{t-1} + b_t k_t v_tᵀ, o_t = scale S_tᵀ q_t:

        M[t, s] = scale b_s q_tᵀ P_{t,s} k_s,   P_{t,s} = A_t A_{t-1} ... A_{s+1},  A_r = exp(g_r)(I - b_r k_r k_rᵀ)

    built by carrying u_s = P_{t,s} b_s k_s for every s <= t forward one transition at a time."""
    b, t, h, d = q.shape
    scale = d ** -0.5 if scale is None else scale
    u = q.new_zeros(b, h, t, d)  # u[:, :, s] = P_{t,s} b_s k_s (zero for s > t)
    rows = []
    for i in range(t):
        k_i = k[:, i]  # [B, H, K]
        u = u - beta[:, i, :, None, None] * k_i[:, :, None] * torch.einsum("bhk,bhsk->bhs", k_i, u)[..., None]
        if g is not None:
            u = u * g[:, i].exp()[..., None, None]
        u = torch.cat((u[:, :, :i], (beta[:, i, :, None] * k_i)[:, :, None], u[:, :, i + 1:]), 2)
        rows.append(scale * torch.einsum("bhk,bhsk->bhs", q[:, i], u))
    return torch.stack(rows, 2)


def selective_scan_matrix(delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                          D: torch.Tensor | None = None) -> torch.Tensor:
    """Mamba's S6 as a matrix per channel. delta: [B, D, T] (after softplus); A: [D, N]; B, C: [B, N, T];
    D: [D] skip or None -> M [B, D, T, T] with u -> y = M u per channel (before the z gate):

        M[c, t, s] = sum_n C_t[n] exp(sum_{r=s+1..t} delta_r[c] A[c, n]) delta_s[c] B_s[n]  (+ D[c] at t = s)"""
    t = delta.shape[-1]
    la = delta.transpose(1, 2)[..., None] * A  # [B, T, D, N] log transition
    decay = torch.stack([segsum(la[..., n]) for n in range(A.shape[1])], -1).exp()  # [B, D, T, T, N]
    m = torch.einsum("bnt,bns,bdtsn->bdts", C, B, decay) * delta[:, :, None, :]
    if D is not None:
        m = m + D[:, None, None] * torch.eye(t, dtype=m.dtype, device=m.device)
    return m


def softmax_matrix(q: torch.Tensor, k: torch.Tensor, scale: float | None = None,
                   window: int | None = None) -> torch.Tensor:
    """q, k: [B, T, H, K] -> the causal attention matrix softmax(scale q kᵀ) [B, H, T, T] (keys older than
    ``window`` masked out)."""
    t = q.shape[1]
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = scale * torch.einsum("bthk,bshk->bhts", q, k)
    i = torch.arange(t, device=q.device)
    keep = i[None, :] <= i[:, None]
    if window is not None:
        keep = keep & (i[:, None] - i[None, :] < window)
    return scores.masked_fill(~keep, float("-inf")).softmax(-1)
