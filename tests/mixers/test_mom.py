"""Mixture-of-Memories: routing semantics (unselected memories untouched), and the chunk path equal to a
hand-written loop that only ever updates the selected memories."""

import torch
import torch.nn.functional as F

from rnnzoo import mixers

D = 16


def build(seed=0, dtype=torch.float32, **kw):
    torch.manual_seed(seed)
    opts = dict(num_heads=2, chunk_size=4, num_memories=3, topk=2) | kw
    return mixers.build("mom", D, **opts).to(dtype)


def random_state(m, b, dtype):
    g = torch.Generator().manual_seed(5)
    return tuple(torch.randn(z.shape, generator=g, dtype=dtype) for z in m.init_state(b, dtype=dtype))


def test_step_leaves_unselected_memories_exactly_unchanged():
    m = build()
    state = random_state(m, 3, torch.float32)
    x = torch.randn(3, 6, D)
    for t in range(6):
        _, selected = m.route(x[:, t:t + 1])
        _, new = m.step(x[:, t], state)
        for bi in range(3):
            for mem in range(3):
                same = torch.equal(new[0][bi, mem], state[0][bi, mem])
                assert same == (not selected[bi, 0, mem]), (t, bi, mem)
            assert not torch.equal(new[0][bi, 3], state[0][bi, 3])  # the shared memory always updates
        state = new


def test_never_routed_memory_is_untouched_by_the_chunked_forward():
    m = build(topk=1)
    with torch.no_grad():  # logits (0, w.x, -w.x): memory 0 can never be the top-1
        m.router.weight.zero_()
        m.router.weight[1] = torch.randn(D)
        m.router.weight[2] = -m.router.weight[1]
    state = random_state(m, 2, torch.float32)
    _, new = m(torch.randn(2, 13, D), state)
    assert torch.equal(new[0][:, 0], state[0][:, 0])
    assert not torch.equal(new[0][:, 1:], state[0][:, 1:])


def test_forward_equals_a_loop_over_selected_memories_only():
    m = build(dtype=torch.float64)
    b, t, h, dk, dv, mem = 2, 9, 2, 8, 16, 4
    x = torch.randn(b, t, D, dtype=torch.float64)

    def conv(lin, c):
        w = c.weight
        return F.silu(F.conv1d(F.pad(lin(x).transpose(1, 2), (3, 0)), w, groups=w.shape[0])).transpose(1, 2)

    def l2(z):
        return z / (z.pow(2).sum(-1, keepdim=True) + 1e-6).sqrt()

    q = l2(conv(m.q_proj, m.q_conv).view(b, t, h, dk))
    k = l2(conv(m.k_proj, m.k_conv).view(b, t, mem, h, dk))
    v = conv(m.v_proj, m.v_conv).view(b, t, mem, h, dv)
    beta = torch.sigmoid(m.b_proj(x)).view(b, t, mem, h)
    decay = torch.exp(-m.A_log.exp() * F.softplus(m.a_proj(x).view(b, t, mem, h) + m.dt_bias))
    probs = torch.softmax(m.router(x), -1)
    top, idx = probs.topk(2, -1)
    eye = torch.eye(dk, dtype=torch.float64)
    out = torch.zeros(b, t, h, dv, dtype=torch.float64)
    s = torch.zeros(b, mem, h, dk, dv, dtype=torch.float64)
    for bi in range(b):
        for ti in range(t):
            chosen = list(zip(idx[bi, ti].tolist(), (top[bi, ti] / top[bi, ti].sum()).tolist()))
            for e, w in chosen + [(mem - 1, 1.0)]:  # routed memories, then the shared one
                for hi in range(h):
                    kk = k[bi, ti, e, hi][:, None]
                    bt = beta[bi, ti, e, hi]
                    s[bi, e, hi] = decay[bi, ti, e, hi] * (eye - bt * kk @ kk.T) @ s[bi, e, hi] + bt * kk @ v[bi, ti, e, hi][None]
                    out[bi, ti, hi] += w * s[bi, e, hi].T @ q[bi, ti, hi] / dk ** 0.5
    y_ref = m.o_proj(m.o_norm(out, m.g_proj(x).view(b, t, h, dv)).flatten(2))
    y, state = m(x)
    torch.testing.assert_close(y, y_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(state[0], s, atol=1e-10, rtol=1e-10)


def test_state_size_and_parameter_count():
    m = build()
    c = m.config
    d, h, k, v, cs, mm = D, c.num_heads, c.head_dim, int(c.head_dim * c.expand_v), c.conv_size, c.num_memories
    p = mm + 1
    assert m.state_size == p * h * k * v + (cs - 1) * h * (k + p * (k + v))
    expected = (d * mm + d * h * k + p * d * h * (k + v) + 2 * p * d * h + 2 * h + cs * h * (k + p * (k + v))
                + d * h * v + v + h * v * d)
    assert sum(z.numel() for z in m.parameters()) == expected


def test_router_receives_gradient_through_the_routing_weights():
    m = build()
    y, _ = m(torch.randn(2, 7, D))
    y.square().sum().backward()
    assert m.router.weight.grad.abs().sum() > 0
