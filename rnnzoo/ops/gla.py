"""``gla``: Gated Linear Attention with a per-key-channel decay (Yang et al. 2024, GLA, eq. 3-4).

    S_t = diag(exp(gk_t)) S_{t-1} + k_t v_tᵀ,     o_t = S_tᵀ (scale · q_t)

with ``gk_t <= 0`` (log space) of shape [K] per head. Used by GLA, HGRN2 (k = 1 - forget gate),
LightNet (additive decay) and, without its normaliser, mLSTM.

Modes: ``"recurrent"`` is the loop above. ``"chunk"`` is chunkwise: the state enters each chunk through
q_i * exp(b_i) and leaves through k_j * exp(b_C - b_j) (b: in-chunk cumulative log decay, so both
exponents are <= 0). The intra-chunk weights sum_k q_ik k_jk exp(b_ik - b_jk) cannot be split into
q exp(b) · k exp(-b) without overflow under strong decay, so they are built by halving (the secondary
chunking of GLA sec. 4.2, taken recursively): at every level, query block R and key block L (L just
before R) are both rescaled to the boundary between them, ref = b at L's last token, giving
q_R exp(b_R - ref) · k_L exp(ref - b_L) with both exponents <= 0, and one [s, K] x [K, s] matmul per
block pair. log2(C) levels cover every pair i > j exactly once; the diagonal i = j has weight 1.
When no chunk decays by more than ``DIRECT_MAX_SPAN`` nats in any channel (the common case: GLA's gates
are logsigmoid / 16), one masked matmul around the chunk's middle token replaces the halving.
The gradient of gk comes from the identity of ``_chunk.detach_decay``.

``"kernel"`` is the loop above compiled for CPU (``kernels/csrc/linear_attention.c``, shared with ``simple_gla``) with a
hand-written backward that takes dgk directly; ``"auto"`` (default) takes it on the same terms as
``simple_gla`` (``kernels.resolve`` with ``kernels.linear_attention.fits``), else ``"chunk"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops import kernels
from rnnzoo.ops._chunk import check_qkv, detach_decay, final_state_decay_grad, from_chunks, pass_states, to_chunks
from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.kernels import linear_attention as kernel
from rnnzoo.ops.kernels import upstream
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk", "kernel", "auto")
KERNEL = "linear_attention"  # the compiled CPU kernel (rnnzoo/ops/kernels) of the "kernel" mode
DIRECT_MAX_SPAN = 20.0  # nats of decay across one chunk up to which the one-matmul intra-chunk form is used


@packable("gla")
@autocast_safe
def gla(q, k, v, gk, scale=None, initial_state=None, output_final_state=False, mode="auto", chunk_size=64):
    """q, k: [B, T, H, K]; v: [B, T, H, V]; gk: [B, T, H, K] log decay (<= 0); initial_state: [B, H, K, V].

    chunk_size must be a power of two. scale=None means K**-0.5.
    Returns (o [B, T, H, V] in q's dtype, S_T [B, H, K, V] float32 (float64 for float64 inputs) or None).
    """
    check_mode("gla", mode, MODES)
    check_qkv(q, k, v, initial_state, "gla")
    if gk.shape != q.shape:
        raise ValueError(f"gla: gk must be [B, T, H, K] like q {tuple(q.shape)}, got {tuple(gk.shape)}")
    check_chunk_size("gla", chunk_size)
    if chunk_size & (chunk_size - 1):
        raise ValueError(f"gla: chunk_size must be a power of two, got {chunk_size}")
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    if (fn := upstream.dispatch("gla", mode, q)) is not None:  # CUDA with flash-linear-attention installed
        return fn(q, k, v, gk, scale=scale, initial_state=initial_state, output_final_state=output_final_state)
    qf, k, v, gk, s0 = upcast(q, k, v, gk, initial_state, op="gla")
    b, t, h, dk = q.shape
    mode = kernels.resolve(mode, KERNEL, qf, k, v, gk, s0, fits=kernel.fits(qf, v))
    if mode == "kernel":
        o, s = kernel.kernel_recurrence(qf * scale, k, v, gk, s0)
    else:
        s = s0 if s0 is not None else qf.new_zeros(b, h, dk, v.shape[-1])
        fn = _recurrent if mode == "recurrent" else _chunk
        o, s = fn(qf * scale, k, v, gk, s, chunk_size)
    return o.to(q.dtype), (s if output_final_state else None)


def _recurrent(q, k, v, gk, s, chunk_size):
    # steps by unbind: indexing [:, t] would make backward add a full-size zero gradient per step (O(T^2))
    out = []
    for q_t, k_t, v_t, g_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), gk.unbind(1)):
        s = g_t[:, :, :, None].exp() * s + k_t[:, :, :, None] * v_t[:, :, None, :]
        out.append(torch.einsum("bhk,bhkv->bhv", q_t, s))
    return torch.stack(out, 1), s


def _chunk(q, k, v, gk_in, s, chunk_size):
    q, k, gk = detach_decay(q, k, gk_in)  # dgk by identity, not through the decay factors
    t = q.shape[1]
    c = min(chunk_size, 1 << (t - 1).bit_length())  # a power of two, no bigger than needed
    q, k, v, g = (to_chunks(x, c) for x in (q, k, v, gk))  # [B, H, N, C, D]
    b = g.cumsum(-2)  # log decay from the chunk start to token i, inclusive
    if -b[..., -1, :].min() <= DIRECT_MAX_SPAN:
        o = _intra_direct(q, k, v, b)
    else:
        o = _intra(q, k, v, g)
    states, s = pass_states(k * _suffix(g).exp(), v, b[..., -1, :], s)
    o = o + (q * b.exp()) @ states
    return from_chunks(o, t), final_state_decay_grad(s, gk_in)


def _intra_direct(q, k, v, b):
    """The intra-chunk part in one masked matmul, for chunks whose total decay is at most DIRECT_MAX_SPAN:
    weights q_i exp(b_i - b_m) . k_j exp(b_m - b_j) around the chunk's middle token m, every factor within
    exp(+-span) of 1, so nothing overflows and the cumsum differences lose under span * 1e-7."""
    ref = b[..., b.shape[-2] // 2, None, :]
    a = (q * (b - ref).exp()) @ (k * (ref - b).exp()).transpose(-1, -2)  # [B, H, N, C, C]
    return a.tril() @ v


def _suffix(g):
    """Sum of g over (j, end of block] along dim -2, summed directly (no difference of large cumsums)."""
    after = F.pad(g[..., 1:, :], (0, 0, 0, 1))
    return after.flip(-2).cumsum(-2).flip(-2)


def _intra(q, k, v, g):
    """sum_{j<=i} (sum_k q_ik k_jk exp(G_ik - G_jk)) v_j within each chunk, by recursive halving."""
    *lead, c, _ = q.shape
    o = (q * k).sum(-1, keepdim=True) * v
    size = 1
    while size < c:
        pairs = c // (2 * size)
        qq, kk, vv, gg = (x.reshape(*lead, pairs, 2, size, x.shape[-1]) for x in (q, k, v, g))
        # Both blocks are rescaled to the boundary between them: exponents <= 0.
        q_right = qq[..., 1, :, :] * gg[..., 1, :, :].cumsum(-2).exp()
        k_left = kk[..., 0, :, :] * _suffix(gg[..., 0, :, :]).exp()
        o_right = (q_right @ k_left.transpose(-1, -2)) @ vv[..., 0, :, :].contiguous()
        blocks = o.view(*lead, pairs, 2 * size, o.shape[-1])
        o = torch.cat((blocks[..., :size, :], blocks[..., size:, :] + o_right), -2).view(o.shape)
        size *= 2
    return o
