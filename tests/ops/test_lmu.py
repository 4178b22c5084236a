"""LMU memory: the ZOH matrices against scipy's cont2discrete, and the FFT form against the recurrence."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import cont2discrete

from rnnzoo.ops.lmu import legendre_state_space, lmu_memory, zoh
from tests.ops.modes import close, gradcheck, run


def _scipy_legendre(order, theta):
    """The Legendre delay system written from Voelker et al. 2019 eq. 2 with numpy loops, ZOH by scipy."""
    A, B = np.zeros((order, order)), np.zeros((order, 1))
    for i in range(order):
        B[i, 0] = (2 * i + 1) * (-1) ** i / theta
        for j in range(order):
            A[i, j] = (2 * i + 1) / theta * (-1 if i < j else (-1) ** (i - j + 1))
    Ad, Bd, *_ = cont2discrete((A, B, np.eye(order), np.zeros((order, 1))), dt=1.0, method="zoh")
    return A, B[:, 0], Ad, Bd[:, 0]


@pytest.mark.parametrize("order,theta", [(1, 3.0), (6, 10.0), (32, 100.0), (256, 784.0)])
def test_matrices_equal_scipy_cont2discrete(order, theta):
    A_np, B_np, Ad_np, Bd_np = _scipy_legendre(order, theta)
    A, B = legendre_state_space(order, theta)
    np.testing.assert_array_equal(A.numpy(), A_np)
    np.testing.assert_array_equal(B.numpy(), B_np)
    Ad, Bd = zoh(A, B)
    np.testing.assert_allclose(Ad.numpy(), Ad_np, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Bd.numpy(), Bd_np, rtol=1e-10, atol=1e-12)


def _inputs(b, T, C, q, dtype, seed, state):
    g = torch.Generator().manual_seed(seed)
    Abar, Bbar = zoh(*legendre_state_space(q, 8.0))
    u = torch.randn(b, T, C, generator=g, dtype=dtype)
    m0 = torch.randn(b, C, q, generator=g, dtype=dtype) if state else None
    return dict(u=u, initial_state=m0), dict(Abar=Abar.to(dtype), Bbar=Bbar.to(dtype))  # (inputs, fixed matrices)


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 3), T=st.integers(1, 70), C=st.integers(1, 3), q=st.integers(1, 12),
       state=st.booleans(), seed=st.integers(0, 99))
def test_fft_matches_recurrent_forward_and_backward(b, T, C, q, state, seed):
    inputs, fixed = _inputs(b, T, C, q, torch.float32, seed, state)
    fast, ref = run(lmu_memory, inputs, "fft", **fixed), run(lmu_memory, inputs, "recurrent", **fixed)
    close(fast[0], ref[0], 1e-5)
    for got, want in zip((*fast[1], *fast[2]), (*ref[1], *ref[2])):
        close(got, want, 1e-5)


def test_gradcheck_float64():
    inputs, fixed = _inputs(2, 9, 2, 4, torch.float64, 0, True)
    assert gradcheck(lmu_memory, {**inputs, **fixed}, mode="fft", output_final_state=True)


def test_memory_holds_a_delayed_input():
    # the memory decodes u(t - theta) as sum_i P~_i(1) m_i with Voelker et al.'s shifted Legendre P~_i(1) = 1
    q, theta, T = 12, 20.0, 200
    Abar, Bbar = zoh(*legendre_state_space(q, theta))
    t = torch.arange(T, dtype=torch.float64)
    u = torch.sin(2 * torch.pi * t / 80).view(1, T, 1)
    m, _ = lmu_memory(u, Abar, Bbar, mode="fft")
    decoded = m[0, :, 0].sum(-1)
    torch.testing.assert_close(decoded[100:], u[0, 80:180, 0], atol=0.05, rtol=0)


def test_bad_inputs_raise():
    Abar, Bbar = zoh(*legendre_state_space(3, 4.0))
    with pytest.raises(ValueError, match="mode"):
        lmu_memory(torch.randn(1, 4, 2), Abar, Bbar, mode="scan")
    with pytest.raises(ValueError, match="initial_state"):
        lmu_memory(torch.randn(1, 4, 2), Abar, Bbar, torch.randn(1, 3, 3))
    with pytest.raises(ValueError, match="order"):
        legendre_state_space(0, 4.0)
