"""Mixer-specific checks for the linear-attention family (the contract suite covers the rest)."""

import pytest
import torch

from rnnzoo import mixers
from rnnzoo.mixers.based import taylor_features


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
