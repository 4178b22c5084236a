"""S4D: FFT convolution with the Vandermonde kernel == the diagonal recurrence (LSSL view)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.s4d import s4d_conv, s4d_init, s4d_kernel
from tests.ops.modes import gradcheck, outputs_and_grads


def _inputs(batch, T, H, N2, init="lin", dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    log_dt, log_A_real, A_imag, C = s4d_init(H, N2, init, dt_min=0.01, dt_max=0.5, generator=g)
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    return dict(u=torch.randn(batch, T, H, generator=g, dtype=dtype), log_dt=log_dt.to(dtype),
                log_A_real=log_A_real.to(dtype), A_imag=A_imag.to(dtype), C=C.to(cdtype),
                D=torch.randn(H, generator=g, dtype=dtype),
                initial_state=torch.randn(batch, H, N2, generator=g, dtype=cdtype))


def _run(inputs, mode):
    def loss(out):
        y, h = out
        g = torch.Generator().manual_seed(1)
        return (y * torch.randn(y.shape, generator=g, dtype=y.dtype)).sum() + torch.view_as_real(h).sum()

    (y, h), grads = outputs_and_grads(s4d_conv, inputs, loss, output_final_state=True, mode=mode)
    return (y, h, *grads)


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 2), T=st.integers(1, 40), N2=st.integers(1, 4), init=st.sampled_from(["lin", "inv"]),
       with_state=st.booleans())
def test_fft_matches_recurrent(batch, T, N2, init, with_state):
    inputs = _inputs(batch, T, 3, N2, init)
    if not with_state:
        del inputs["initial_state"]
    for got, want in zip(_run(inputs, "fft"), _run(inputs, "recurrent")):
        # norm-wise relative error: a per-channel parameter gradient sums B*T terms with cancellation, so one
        # element can be 1e-4 of the tensor's scale while the two float32 summation orders agree to ~1e-6
        got, want = got.detach(), want.detach()
        assert float((got - want).norm()) <= 1e-5 * float(want.norm()) + 1e-6, (got, want)


def test_float64_exact_and_gradcheck():
    inputs = _inputs(1, 6, 2, 2, dtype=torch.float64)
    for got, want in zip(_run(inputs, "fft"), _run(inputs, "recurrent")):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert gradcheck(s4d_conv, inputs, output_final_state=True)


def test_kernel_is_the_impulse_response():
    inputs = _inputs(1, 12, 3, 4)
    impulse = torch.zeros(1, 12, 3)
    impulse[:, 0] = 1
    y, _ = s4d_conv(impulse, inputs["log_dt"], inputs["log_A_real"], inputs["A_imag"], inputs["C"], mode="recurrent")
    k = s4d_kernel(inputs["log_dt"], inputs["log_A_real"], inputs["A_imag"], inputs["C"], 12)
    torch.testing.assert_close(y[0].t(), k)


def test_bad_shapes_raise():
    inputs = _inputs(2, 5, 3, 2)
    with pytest.raises(ValueError, match="log_A_real"):
        s4d_conv(**{**inputs, "A_imag": torch.zeros(3, 3)})
    with pytest.raises(ValueError, match="complex"):
        s4d_conv(**{**inputs, "C": inputs["C"].real})
    with pytest.raises(ValueError, match="init"):
        s4d_init(3, 2, "legs")
