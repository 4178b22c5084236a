"""hgrn2's depth-wise lower bound (the contract suite covers the rest)."""

import pytest
import torch

import rnnzoo.mixers.hgrn as hgrn_module
from rnnzoo import mixers


def _gates(m, x):
    seen, real = {}, hgrn_module.gla

    def spy(q, k, v, g, **kw):
        seen["g"], seen["k"] = g, k
        return real(q, k, v, g, **kw)

    hgrn_module.gla = spy
    try:
        m(x)
    finally:
        hgrn_module.gla = real
    return seen["g"].exp(), seen["k"]


@pytest.mark.parametrize("layer_idx", [0, 2, 3])
def test_forget_gate_lower_bound_grows_with_depth_and_key_is_one_minus_forget(layer_idx):
    m = mixers.build("hgrn2", 16, num_heads=2, layer_idx=layer_idx, num_layers=4).double()
    f, k = _gates(m, torch.randn(2, 7, 16, dtype=torch.float64) * 10)
    assert (f >= layer_idx / 4 - 1e-12).all() and (f < 1).all()
    assert f.min() < layer_idx / 4 + 0.05  # the bound is reached, not exceeded by much
    torch.testing.assert_close(k, 1 - f)


def test_explicit_lower_bound_and_bad_layer_raise():
    f, _ = _gates(mixers.build("hgrn2", 16, num_heads=2, lower_bound=0.9, layer_idx=0).double(),
                  torch.randn(1, 5, 16, dtype=torch.float64) * 10)
    assert (f >= 0.9 - 1e-12).all()
    with pytest.raises(ValueError, match="layer_idx"):
        mixers.build("hgrn2", 16, layer_idx=2, num_layers=2)
