"""Depthwise dilated causal convolution, the layer of a temporal convolutional network (Bai et al. 2018, An
Empirical Evaluation of Generic Convolutional and Recurrent Networks; van den Oord et al. 2016, WaveNet), with
the inputs it still needs carried as a window:

    y_t = sum_{j=0}^{K-1} w_j u_{t-(K-1-j) d} + b           per channel; d = dilation; u_s = 0 before the first token

Shapes: ``u: [B, T, H]``; ``weight: [H, K]`` (tap j reads (K-1-j) d steps back, as ``nn.Conv1d``);
``bias: [H]`` or None; ``initial_state`` and final state: ``[B, H, (K-1) d]``, the last (K-1) d inputs.
Modes: ``"recurrent"`` (the sum above token by token) and ``"conv"`` (one ``F.conv1d`` with ``dilation``
over the window and ``u``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops._common import autocast_safe, check_mode, check_sequence, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "conv")


def _check(u, weight, bias, dilation, initial_state, mode):
    check_mode("dilated_causal_conv", mode, MODES)
    check_sequence("dilated_causal_conv", u, "[B, T, H]", bias, u.shape[-1])
    B, _, H = u.shape
    if weight.dim() != 2 or weight.shape[0] != H or weight.shape[1] < 1:
        raise ValueError(f"weight must be [H, K] with H={H}, K >= 1, got {tuple(weight.shape)}")
    if dilation < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation}")
    span = (weight.shape[1] - 1) * dilation
    if initial_state is not None and initial_state.shape != (B, H, span):
        raise ValueError(f"initial_state must be [B, H, (K-1)*dilation]={(B, H, span)}, got {tuple(initial_state.shape)}")


@packable("dilated_causal_conv")
@autocast_safe
def dilated_causal_conv(u, weight, bias=None, dilation=1, initial_state=None, output_final_state=False, mode="conv"):
    """u: [B, T, H] -> (y [B, T, H] in u's dtype, final window [B, H, (K-1)*dilation] float32 (float64 for
    float64 inputs) or None). See the module docstring."""
    _check(u, weight, bias, dilation, initial_state, mode)
    dtype = u.dtype
    u, weight, bias, past = upcast(u, weight, bias, initial_state, op="dilated_causal_conv")
    B, T, H = u.shape
    K = weight.shape[1]
    span = (K - 1) * dilation
    past = u.new_zeros(B, H, span) if past is None else past
    window = torch.cat((past, u.transpose(1, 2)), dim=-1)  # [B, H, span + T]
    if mode == "recurrent":
        ys = [(window[..., t:t + span + 1:dilation] * weight).sum(-1) for t in range(T)]
        y = torch.stack(ys, dim=1)
    else:
        y = F.conv1d(window, weight[:, None], dilation=dilation, groups=H).transpose(1, 2)
    if bias is not None:
        y = y + bias
    final = window[..., window.shape[-1] - span:] if output_final_state else None
    return y.to(dtype), final
