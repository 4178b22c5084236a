"""Classic nonlinear recurrences: Elman RNN, LSTM, GRU (Lipton et al., A Critical Review of Recurrent
Neural Networks for Sequence Learning, eqs. for the simple RNN, LSTM and GRU; the weight layout and gate
order of ``torch.nn.RNN/LSTM/GRU``, so weights copy across unchanged).

Every op takes the raw input ``x: [B, T, D_in]`` and the torch-layout weights and returns
``(y: [B, T, H] in x's dtype, final_state)`` with ``final_state=None`` unless ``output_final_state=True``;
it computes in float32 at least, and the final state stays float32 (float64 for float64 inputs).

Modes: ``"recurrent"`` is the reference: the input projection for all steps at once, then a Python loop
over time that mirrors the equations. ``"fused"`` calls PyTorch's own ATen kernels (the ones behind
``torch.nn.LSTM``), which is what a CPU user would otherwise pick. There is no parallel-in-time form:
these recurrences are nonlinear in the state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops._common import autocast_safe, check_mode, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "fused")


def _check(op, x, weight_ih, weight_hh, gates: int, initial_state, n_state: int, mode: str) -> int:
    check_mode(op, mode, MODES)
    if x.dim() != 3:
        raise ValueError(f"x must be [B, T, D_in], got shape {tuple(x.shape)}")
    hidden = weight_hh.shape[1]
    if weight_ih.shape != (gates * hidden, x.shape[-1]):
        raise ValueError(
            f"weight_ih must be [{gates}*H, D_in]=[{gates * hidden}, {x.shape[-1]}], got {tuple(weight_ih.shape)}"
        )
    if weight_hh.shape != (gates * hidden, hidden):
        raise ValueError(f"weight_hh must be [{gates}*H, H], got {tuple(weight_hh.shape)}")
    if initial_state is not None:
        if len(initial_state) != n_state:
            raise ValueError(f"initial_state must hold {n_state} tensors, got {len(initial_state)}")
        for s in initial_state:
            if s.shape != (x.shape[0], hidden):
                raise ValueError(f"initial_state tensors must be [B, H]=[{x.shape[0]}, {hidden}], got {tuple(s.shape)}")
    return hidden


def _zeros(x: torch.Tensor, hidden: int) -> torch.Tensor:
    return x.new_zeros(x.shape[0], hidden)


def _fused(fn, x, hx, weights, has_bias: bool):
    # ATen wants (num_layers * directions, B, H) states and batch_first=True inputs.
    hx = tuple(h.unsqueeze(0).contiguous() for h in hx) if len(hx) > 1 else hx[0].unsqueeze(0).contiguous()
    out = fn(x.contiguous(), hx, weights, has_bias, 1, 0.0, False, False, True)
    return out[0], tuple(h.squeeze(0) for h in out[1:])


@packable("elman")
@autocast_safe
def elman(x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, initial_state=None,
          output_final_state=False, nonlinearity="tanh", mode="fused"):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    x: [B, T, D_in]; weight_ih: [H, D_in]; weight_hh: [H, H]; biases: [H];
    initial_state: (h [B, H],). Returns (y [B, T, H], (h_T,) or None).
    """
    hidden = _check("elman", x, weight_ih, weight_hh, 1, initial_state, 1, mode)
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    dtype = x.dtype
    x, weight_ih, weight_hh, bias_ih, bias_hh, *state = upcast(x, weight_ih, weight_hh, bias_ih, bias_hh,
                                                              *(initial_state or (_zeros(x, hidden),)), op="elman")
    (h,) = state
    if mode == "fused":
        fn = torch.rnn_tanh if nonlinearity == "tanh" else torch.rnn_relu
        y, final = _fused(fn, x, (h,), _weights(weight_ih, weight_hh, bias_ih, bias_hh), bias_ih is not None)
        return y.to(dtype), (final if output_final_state else None)
    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    gx = F.linear(x, weight_ih, bias_ih)
    ys = []
    for gx_t in gx.unbind(1):  # unbind, not gx[:, t]: per-step indexing makes the backward pass O(T^2)
        h = act(gx_t + F.linear(h, weight_hh, bias_hh))
        ys.append(h)
    return torch.stack(ys, 1).to(dtype), ((h,) if output_final_state else None)


@packable("lstm")
@autocast_safe
def lstm(x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, initial_state=None,
         output_final_state=False, mode="fused"):
    """LSTM (Hochreiter & Schmidhuber; forget gate of Gers et al.), torch gate order (i, f, g, o):

    i, f, o = sigmoid(.), g = tanh(.) of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)

    x: [B, T, D_in]; weight_ih: [4H, D_in]; weight_hh: [4H, H]; biases: [4H];
    initial_state: (h [B, H], c [B, H]). Returns (y [B, T, H], (h_T, c_T) or None).
    """
    hidden = _check("lstm", x, weight_ih, weight_hh, 4, initial_state, 2, mode)
    dtype = x.dtype
    x, weight_ih, weight_hh, bias_ih, bias_hh, h, c = upcast(
        x, weight_ih, weight_hh, bias_ih, bias_hh, *(initial_state or (_zeros(x, hidden), _zeros(x, hidden))),
        op="lstm")
    if mode == "fused":
        y, final = _fused(torch.lstm, x, (h, c), _weights(weight_ih, weight_hh, bias_ih, bias_hh), bias_ih is not None)
        return y.to(dtype), (final if output_final_state else None)
    gx = F.linear(x, weight_ih, bias_ih)
    ys = []
    for gx_t in gx.unbind(1):
        i, f, g, o = (gx_t + F.linear(h, weight_hh, bias_hh)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys, 1).to(dtype), ((h, c) if output_final_state else None)


@packable("gru")
@autocast_safe
def gru(x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, initial_state=None,
        output_final_state=False, mode="fused"):
    """GRU (Cho et al.), torch gate order (r, z, n):

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr);  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h_t = (1 - z) * n + z * h_{t-1}

    x: [B, T, D_in]; weight_ih: [3H, D_in]; weight_hh: [3H, H]; biases: [3H];
    initial_state: (h [B, H],). Returns (y [B, T, H], (h_T,) or None).
    """
    hidden = _check("gru", x, weight_ih, weight_hh, 3, initial_state, 1, mode)
    dtype = x.dtype
    x, weight_ih, weight_hh, bias_ih, bias_hh, h = upcast(x, weight_ih, weight_hh, bias_ih, bias_hh,
                                                          *(initial_state or (_zeros(x, hidden),)), op="gru")
    if mode == "fused":
        y, final = _fused(torch.gru, x, (h,), _weights(weight_ih, weight_hh, bias_ih, bias_hh), bias_ih is not None)
        return y.to(dtype), (final if output_final_state else None)
    gx = F.linear(x, weight_ih, bias_ih)
    ys = []
    for gx_t in gx.unbind(1):
        xr, xz, xn = gx_t.chunk(3, dim=-1)
        hr, hz, hn = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        ys.append(h)
    return torch.stack(ys, 1).to(dtype), ((h,) if output_final_state else None)


def _weights(weight_ih, weight_hh, bias_ih, bias_hh) -> list[torch.Tensor]:
    if (bias_ih is None) != (bias_hh is None):
        raise ValueError("pass both bias_ih and bias_hh or neither")
    return [weight_ih, weight_hh] + ([bias_ih, bias_hh] if bias_ih is not None else [])
