"""rwkv6 and rwkv7 mixers == the papers' time mixes written out as in their reference code (BlinkDL/RWKV-LM: state
[V, K] for RWKV-7, decays as exp(-exp(w)), one explicit loop), from the mixers' own parameters, in float64."""

import torch
import torch.nn.functional as F

from rnnzoo import mixers

B, T, D, H = 2, 9, 16, 2


def shifted(x):
    """x_{t-1} - x_t with x_0 = 0 (RWKV's time_shift)."""
    return F.pad(x, (0, 0, 1, -1)) - x


def group_norm(m, o):
    return F.group_norm(o.reshape(B * T, D), H, m.ln_x.weight, m.ln_x.bias, m.ln_x.eps).view(B, T, D)


def finch(m, x):
    xx = shifted(x)
    lora = torch.tanh((x + xx * m.mu_x) @ m.mix_a).view(B * T, 5, -1).transpose(0, 1)
    mw, mk, mv, mr, mg = torch.bmm(lora, m.mix_b).view(5, B, T, D)
    xw, xk, xv, xr, xg = (x + xx * (m.mu[i] + mi) for i, mi in enumerate((mw, mk, mv, mr, mg)))
    r, k, v = (f(z).view(B, T, H, -1) for f, z in ((m.receptance, xr), (m.key, xk), (m.value, xv)))
    w = torch.exp(-torch.exp(m.decay + torch.tanh(xw @ m.decay_a) @ m.decay_b)).view(B, T, H, -1)
    u = m.bonus
    state = torch.zeros(B, H, D // H, D // H, dtype=x.dtype)  # [i (key), j (value)]
    out = torch.zeros(B, T, H, D // H, dtype=x.dtype)
    for t in range(T):
        kv = k[:, t, :, :, None] * v[:, t, :, None, :]
        out[:, t] = (r[:, t, :, :, None] * (u[..., None] * kv + state)).sum(-2)
        state = state * w[:, t, :, :, None] + kv
    return m.output(group_norm(m, out) * F.silu(m.gate(xg))), state


def goose(m, x):
    xx = shifted(x)
    xr, xw, xk, xv, xa, xg = (x + xx * m.mu[i] for i in range(6))
    r, k, v = m.receptance(xr), m.key(xk), m.value(xv)
    w = -F.softplus(-(m.w0 + torch.tanh(xw @ m.w1) @ m.w2)) - 0.5  # decay exp(-exp(w))
    a = torch.sigmoid(m.a0 + (xa @ m.a1) @ m.a2)
    g = torch.sigmoid(xg @ m.g1) @ m.g2
    kk = F.normalize((k * m.k_k).view(B, T, H, -1), dim=-1).view(B, T, D)
    k = k * (1 + (a - 1) * m.k_a)
    rh, wh, kh, vh, ah, bh = (z.view(B, T, H, -1) for z in (r, torch.exp(-torch.exp(w)), k, v, -kk, kk * a))
    state = torch.zeros(B, H, D // H, D // H, dtype=x.dtype)  # [value, key]
    out = torch.zeros(B, T, H, D // H, dtype=x.dtype)
    for t in range(T):
        state = (state * wh[:, t, :, None, :] + state @ ah[:, t, :, :, None] @ bh[:, t, :, None, :]
                 + vh[:, t, :, :, None] @ kh[:, t, :, None, :])
        out[:, t] = (state @ rh[:, t, :, :, None])[..., 0]
    bonus = ((rh * kh * m.r_k).sum(-1, keepdim=True) * vh).view(B, T, D)
    return m.output((group_norm(m, out) + bonus) * g), state.mT


def test_rwkv6_is_finch():
    torch.manual_seed(0)
    m = mixers.build("rwkv6", D, num_heads=H, mix_lora_dim=4, decay_lora_dim=4).double()
    with torch.no_grad():  # LoRAs away from their zero init, so the data-dependent paths are exercised
        for p in (m.mix_a, m.decay_a):
            p.normal_(0, 0.3)
    x = torch.randn(B, T, D, dtype=torch.float64)
    y, (_, s) = m(x)
    y_ref, s_ref = finch(m, x)
    torch.testing.assert_close(y, y_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(s, s_ref, atol=1e-10, rtol=1e-10)


def test_rwkv7_is_goose():
    torch.manual_seed(0)
    m = mixers.build("rwkv7", D, num_heads=H, decay_lora_dim=4, a_lora_dim=4, gate_lora_dim=4, chunk_size=4).double()
    with torch.no_grad():
        for p in (m.w1, m.a1, m.g1):
            p.normal_(0, 0.3)
    x = torch.randn(B, T, D, dtype=torch.float64)
    y, (_, s) = m(x)
    y_ref, s_ref = goose(m, x)
    torch.testing.assert_close(y, y_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(s, s_ref, atol=1e-10, rtol=1e-10)
