"""deltanet / gated_deltanet / deltaproduct specifics (the registry contract suite covers forward == split == step)."""

import math

import pytest
import torch
import torch.nn.functional as F

from rnnzoo import mixers


def build(name, seed=0, **kw):
    torch.manual_seed(seed)
    return mixers.build(name, 16, num_heads=2, chunk_size=4, **kw)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", ["deltanet", "gated_deltanet", "deltaproduct"])
def test_projected_inputs_follow_the_paper(name):
    m = build(name, allow_neg_eigval=False)
    x = 10 * torch.randn(2, 7, 16)  # large enough that l2norm's eps (1e-6) is invisible
    q, k, v, beta, g, _, _ = m.project(x, m.init_state(2))
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(q.shape[:-1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(k.norm(dim=-1), torch.ones(k.shape[:-1]), atol=1e-4, rtol=0)
    assert ((beta > 0) & (beta < 1)).all()
    if name == "deltanet":
        assert g is None
    else:
        assert (g < 0).all() and g.shape == (2, 7, 2)


@pytest.mark.parametrize("name", ["deltanet", "gated_deltanet", "deltaproduct"])
def test_allow_neg_eigval_doubles_beta(name):
    x = torch.randn(2, 7, 16)
    pos, neg = build(name, allow_neg_eigval=False), build(name, allow_neg_eigval=True)
    beta_pos = pos.project(x, pos.init_state(2))[3]
    beta_neg = neg.project(x, neg.init_state(2))[3]
    torch.testing.assert_close(beta_neg, 2 * beta_pos)
    assert beta_neg.max() > 1  # eigenvalue 1 - beta of (I - beta k kᵀ) goes negative


def test_gated_decay_init_is_mamba2s():
    torch.manual_seed(0)
    m = mixers.build("gated_deltanet", 64, num_heads=64, head_dim=4)
    a = m.A_log.exp()
    dt = F.softplus(m.dt_bias)
    assert m.A_log.dtype == m.dt_bias.dtype == torch.float32
    assert ((a > 0) & (a < 16)).all() and a.max() > 8
    assert ((dt >= 1e-3 * 0.999) & (dt <= 0.1 * 1.001)).all()
    assert m.A_log._no_weight_decay and m.dt_bias._no_weight_decay


def test_deltaproduct_with_one_householder_is_gated_deltanet():
    gdn = build("gated_deltanet", expand_v=1.0)
    dp = build("deltaproduct", expand_v=1.0, num_householder=1, allow_neg_eigval=False)
    dp.load_state_dict(gdn.state_dict())
    x = torch.randn(2, 9, 16)
    torch.testing.assert_close(dp(x)[0], gdn(x)[0])


@pytest.mark.parametrize("name,extra", [
    ("deltanet", {}), ("deltanet", {"expand_v": 2.0}), ("gated_deltanet", {}),
    ("deltaproduct", {"num_householder": 3}), ("deltaproduct", {"use_forget_gate": False}),
])
def test_parameter_count_formula(name, extra):
    """The formulas of docs/mixers/<name>.md."""
    m = build(name, **extra)
    c = m.config
    d, h, k, v, cs = c.d_model, c.num_heads, c.head_dim, c.head_v_dim, c.conv_size
    n = getattr(c, "num_householder", 1)
    gated = name == "gated_deltanet" or (name == "deltaproduct" and c.use_forget_gate)
    out_gate = name != "deltanet"
    expected = (d * h * k * (1 + n) + n * d * h * v + n * d * h + cs * h * (k + n * (k + v)) + v + h * v * d
                + (d * h + 2 * h if gated else 0) + (d * h * v if out_gate else 0))
    assert n_params(m) == expected
    assert m.state_size == h * k * v + (cs - 1) * h * (k + n * (k + v))


def test_deltanet_matches_a_hand_written_layer():
    """DeltaNet from its equations, token by token, with explicit matrices (independent of ops.delta)."""
    m = build("deltanet").double()
    x = torch.randn(1, 6, 16, dtype=torch.float64)
    h, dk = 2, 8

    def conv(lin, w):
        y = F.conv1d(F.pad(lin(x).transpose(1, 2), (3, 0)), w, groups=w.shape[0])
        return F.silu(y).transpose(1, 2)

    q, k = (conv(p, c.weight).view(1, 6, h, dk) for p, c in ((m.q_proj, m.q_conv), (m.k_proj, m.k_conv)))
    q, k = (z / (z.pow(2).sum(-1, keepdim=True) + 1e-6).sqrt() for z in (q, k))  # fla's l2norm, eps 1e-6
    v = conv(m.v_proj, m.v_conv.weight).view(1, 6, h, dk)
    beta = torch.sigmoid(m.b_proj(x))
    outs = []
    for hi in range(h):
        s = torch.zeros(dk, dk, dtype=torch.float64)
        o = []
        for t in range(6):
            kt = k[0, t, hi][:, None]
            s = (torch.eye(dk, dtype=torch.float64) - beta[0, t, hi] * kt @ kt.T) @ s + beta[0, t, hi] * kt @ v[0, t, hi][None]
            o.append(s.T @ q[0, t, hi] / math.sqrt(dk))
        outs.append(torch.stack(o))
    o = torch.stack(outs, 1)  # [T, H, V]
    o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-5) * m.o_norm.weight
    y_ref = m.o_proj(o.reshape(1, 6, h * dk))
    torch.testing.assert_close(m(x)[0], y_ref, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("name", ["gated_deltanet", "deltaproduct"])
def test_an_overflowing_decay_rate_gives_finite_output_in_every_mode(name):
    """A_log = 100: exp(A_log) overflows float32, the log decay is -inf (the state resets every token); the chunk
    form (forward) must stay finite and equal to the recurrent step."""
    m = build(name)
    with torch.no_grad():
        m.A_log.fill_(100.0)
    x = torch.randn(2, 9, m.d_model, generator=torch.Generator().manual_seed(0))
    y, state = m(x)
    assert torch.isfinite(y).all() and all(torch.isfinite(t).all() for t in state)
    s, ys = None, []
    for t in range(x.shape[1]):
        y_t, s = m.step(x[:, t], s)
        ys.append(y_t)
    torch.testing.assert_close(y, torch.stack(ys, 1), atol=1e-4, rtol=1e-4)
