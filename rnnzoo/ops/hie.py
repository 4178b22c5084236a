"""PGN's Historical Information Extraction layer (Jia et al. 2024, PGN: The RNN's New Successor is Effective for
Long-Range Time Series Forecasting, Sec. 3.1 ``H = HIE(Padding(X))``; ``PGN_2d.hidden_MLP`` of Water2sea/TPGN):
one linear map of the W inputs *before* each step, the history zero-padded in front:

    H_t = sum_{j=0}^{W-1} weight[:, :, j] u_{t-W+j} + bias            (u_s = 0 before the first token)

Shapes: ``u: [B, T, D]``; ``weight: [H, D, W]`` (tap j reads W-j steps back, as ``nn.Conv1d``); ``bias: [H]``
or None; ``initial_state`` and final state: ``[B, D, W]``, the last W inputs. Returns ``H: [B, T, H]``.
Modes: ``"recurrent"`` (the sum above token by token) and ``"conv"`` (one dense ``F.conv1d`` over the window
and ``u`` without its last token).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops._common import autocast_safe, check_mode, check_sequence, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "conv")


def _check(u, weight, bias, initial_state, mode):
    check_mode("hie", mode, MODES)
    check_sequence("hie", u, "[B, T, D]", bias, weight.shape[0] if weight.dim() else 0)
    B, _, D = u.shape
    if weight.dim() != 3 or weight.shape[1] != D or weight.shape[2] < 1:
        raise ValueError(f"weight must be [H, D, W] with D={D}, W >= 1, got {tuple(weight.shape)}")
    if initial_state is not None and initial_state.shape != (B, D, weight.shape[2]):
        raise ValueError(f"initial_state must be [B, D, W]={(B, D, weight.shape[2])}, got {tuple(initial_state.shape)}")


@packable("hie")
@autocast_safe
def hie(u, weight, bias=None, initial_state=None, output_final_state=False, mode="conv"):
    """u: [B, T, D] -> (H [B, T, H] in u's dtype, final window [B, D, W] float32 (float64 for float64 inputs) or
    None). See the module docstring."""
    _check(u, weight, bias, initial_state, mode)
    dtype = u.dtype
    u, weight, bias, past = upcast(u, weight, bias, initial_state, op="hie")
    B, T, D = u.shape
    W = weight.shape[2]
    past = u.new_zeros(B, D, W) if past is None else past
    window = torch.cat((past, u.transpose(1, 2)), dim=-1)  # [B, D, W + T]; step t reads window[..., t:t+W]
    if mode == "recurrent":
        h = torch.stack([torch.einsum("bdw,hdw->bh", window[..., t:t + W], weight) for t in range(T)], dim=1)
    else:
        h = F.conv1d(window[..., :-1], weight).transpose(1, 2)
    if bias is not None:
        h = h + bias
    final = window[..., T:] if output_final_state else None
    return h.to(dtype), final
