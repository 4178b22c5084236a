"""fused_linear / fused_short_conv equal the separate layers, and the mixers that fuse keep their state dicts."""

import pytest
import torch
import torch.nn.functional as F

from rnnzoo import mixers
from rnnzoo.mixers.fused import fused_linear, fused_short_conv
from rnnzoo.mixers.parts import l2norm
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.ops.rotary import apply_rotary


def test_fused_linear_is_the_separate_projections_side_by_side():
    torch.manual_seed(0)
    layers = [torch.nn.Linear(6, d).double() for d in (3, 1, 5)]
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(fused_linear(x, layers), torch.cat([layer(x) for layer in layers], -1))
    with pytest.raises(ValueError, match="bias"):
        fused_linear(x, [layers[0], torch.nn.Linear(6, 2, bias=False).double()])


def test_fused_short_conv_is_the_separate_convs_with_their_windows():
    torch.manual_seed(0)
    convs = [ShortConvolution(d, 3, bias=False).double() for d in (2, 4, 3)]
    x = torch.randn(2, 5, 9, dtype=torch.float64)
    windows = [torch.randn(2, c.dim, 2, dtype=torch.float64) for c in convs]
    y, new = fused_short_conv(x, convs, windows)
    refs = [c(part, w) for c, part, w in zip(convs, x.split([2, 4, 3], -1), windows)]
    torch.testing.assert_close(y, torch.cat([r[0] for r in refs], -1))
    for got, (_, want) in zip(new, refs):
        torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="kernel_size"):
        fused_short_conv(x, [*convs[:2], ShortConvolution(3, 4, bias=False).double()], windows)


@pytest.mark.parametrize("name,extra", [("deltanet", {}), ("gated_deltanet", {}),
                                        ("deltaproduct", {"num_householder": 2})])
def test_delta_project_equals_the_separate_layers(name, extra):
    torch.manual_seed(0)
    m = mixers.build(name, 16, num_heads=2, **extra).double()
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    state = [t.normal_() if t.dim() == 3 else t for t in m.init_state(2)]  # nonzero conv windows
    q, k, v, beta, g, z, windows = m.project(x, tuple(state))
    n, h, dk, dv = m.n_rows, m.num_heads, m.head_dim, m.head_v_dim
    (rq, wq), (rk, wk), (rv, wv) = (c(p(x), w) for c, p, w in zip((m.q_conv, m.k_conv, m.v_conv),
                                                                   (m.q_proj, m.k_proj, m.v_proj), state[1:4]))
    torch.testing.assert_close(q, l2norm(rq.view(2, 7, h, dk)))
    torch.testing.assert_close(k, l2norm(rk.reshape(2, 7 * n, h, dk)))
    torch.testing.assert_close(v, rv.reshape(2, 7 * n, h, dv))
    b = torch.sigmoid(m.b_proj(x)).reshape(2, 7 * n, h)
    torch.testing.assert_close(beta, 2 * b if m.config.allow_neg_eigval else b)
    for got, want in zip(windows, (wq, wk, wv)):
        torch.testing.assert_close(got, want)
    if m.gated:
        torch.testing.assert_close(g, -m.A_log.exp() * F.softplus(m.a_proj(x) + m.dt_bias))
    if m.output_gate:
        torch.testing.assert_close(z, m.g_proj(x).view(2, 7, h, dv))


def test_gated_deltanet_state_dict_keys_are_the_separate_layers():
    keys = set(mixers.build("gated_deltanet", 16, num_heads=2).state_dict())
    assert keys == {"q_proj.weight", "k_proj.weight", "v_proj.weight", "b_proj.weight", "a_proj.weight",
                    "g_proj.weight", "q_conv.weight", "k_conv.weight", "v_conv.weight", "A_log", "dt_bias",
                    "o_norm.weight", "o_proj.weight"}


def test_retnet_and_gla_inputs_equal_the_separate_layers():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    ret = mixers.build("retnet", 16, num_heads=2).double()
    pos = torch.zeros(2, dtype=torch.long)
    q, k, v, _, gate, _ = ret._inputs(x, pos, ())
    ref_q, ref_k = (apply_rotary(ret._heads(p(x)), torch.arange(5).expand(2, 5), 10000.0) for p in (ret.q_proj, ret.k_proj))
    torch.testing.assert_close((q, k, v, gate), (ref_q, ref_k, ret._heads(ret.v_proj(x)), ret.g_proj(x)))
    gla = mixers.build("gla", 16, num_heads=2).double()
    q, k, v, gk, gate, _ = gla._inputs(x, ())
    ref_gk = gla._heads(F.logsigmoid(gla.gk_proj(x)) / gla.config.gate_logit_normalizer)
    torch.testing.assert_close((q, k, v, gk, gate), (gla._heads(gla.q_proj(x)), gla._heads(gla.k_proj(x)),
                                                     gla._heads(gla.v_proj(x)), ref_gk, gla.g_proj(x)))
