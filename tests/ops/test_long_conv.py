"""Long convolution: the FFT form == the token-by-token sum, forward and backward, with and without a window."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.long_conv import fast_fft_size, long_conv
from tests.ops.modes import assert_modes_agree, gradcheck


def _inputs(b, t, h, L, S, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(u=torch.randn(b, t, h, generator=g, dtype=dtype), k=torch.randn(h, L, generator=g, dtype=dtype) / L,
                D=torch.randn(h, generator=g, dtype=dtype),
                initial_state=None if S is None else torch.randn(b, h, S, generator=g, dtype=dtype))


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(1, 40), h=st.integers(1, 4), L=st.integers(1, 50),
       S=st.one_of(st.none(), st.integers(0, 50)), seed=st.integers(0, 99))
def test_fft_matches_recurrent(b, t, h, L, S, seed):
    assert_modes_agree(long_conv, _inputs(b, t, h, L, S, seed=seed), 1e-5, mode="fft")


def test_float64_exact_and_gradcheck():
    inputs = _inputs(2, 7, 3, 5, 4, dtype=torch.float64)
    assert_modes_agree(long_conv, inputs, 1e-10, mode="fft")
    assert gradcheck(long_conv, inputs, output_final_state=True, mode="fft")


def test_impulse_response_is_the_filter_and_split_calls_agree():
    k = torch.randn(3, 6)
    impulse = torch.zeros(1, 10, 3)
    impulse[:, 0] = 1
    y, _ = long_conv(impulse, k)
    torch.testing.assert_close(y[0, :6].t(), k)
    assert y[0, 6:].abs().max() < 1e-6  # a finite filter: nothing past lag L-1 (FFT rounding only)
    u = torch.randn(2, 13, 3)
    y_full, final = long_conv(u, k, output_final_state=True)
    y1, window = long_conv(u[:, :5], k, output_final_state=True)
    y2, final2 = long_conv(u[:, 5:], k, initial_state=window, output_final_state=True)
    torch.testing.assert_close(torch.cat((y1, y2), 1), y_full, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(final2, final)


def test_fast_fft_size_is_smooth_and_minimal():
    assert [fast_fft_size(n) for n in (1, 7, 11, 97, 128)] == [1, 8, 12, 100, 128]


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="mode"):
        long_conv(torch.randn(1, 3, 2), torch.randn(2, 2), mode="chunk")
    with pytest.raises(ValueError, match="k must be"):
        long_conv(torch.randn(1, 3, 2), torch.randn(3, 2))
    with pytest.raises(ValueError, match="initial_state"):
        long_conv(torch.randn(1, 3, 2), torch.randn(2, 2), initial_state=torch.randn(1, 3, 4))
