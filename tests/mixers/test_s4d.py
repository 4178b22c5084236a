"""S4D mixer: the FFT-kernel forward equals the recurrence (both inits), and the init matches the paper."""

import math

import pytest
import torch

from rnnzoo import mixers


@pytest.mark.parametrize("init", ["lin", "inv"])
def test_kernel_convolution_equals_recurrence(init):
    torch.manual_seed(0)
    m = mixers.build("s4d", 8, d_state=6, init=init, dt_min=0.05, dt_max=0.5).double()
    x = torch.randn(2, 33, 8, dtype=torch.float64)
    zero = m.init_state(2, dtype=torch.float64)
    y_fft, (h_fft,) = m._mix(x, zero, "fft")
    y_rec, (h_rec,) = m._mix(x, zero, "recurrent")
    torch.testing.assert_close(y_fft, y_rec, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(h_fft, h_rec, rtol=1e-10, atol=1e-10)


def test_init():
    m = mixers.build("s4d", 8, d_state=8)
    torch.testing.assert_close(m.A_imag[0], math.pi * torch.arange(4.0))  # S4D-Lin
    torch.testing.assert_close(m.log_A_real, torch.full((8, 4), math.log(0.5)))
    assert (m.log_dt.exp() >= 1e-3).all() and (m.log_dt.exp() <= 1e-1).all()
    assert m.state_size == 8 * 8
    inv = mixers.build("s4d", 8, d_state=8, init="inv")
    torch.testing.assert_close(inv.A_imag[0, 0], torch.tensor(8 / math.pi * (8 - 1)))


def test_ssm_parameters_get_their_own_learning_rate_and_no_decay():
    from rnnzoo.train.optim import param_groups

    m = mixers.build("s4d", 8, d_state=8, lr=2e-3)
    groups = param_groups(m, lr=5e-2, weight_decay=0.1)
    ssm = {id(p) for p in (m.log_dt, m.log_A_real, m.A_imag)}
    for g in groups:
        ids = {id(p) for p in g["params"]}
        if ids & ssm:
            assert ids == ssm and g["lr"] == 2e-3 and g["weight_decay"] == 0.0
        else:
            assert g["lr"] == 5e-2
    assert any(g["lr"] == 2e-3 for g in groups)
    default = param_groups(mixers.build("s4d", 8, d_state=8, lr=None), lr=5e-2, weight_decay=0.1)
    assert all(g["lr"] == 5e-2 for g in default)
