"""Mamba mixer: init as in the paper, and the allow_neg_eigval path under the mixer contract."""

import pytest
import torch
import torch.nn.functional as F

from rnnzoo import mixers
from rnnzoo.testing import run_split, run_steps


def test_init_follows_mamba():
    m = mixers.build("mamba", 32)
    dt = F.softplus(m.dt_proj.bias)
    assert dt.min() >= 1e-4 and dt.max() <= 0.1 + 1e-6
    torch.testing.assert_close(-torch.exp(m.A_log[5]), -torch.arange(1, 17.0))
    assert m.dt_rank == 2 and m.d_inner == 64 and m.state_size == 64 * (16 + 3)
    assert all(getattr(p, "_no_weight_decay", False) for p in (m.A_log, m.D, m.dt_proj.bias))


@pytest.mark.parametrize("name", ["mamba", "mamba2"])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_negative_eigenvalues_keep_the_contract(name, dtype, tol):
    if name not in mixers.names():
        pytest.skip(f"{name} not registered")
    opts = {"mamba": {"d_state": 4}, "mamba2": {"d_state": 4, "headdim": 4, "ngroups": 2, "chunk_size": 4}}[name]
    torch.manual_seed(0)
    m = mixers.build(name, 16, allow_neg_eigval=True, **opts).to(dtype)
    x = torch.randn(2, 11, 16, dtype=dtype)
    y, s = m(x)
    y_split, s_split = run_split(m, x, [3, 1, 7])
    y_step, s_step = run_steps(m, x)
    torch.testing.assert_close(y_split, y, atol=tol, rtol=tol)
    torch.testing.assert_close(y_step, y, atol=tol, rtol=tol)
    for a, b in zip(s, s_step):
        torch.testing.assert_close(b, a, atol=tol, rtol=tol)
    torch.manual_seed(0)
    positive = mixers.build(name, 16, **opts).to(dtype)
    assert (positive(x)[0] - y).abs().max() > 1e-5  # the signed transition is really used


def test_negative_eigenvalue_transition_range():
    # 2 exp(delta A) - 1 spans (-1, 1]: large delta * |A| drives the state's sign to flip each step
    torch.manual_seed(0)
    m = mixers.build("mamba", 16, d_state=4, allow_neg_eigval=True)
    with torch.no_grad():
        m.dt_proj.bias.fill_(20.0)
        m.A_log.fill_(2.0)
    y, (_, h) = m(torch.randn(1, 6, 16))
    assert torch.isfinite(y).all() and torch.isfinite(h).all()
