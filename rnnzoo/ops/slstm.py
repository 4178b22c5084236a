"""sLSTM: scalar-memory LSTM with exponential gating (Beck et al., xLSTM, 2024, eqs. 8-17).

Per head, with pre-activations  a_t = W x_t + R h_{t-1} + b  split into (i~, f~, z~, o~):

    m_t = max(log sigmoid(f~) + m_{t-1}, i~)          stabiliser (eq. 15)
    i'  = exp(i~ - m_t),  f' = exp(log sigmoid(f~) + m_{t-1} - m_t)
    c_t = f' c_{t-1} + i' tanh(z~)                      cell (eq. 8)
    n_t = f' n_{t-1} + i'                               normaliser (eq. 9)
    h_t = sigmoid(o~) * c_t / n_t                       hidden (eq. 10)

The recurrent matrix R is block-diagonal: one [D, D] block per head and gate (FlashRNN's head-wise
recurrence). The stabiliser cancels in c_t / n_t, so starting from m_0 = 0 (instead of the paper's
special first step) gives the same outputs without a data-dependent branch.

The state (h, c, n, m) feeds back through R nonlinearly, so no parallel-in-time form exists; the
reference loop is the only mode. Input projections for all steps are computed before the loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops._common import autocast_safe, check_mode, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent",)  # the state feeds back through R nonlinearly: no parallel-in-time form


@packable("slstm")
@autocast_safe
def slstm(gx: torch.Tensor, r: torch.Tensor, initial_state=None, output_final_state: bool = False,
          mode: str = "recurrent"):
    """sLSTM scan over precomputed input pre-activations.

    gx: [B, T, H, 4, D] input pre-activations W x_t + b, gate order (i, f, z, o);
    r: [H, 4, D, D] head-wise recurrent weights (h_{t-1} @ r[h, g]);
    initial_state: (h, c, n, m), each [B, H, D].
    Returns (y [B, T, H, D] in gx's dtype, (h, c, n, m) float32 (float64 for float64 inputs) or None).
    """
    check_mode("slstm", mode, MODES)
    if gx.dim() != 5 or gx.shape[3] != 4:
        raise ValueError(f"gx must be [B, T, H, 4, D], got shape {tuple(gx.shape)}")
    b, t_len, h_n, _, d = gx.shape
    if r.shape != (h_n, 4, d, d):
        raise ValueError(f"r must be [H, 4, D, D]=[{h_n}, 4, {d}, {d}], got {tuple(r.shape)}")
    dtype = gx.dtype
    if initial_state is None:
        zeros = gx.new_zeros(b, h_n, d)
        initial_state = (zeros, zeros, zeros, zeros)
    gx, r, h, c, n, m = upcast(gx, r, *initial_state, op="slstm")
    ys = []
    for gx_t in gx.unbind(1):  # unbind, not gx[:, t]: per-step indexing makes the backward pass O(T^2)
        a = gx_t + torch.einsum("bhd,hgde->bhge", h, r)
        i_pre, f_pre, z_pre, o_pre = a.unbind(dim=2)
        log_f_plus_m = F.logsigmoid(f_pre) + m
        m = torch.maximum(log_f_plus_m, i_pre)
        i_gate = torch.exp(i_pre - m)
        f_gate = torch.exp(log_f_plus_m - m)
        c = f_gate * c + i_gate * torch.tanh(z_pre)
        n = f_gate * n + i_gate
        h = torch.sigmoid(o_pre) * c / n
        ys.append(h)
    return torch.stack(ys, 1).to(dtype), ((h, c, n, m) if output_final_state else None)
