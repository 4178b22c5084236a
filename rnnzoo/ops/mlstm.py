"""``mlstm``: xLSTM's matrix-memory LSTM cell with exponential gating (Beck et al. 2024, xLSTM, eq. 19-27,
stabilised as in its appendix / NX-AI's ``parallel_stabilized_simple`` and recurrent step).

    m_t = max(f_t + m_{t-1}, i_t)                                   (stabiliser, log space)
    i'_t = exp(i_t - m_t),  f'_t = exp(f_t + m_{t-1} - m_t)
    C_t = f'_t C_{t-1} + i'_t k_t v_tᵀ,   n_t = f'_t n_{t-1} + i'_t k_t
    h_t = C_tᵀ q̃_t / (max(|n_tᵀ q̃_t|, exp(-m_t)) + eps),   q̃_t = scale · q_t

i: input-gate preactivation (exponential gate, log i = i); f: log forget gate (<= 0, e.g. logsigmoid of
its preactivation). C and n are stored divided by exp(m). The zero state has m = 0 (xLSTM's step).

``"chunk"``: unrolling the max gives m_t = max(max_{j<=t}(F_t - F_j + i_j), F_t + m_0) with F the
cumulative log forget gate, so within a chunk the weights exp(segsum(f)_ij + i_j - m_i) are all <= 1
and the state enters with exp(b_i + m_in - m_i) <= 1. A loop over chunks carries the scalar m; (C, n)
are then passed chunk to chunk (``pass_states``); n rides
along C as one extra value column of ones.

``"kernel"``: the loop compiled for CPU (``kernels/csrc/mlstm.c``, built on first use) with a hand-written backward;
``"auto"`` (the default) takes it for CPU float32/float64 tensors whose K and V are multiples of 16 (V <= 256)
wherever a C compiler is present (``kernels.resolve`` with ``kernels.mlstm.fits``), else ``"chunk"``.
"""

from __future__ import annotations

import torch

from rnnzoo.ops import kernels
from rnnzoo.ops._chunk import from_chunks, pass_states, segsum, to_chunks
from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.kernels import mlstm as kernel
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk", "kernel", "auto")
KERNEL = "mlstm"  # the compiled CPU kernel (rnnzoo/ops/kernels) of the "kernel" mode


@packable("mlstm")
@autocast_safe
def mlstm(q, k, v, i, f, scale=None, initial_state=None, output_final_state=False, mode="auto", chunk_size=64,
          eps=1e-6):
    """q, k: [B, T, H, K]; v: [B, T, H, V]; i, f: [B, T, H];
    initial_state: (C [B, H, K, V], n [B, H, K], m [B, H]) or None.
    Returns (h [B, T, H, V] in q's dtype, (C, n, m) float32 (float64 for float64 inputs) or None)."""
    check_mode("mlstm", mode, MODES)
    check_chunk_size("mlstm", chunk_size)
    if q.dim() != 4 or k.shape != q.shape or v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"mlstm: q, k must be [B, T, H, K] and v [B, T, H, V]; got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    if i.shape != q.shape[:3] or f.shape != q.shape[:3]:
        raise ValueError(f"mlstm: i and f must be [B, T, H]={list(q.shape[:3])}, got {tuple(i.shape)}, {tuple(f.shape)}")
    b, t, h, dk = q.shape
    dv = v.shape[-1]
    if initial_state is not None:
        shapes = [tuple(s.shape) for s in initial_state]
        if shapes != [(b, h, dk, dv), (b, h, dk), (b, h)]:
            raise ValueError(f"mlstm: initial_state must be (C [B,H,K,V], n [B,H,K], m [B,H]) for "
                             f"B,H,K,V={b},{h},{dk},{dv}; got shapes {shapes}")
    scale = dk ** -0.5 if scale is None else scale
    qf, k, v, i, f, *state = upcast(q, k, v, i, f, *(initial_state or ()), op="mlstm")
    if initial_state is None:
        c0, n0, m0 = qf.new_zeros(b, h, dk, dv), qf.new_zeros(b, h, dk), qf.new_zeros(b, h)
    else:
        c0, n0, m0 = state
    mode = kernels.resolve(mode, KERNEL, qf, k, v, i, f, c0, n0, m0, fits=kernel.fits(qf, v))
    if mode == "kernel":
        out, state = kernel.kernel_recurrence(qf * scale, k, v, i, f, c0, n0, m0, eps)
    else:
        fn = _recurrent if mode == "recurrent" else _chunk
        out, state = fn(qf * scale, k, v, i, f, c0, n0, m0, chunk_size, eps)
    return out.to(q.dtype), (state if output_final_state else None)


def _recurrent(q, k, v, i, f, c, n, m, chunk_size, eps):
    # steps by unbind: indexing [:, t] would make backward add a full-size zero gradient per step (O(T^2))
    out = []
    for q_t, k_t, v_t, i_t, f_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), i.unbind(1), f.unbind(1)):
        m_new = torch.maximum(f_t + m, i_t)
        fw, iw = (f_t + m - m_new).exp(), (i_t - m_new).exp()
        c = fw[..., None, None] * c + iw[..., None, None] * k_t[:, :, :, None] * v_t[:, :, None, :]
        n = fw[..., None] * n + iw[..., None] * k_t
        m = m_new
        num = torch.einsum("bhk,bhkv->bhv", q_t, c)
        den = torch.einsum("bhk,bhk->bh", q_t, n)
        out.append(num / (torch.maximum(den.abs(), (-m).exp()) + eps)[..., None])
    return torch.stack(out, 1), (c, n, m)


def _chunk(q, k, v, i, f, c0, n0, m0, chunk_size, eps):
    t, c = q.shape[1], min(chunk_size, q.shape[1])
    v = torch.cat((v, v.new_ones(*v.shape[:-1], 1)), -1)  # column V carries n
    q, k, v = (to_chunks(x, c) for x in (q, k, v))  # [B, H, N, C, D]
    f = to_chunks(f, c)  # [B, H, N, C]; padding: no decay
    i = to_chunks(i, c, value=float("-inf"))  # padding: no write
    log_w = segsum(f) + i[..., None, :]  # [B, H, N, C, C]: log weight of key j in row i, before m
    b = f.cumsum(-1)
    row_max = log_w.amax(-1)
    m_in, m = [], m0
    for chunk in range(q.shape[2]):
        m_in.append(m)
        m = torch.maximum(row_max[:, :, chunk, -1], b[:, :, chunk, -1] + m)
    m_in = torch.stack(m_in, 2)  # [B, H, N]: stabiliser entering each chunk
    m_row = torch.maximum(row_max, b + m_in[..., None])  # [B, H, N, C]
    m_end = m_row[..., -1]
    states, s = pass_states(k * (log_w[..., -1, :] - m_end[..., None]).exp()[..., None], v,
                            (b[..., -1] + m_in - m_end)[..., None], torch.cat((c0, n0[..., None]), -1))
    o = ((q @ k.transpose(-1, -2)) * (log_w - m_row[..., None]).exp()) @ v
    o = o + (b + m_in[..., None] - m_row).exp()[..., None] * (q @ states)
    num, den = o[..., :-1], o[..., -1:]
    o = num / (torch.maximum(den.abs(), (-m_row).exp()[..., None]) + eps)
    return from_chunks(o, t), (s[..., :-1], s[..., -1], m)
