"""Shared pieces of the chunkwise-parallel forms (simple_gla, gla, linear_attention, mlstm).

A sequence is cut into chunks of C tokens (the last one zero-padded: a zero key writes nothing and a
zero log-decay decays nothing, so padding never changes the real outputs or the final state). Inside a
chunk the work is masked matmuls; across chunks the state ``[B, H, K, V]`` is passed by one more
matmul over chunk indices.
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


def compute_dtype(*tensors) -> torch.dtype:
    """float32 at least; float64 stays float64."""
    dtype = torch.float32
    for t in tensors:
        if t is not None:
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


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

    Computed in parallel over chunks (Mamba-2's state passing): with the initial state as write number
    0 and chunk n's write as number n+1, state n = sum_{m <= n} exp(segsum(log decay)[n, m]) write m.
    Segment sums over chunk totals are summed directly, so exponents are <= 0 and never cancel.
    """
    from rnnzoo.ops.simple_gla import segsum  # here to keep the module import order one-way

    writes = torch.cat((initial_state[:, :, None], k_to_end.transpose(-1, -2) @ v), 2)  # [B, H, N+1, K, V]
    log_decay = torch.cat((torch.zeros_like(chunk_log_decay[:, :, :1]), chunk_log_decay), 2)
    weights = segsum(log_decay.movedim(2, -1)).exp()  # [B, H, K or 1, N+1, N+1]
    b, h, n1, dk, dv = writes.shape
    if weights.shape[2] == 1:
        states = (weights[:, :, 0] @ writes.reshape(b, h, n1, dk * dv)).view(b, h, n1, dk, dv)
    else:
        states = (weights @ writes.transpose(2, 3)).transpose(2, 3)
    return states[:, :, :-1], states[:, :, -1]
