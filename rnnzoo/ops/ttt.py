"""``ttt_linear``: TTT-Linear (Sun et al. 2024, Learning to (Learn at Test Time): RNNs with Expressive Hidden States,
sec. 2). The hidden state is the weight of an inner model f(x) = x + LN(x W + b), trained at test time on the
self-supervised loss l_t(W) = 0.5 ||LN(k_t W + b) - (v_t - k_t)||^2 (f(k_t) against v_t), read out as o_t = f_W_t(q_t).

Mini-batch TTT (sec. 2.7, eq. 4 with ttt-lm-pytorch's scaling): tokens are grouped in mini-batches of size m aligned
to absolute positions; every gradient in a mini-batch is taken at the weights W_0 it started with, and token i
(0-based in its mini-batch) reads

    W_i = W_0 - s_i sum_{j <= i} eta_j grad l_j(W_0),     b_i likewise,      s_i = token_scale[i] (default 1/(i+1))

and the mini-batch hands W_{m-1} on. With m = 1 (s_0 = 1) this is per-token online gradient descent,
W_t = W_{t-1} - eta_t grad l_t(W_{t-1}). The gradient is in closed form (LayerNorm's backward of the l2 loss, eps
1e-6 as ttt-lm-pytorch's ``ln_fused_l2_bwd``).

Modes: ``"recurrent"``: the mini-batch recurrence as a loop over tokens (the primal form: carrying W_0, b_0 and the
accumulated eta-weighted gradients, as ttt-lm-pytorch's decoding does), the reference. ``"dual"``: the dual form per
mini-batch (sec. 2.5): with Z = K W_0 + b_0, G = its loss gradients and E[i, j] = s_i eta_j (j <= i),
Z_bar = Q W_0 - (E ⊙ Q Kᵀ) G + b_0 - E G, with no per-token weights; a loop over mini-batches. A call starting
inside a mini-batch runs the recurrent form up to the next boundary.
State: (W_0 - w [B, H, K, K], b_0 - b [B, H, K], the accumulated gradients gW [B, H, K, K], gb [B, H, K]) of the
current mini-batch, the weights as offsets from the learned initial ones (w, b), so that the zero state is the
start and every call reads w, b; the gradient of everything, inner gradients included, is autograd's.
"""

from __future__ import annotations

import torch

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "dual")
EPS = 1e-6  # ttt-lm-pytorch's inner LayerNorm epsilon


def layer_norm(x, weight, bias):
    """LayerNorm over the last dim with per-head affine: x [..., H, K], weight, bias [H, K]."""
    mu = x.mean(-1, keepdim=True)
    return weight * (x - mu) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + EPS) + bias


def layer_norm_l2_grad(z, target, weight, bias):
    """d/dz of 0.5 ||LN(z) - target||^2 in closed form (LayerNorm's backward); z, target [..., H, K]."""
    d = z.shape[-1]
    std = torch.sqrt(z.var(-1, keepdim=True, unbiased=False) + EPS)
    x_hat = (z - z.mean(-1, keepdim=True)) / std
    g = (weight * x_hat + bias - target) * weight
    return (d * g - g.sum(-1, keepdim=True) - x_hat * (g * x_hat).sum(-1, keepdim=True)) / (d * std)


def _recurrent(q, k, v, eta, lnw, lnb, scales, state, offset, m):
    w0, b0, gw, gb = state
    out = []
    for t, (q_t, k_t, v_t, e_t) in enumerate(zip(q.unbind(1), k.unbind(1), v.unbind(1), eta.unbind(1))):
        i = (offset + t) % m
        grad = layer_norm_l2_grad(torch.einsum("bhk,bhkj->bhj", k_t, w0) + b0, v_t - k_t, lnw, lnb)
        gw = gw + e_t[..., None, None] * k_t[..., :, None] * grad[..., None, :]
        gb = gb + e_t[..., None] * grad
        w, b = w0 - scales[i] * gw, b0 - scales[i] * gb
        out.append(q_t + layer_norm(torch.einsum("bhk,bhkj->bhj", q_t, w) + b, lnw, lnb))
        if i == m - 1:  # the mini-batch ends: its last weights start the next one
            w0, b0, gw, gb = w, b, torch.zeros_like(gw), torch.zeros_like(gb)
    return torch.stack(out, 1), (w0, b0, gw, gb)


def _dual(q, k, v, eta, lnw, lnb, scales, state, m):
    """Mini-batches from an aligned position (gW, gb: gradients the first one has accumulated already, zero from a
    state the op made); the last one may be partial."""
    w0, b0, gw, gb = state
    out = []
    for lo in range(0, q.shape[1], m):
        qc, kc, vc, ec = (x[:, lo:lo + m] for x in (q, k, v, eta))  # [B, C, H, *]
        c = qc.shape[1]
        grad = layer_norm_l2_grad(torch.einsum("bchk,bhkj->bchj", kc, w0) + b0[:, None], vc - kc, lnw, lnb)
        e = (scales[:c, None] * ec.transpose(1, 2)[:, :, None, :]).tril()  # [B, H, C, C]: s_i eta_j, j <= i
        attn = torch.einsum("bihk,bjhk->bhij", qc, kc) * e
        carried = torch.einsum("bchk,bhkj->bchj", qc, gw) + gb[:, None]  # what the mini-batch accumulated before
        z = (torch.einsum("bchk,bhkj->bchj", qc, w0) + b0[:, None] - scales[:c, None, None] * carried
             - torch.einsum("bhij,bjhk->bihk", attn + e, grad))
        out.append(qc + layer_norm(z, lnw, lnb))
        gw = gw + torch.einsum("bch,bchk,bchj->bhkj", ec, kc, grad)
        gb = gb + torch.einsum("bch,bchj->bhj", ec, grad)
        if c == m:
            w0, b0, gw, gb = w0 - scales[m - 1] * gw, b0 - scales[m - 1] * gb, torch.zeros_like(gw), torch.zeros_like(gb)
    return torch.cat(out, 1), (w0, b0, gw, gb)


@packable("ttt_linear")
@autocast_safe
def ttt_linear(q, k, v, w, b, eta, ln_weight, ln_bias, mini_batch_size=16, token_scale=None, initial_state=None,
               output_final_state=False, offset=0, mode="dual"):
    """TTT-Linear's inner loop: o_t = q_t + LN(q_t W_t + b_t), W_t trained on 0.5 ||LN(k W + b) - (v - k)||^2 by
    mini-batch gradient descent (one step per mini-batch; m = 1: one step per token).

    q, k, v: [B, T, H, K]; w: [H, K, K] and b: [H, K] the inner model's initial weights; eta: [B, T, H] learning rates; ln_weight, ln_bias: [H, K]; token_scale: [mini_batch_size] (s_i; None:
    1/(i+1)); offset: tokens before q[:, 0] (the mini-batches are aligned to absolute positions);
    initial_state: (W_0 - w [B, H, K, K], b_0 - b [B, H, K], gW [B, H, K, K], gb [B, H, K]) or None (zero).
    Returns (o [B, T, H, K] in q's dtype, the state after the last token (float32, float64 for float64 inputs) or None).
    """
    check_mode("ttt_linear", mode, MODES)
    check_chunk_size("ttt_linear", mini_batch_size, name="mini_batch_size")
    if q.dim() != 4 or q.shape[1] == 0 or k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"ttt_linear: q, k, v must be [B, T, H, K] with T >= 1, got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    bt, t, h, dk = q.shape
    if w.shape != (h, dk, dk) or b.shape != (h, dk) or ln_weight.shape != (h, dk) or ln_bias.shape != (h, dk):
        raise ValueError(f"ttt_linear: w must be [H, K, K] and b, ln_weight, ln_bias [H, K] with H, K = {h}, {dk}, "
                         f"got w {tuple(w.shape)}, b {tuple(b.shape)}, ln_weight {tuple(ln_weight.shape)}, "
                         f"ln_bias {tuple(ln_bias.shape)}")
    if eta.shape != q.shape[:3]:
        raise ValueError(f"ttt_linear: eta must be [B, T, H]={list(q.shape[:3])}, got {tuple(eta.shape)}")
    if token_scale is not None and token_scale.shape != (mini_batch_size,):
        raise ValueError(f"ttt_linear: token_scale must be [mini_batch_size]=[{mini_batch_size}], got "
                         f"{tuple(token_scale.shape)}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"ttt_linear: offset must be an int >= 0, got {offset!r}")
    shapes = [(bt, h, dk, dk), (bt, h, dk), (bt, h, dk, dk), (bt, h, dk)]
    if initial_state is not None and (len(initial_state) != 4 or any(
            tuple(s.shape) != want for s, want in zip(initial_state, shapes))):
        raise ValueError(f"ttt_linear: initial_state must be (W_0 - w, b_0 - b, gW, gb) of shapes {shapes}, got "
                         f"{[tuple(s.shape) for s in initial_state]}")
    dtype = q.dtype
    q, k, v, w, b, eta, lnw, lnb = upcast(q, k, v, w, b, eta, ln_weight, ln_bias, op="ttt_linear")
    if token_scale is None:
        token_scale = 1.0 / torch.arange(1, mini_batch_size + 1, dtype=q.dtype, device=q.device)
    scales = token_scale.to(q.dtype)
    if initial_state is None:
        state = (w.expand(bt, h, dk, dk), b.expand(bt, h, dk), q.new_zeros(shapes[2]), q.new_zeros(shapes[3]))
    else:
        dw, db, gw, gb = upcast(*initial_state, op="ttt_linear")
        state = (w + dw.to(q.dtype), b + db.to(q.dtype), gw.to(q.dtype), gb.to(q.dtype))
    head = t if mode == "recurrent" else min(t, -offset % mini_batch_size)
    outs = []
    if head:
        o, state = _recurrent(q[:, :head], k[:, :head], v[:, :head], eta[:, :head], lnw, lnb, scales, state, offset,
                              mini_batch_size)
        outs.append(o)
    if head < t:
        o, state = _dual(q[:, head:], k[:, head:], v[:, head:], eta[:, head:], lnw, lnb, scales, state,
                         mini_batch_size)
        outs.append(o)
    w0, b0, gw, gb = state
    return torch.cat(outs, 1).to(dtype), ((w0 - w, b0 - b, gw, gb) if output_final_state else None)
