"""Shared pieces of the chunkwise-parallel forms (simple_gla, gla, linear_attention, mlstm).

A sequence is cut into chunks of C tokens (the last one zero-padded: a zero key writes nothing and a
zero log-decay decays nothing, so padding never changes the real outputs or the final state). Inside a
chunk the work is masked matmuls; across chunks the state ``[B, H, K, V]`` is passed by one more
loop over the chunks.
All decays are taken relative to a chunk boundary so every exponent is <= 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_qkv(q, k, v, initial_state, name: str) -> None:
    """q, k: [B, T, H, K]; v: [B, T, H, V]; initial_state: [B, H, K, V] or None."""
    if q.dim() != 4 or k.shape != q.shape or v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"{name}: q, k must be [B, T, H, K] and v [B, T, H, V]; got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    if q.shape[1] == 0:
        raise ValueError(f"{name}: empty time dimension in q {tuple(q.shape)}")
    b, _, h, dk = q.shape
    if initial_state is not None and tuple(initial_state.shape) != (b, h, dk, v.shape[-1]):
        raise ValueError(f"{name}: initial_state must be [B, H, K, V]={[b, h, dk, v.shape[-1]]}, "
                         f"got {tuple(initial_state.shape)}")


def to_chunks(x: torch.Tensor, chunk_size: int, value: float = 0.0) -> torch.Tensor:
    """[B, T, H, *D] -> [B, H, N, C, *D], time padded at the end with ``value`` up to N*C."""
    x = x.movedim(1, 2)  # [B, H, T, *D]
    pad = (-x.shape[2]) % chunk_size
    if pad:
        widths = [0, 0] * (x.dim() - 3) + [0, pad]
        x = F.pad(x, widths, value=value)
    return x.reshape(*x.shape[:2], -1, chunk_size, *x.shape[3:]).contiguous()


def from_chunks(o: torch.Tensor, seqlen: int) -> torch.Tensor:
    """[B, H, N, C, D] -> [B, T, H, D] with the padding dropped."""
    b, h, n, c, d = o.shape
    return o.reshape(b, h, n * c, d)[:, :, :seqlen].transpose(1, 2)


def pass_states(k_to_end: torch.Tensor, v: torch.Tensor, chunk_log_decay: torch.Tensor,
                initial_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The state entering every chunk, and the final state.

    k_to_end: [B, H, N, C, K] keys already decayed to their chunk's end; v: [B, H, N, C, V];
    chunk_log_decay: [B, H, N, K or 1], the log decay of a whole chunk; initial_state: [B, H, K, V].
    Returns (states [B, H, N, K, V], S_T [B, H, K, V]).

    Every chunk's write ``k_to_end^T v`` is one batched matmul; the writes are then accumulated by the
    chunk-level recurrence S_{n+1} = exp(decay_n) S_n + write_n, a loop over the T/C chunks (as in
    flash-linear-attention's ``chunk_fwd_h``). On CPU this is cheaper than Mamba-2's all-pairs form,
    which multiplies an [N+1, N+1] decay matrix into the writes: O(N^2 K V) work per head, and an
    [N+1, N+1] mask per key channel for ``gla``. Steps go by ``unbind`` so backward stays O(N).
    """
    writes = k_to_end.transpose(-1, -2) @ v  # [B, H, N, K, V]
    decays = chunk_log_decay.exp()[..., None]  # [B, H, N, K or 1, 1]
    s, states = initial_state, []
    for write, decay in zip(writes.unbind(2), decays.unbind(2)):
        states.append(s)
        s = decay * s + write
    return torch.stack(states, 2), s


def detach_decay(q: torch.Tensor, k: torch.Tensor, g: torch.Tensor):
    """Returns (q, k, g detached); run the chunked form on these, then pass its final state through
    ``final_state_decay_grad``. The gradient of the log decay ``g`` then comes from an identity instead of
    autograd through every exponentiated decay mask (flash-linear-attention's ``chunk_simple_gla`` /
    ``chunk_gla`` backward, where dg is a reverse cumsum).

    With b_t = sum_{u<=t} g_u the output depends on b only through q_t e^{b_t}, k_s e^{-b_s} and the
    final state e^{b_T}(...), so dL/db_t = q_t . dq_t - k_t . dk_t (+ <dS_T, S_T> at t = T), with dq, dk
    the gradients for a fixed g; then dL/dg_u = sum_{t>=u} dL/db_t. q, k: [B, T, H, K]; g: [B, T, H] (one
    decay per head: dot products over K) or [B, T, H, K] (per key channel: elementwise).
    """
    if not g.requires_grad:
        return q, k, g
    q, k = _DecayGradFromQK.apply(q, k, g)
    return q, k, g.detach()


def final_state_decay_grad(s: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Identity on the final state s [B, H, K, V]; its backward adds <dS_T, S_T> to dL/dg_u for every u
    (every g_u scales S_T through e^{b_T}). g: the undetached decay given to ``detach_decay``."""
    return _DecayGradFromState.apply(s, g) if g.requires_grad else s


class _DecayGradFromQK(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, g):
        ctx.save_for_backward(q, k)
        ctx.per_head = g.dim() == 3
        return q.view_as(q), k.view_as(k)

    @staticmethod
    def backward(ctx, dq, dk):
        q, k = ctx.saved_tensors
        dq = torch.zeros_like(q) if dq is None else dq
        dk = torch.zeros_like(k) if dk is None else dk
        db = q * dq - k * dk
        if ctx.per_head:
            db = db.sum(-1)
        return dq, dk, db.flip(1).cumsum(1).flip(1)  # sum over t >= u (not total - prefix: that cancels)


class _DecayGradFromState(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s, g):
        ctx.save_for_backward(s)
        ctx.g_shape, ctx.g_dtype = g.shape, g.dtype
        return s.view_as(s)

    @staticmethod
    def backward(ctx, ds):
        (s,) = ctx.saved_tensors
        term = (ds * s).sum(-1)  # [B, H, K]
        if len(ctx.g_shape) == 3:
            term = term.sum(-1)  # [B, H]
        return ds, term[:, None].expand(ctx.g_shape).to(ctx.g_dtype)


def segsum(g: torch.Tensor) -> torch.Tensor:
    """[..., C] -> [..., C, C]: entry (i, j) = sum of g over (j, i] for j <= i, -inf above the diagonal.

    Summed directly rather than as cumsum_i - cumsum_j: the difference of two large cumulative sums
    loses the small segment sums that matter under strong decay (Mamba-2's segsum).
    """
    c = g.shape[-1]
    strict = torch.ones(c, c, dtype=torch.bool, device=g.device).tril(-1)
    seg = g[..., :, None].masked_fill(~strict, 0.0).cumsum(-2)
    return seg.masked_fill(~strict.logical_or(torch.eye(c, dtype=torch.bool, device=g.device)), float("-inf"))
