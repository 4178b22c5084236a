"""Mixer-specific checks for the linear-attention family (the contract suite covers the rest)."""

import pytest
import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.mixers.based import taylor_features
from tests.mixers.test_contract import D_MODEL, SHORT_CONV_MIXERS, make


def test_retnet_decays_are_the_fixed_papers_values():
    m = mixers.build("retnet", 32, num_heads=4)
    expected = torch.log(1 - 2.0 ** (-5.0 - torch.arange(4, dtype=torch.float64)))
    torch.testing.assert_close(m.log_gamma, expected)
    assert "log_gamma" not in dict(m.named_parameters())


def test_lightning_decays_fixed_and_weaker_in_deeper_layers():
    first = mixers.build("lightning", 32, num_heads=4, layer_idx=0, num_layers=4)
    last = mixers.build("lightning", 32, num_heads=4, layer_idx=3, num_layers=4)
    torch.testing.assert_close(first.log_decay, -(2.0 ** (-8.0 * torch.arange(1, 5, dtype=torch.float64) / 4)) * (1 + 1e-5))
    assert (last.log_decay.abs() < 1e-4).all() and "log_decay" not in dict(first.named_parameters())


def test_taylor_features_approximate_exp_to_second_order():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(16, generator=g, dtype=torch.float64), torch.randn(16, generator=g, dtype=torch.float64)
    s = q @ k / 4
    torch.testing.assert_close(taylor_features(q) @ taylor_features(k), 1 + s + s * s / 2)


def test_hgrn_forget_gate_respects_lower_bound():
    m = mixers.build("hgrn", 16, num_heads=2, lower_bound=0.9).double()
    seen = {}
    import rnnzoo.mixers.hgrn as hgrn_module
    real = hgrn_module.gla

    def spy(q, k, v, g, **kw):
        seen["g"], seen["k"] = g, k
        return real(q, k, v, g, **kw)

    hgrn_module.gla = spy
    try:
        m(torch.randn(2, 7, 16, dtype=torch.float64) * 10)
    finally:
        hgrn_module.gla = real
    f = seen["g"].exp()
    assert (f >= 0.9 - 1e-12).all() and (f < 1).all()
    torch.testing.assert_close(seen["k"], 1 - f)


@pytest.mark.parametrize("seed", range(4))
def test_mlstm_stays_finite_with_large_gate_preactivations_and_forward_equals_step(seed):
    """float32 must stay finite (the stabiliser's job); exactness is checked in float64, because with
    exp(40)-sized input gates float32 rounding near the normaliser floor differs between the two forms
    by ~1e-4 absolute (measured), which is not a bug."""
    torch.manual_seed(seed)  # the module's init must not depend on which tests ran before
    m = mixers.build("mlstm", 16, num_heads=2)
    with torch.no_grad():
        m.igate.weight.normal_(0, 5.0)
        m.igate.bias.fill_(40.0)
    x = torch.randn(2, 150, 16, generator=torch.Generator().manual_seed(0)) * 3
    for dtype in (torch.float32, torch.float64):
        m, x = m.to(dtype), x.to(dtype)
        y, _ = m(x)
        state, ys = m.init_state(2, dtype=dtype), []
        for t in range(x.shape[1]):
            y_t, state = m.step(x[:, t], state)
            ys.append(y_t)
        y_step = torch.stack(ys, 1)
        assert torch.isfinite(y).all() and torch.isfinite(y_step).all()
    torch.testing.assert_close(y_step, y, atol=1e-9, rtol=1e-9)


def test_lightnet_first_chunk_weights_are_a_prefix_softmax():
    m = mixers.build("lightnet", 16, num_heads=2, gate_low_rank_dim=4).double()
    _, (s, z) = m(torch.randn(1, 9, 16, dtype=torch.float64))
    assert torch.isfinite(z).all() and torch.isfinite(s).all()
    assert torch.isinf(m.init_state(1)[1]).all()  # no keys yet


# (parameters, state_size) at D_MODEL with TEST_OPTIONS, as before use_short_conv existed.
DEFAULT_SIZES = {"based": (1792, 474), "gla": (1432, 64), "hgrn": (1040, 128), "lightning": (1296, 128),
                 "lightnet": (1296, 144), "linear_attention": (1040, 128), "retnet": (2080, 256)}
# The projections each mixer feeds to its q, k, v short convs (HGRN2's are q, forget gate f, input i).
# fla's choice: SiLU in the conv, except where the layer itself activates q / gates right after it.
CONV_ACTIVATION = {"hgrn": None, "lightnet": None, "lightning": None}


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", SHORT_CONV_MIXERS)
def test_short_conv_is_off_by_default_and_only_adds_its_weights_and_windows(name):
    off, on = make(name), make(name, use_short_conv=True, conv_size=3)
    assert (n_params(off), off.state_size) == DEFAULT_SIZES[name]
    assert off.short_conv is None and not any("conv" in k for k in off.state_dict())
    convs = (on.short_conv.q_conv, on.short_conv.k_conv, on.short_conv.v_conv)
    assert all(c.activation == CONV_ACTIVATION.get(name, "silu") and c.kernel_size == 3 for c in convs)
    dims = sum(c.dim for c in convs)
    assert n_params(on) == n_params(off) + 3 * dims  # one depthwise kernel of 3 taps per channel, no bias
    assert on.state_size == off.state_size + 2 * dims
    # Built last, so every other weight is drawn exactly as without the conv (same seed, same model).
    on_weights = on.state_dict()
    for key, value in off.state_dict().items():
        torch.testing.assert_close(on_weights[key], value, rtol=0, atol=0)
    x = torch.randn(2, 9, D_MODEL)
    assert (on(x)[0] - off(x)[0]).abs().max() > 1e-2


@pytest.mark.parametrize("name", SHORT_CONV_MIXERS)
def test_identity_short_conv_equals_the_plain_mixer_on_activated_projections(name):
    """With each conv kernel reduced to its current-token tap, the conv is just its activation, so the
    mixer must equal the conv-free one whose q, k, v projections end in that activation: this pins where
    the conv sits (on the raw projections, before feature maps, rotary and gates) and that nothing else moved."""
    on, off = make(name, torch.float64, use_short_conv=True), make(name, torch.float64)
    act = nn.SiLU() if on.short_conv.q_conv.activation == "silu" else nn.Identity()
    with torch.no_grad():
        for conv in (on.short_conv.q_conv, on.short_conv.k_conv, on.short_conv.v_conv):
            conv.weight.zero_()[..., -1] = 1.0
    plain = off._short_conv  # projections that end in the activation (some mixers fuse them into one GEMM)
    off._short_conv = lambda q, k, v, windows: plain(act(q), act(k), act(v), windows)
    x = torch.randn(2, 9, D_MODEL, dtype=torch.float64)
    torch.testing.assert_close(on(x)[0], off(x)[0], rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # the previous-token tap matters: the conv is what binds a key to the token before it
        on.short_conv.k_conv.weight[..., -2] = 1.0
    assert (on(x)[0] - off(x)[0])[:, 1:].abs().min() > 1e-8
    # t = 0 is unaffected up to rounding (gla's chunk form rescales around a token later in the chunk)
    torch.testing.assert_close(on(x)[0][:, 0], off(x)[0][:, 0], rtol=1e-12, atol=1e-12)
