"""Dilated causal convolution: F.conv1d == the token-by-token sum, with the window carried across calls."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.dilated_conv import dilated_causal_conv
from tests.ops.modes import assert_modes_agree, gradcheck


def _inputs(b, t, h, K, dilation, state=True, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(u=torch.randn(b, t, h, generator=g, dtype=dtype), weight=torch.randn(h, K, generator=g, dtype=dtype),
                bias=torch.randn(h, generator=g, dtype=dtype),
                initial_state=torch.randn(b, h, (K - 1) * dilation, generator=g, dtype=dtype) if state else None)


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(1, 30), h=st.integers(1, 4), K=st.integers(2, 4),
       dilation=st.sampled_from([1, 2, 4, 8]), state=st.booleans(), seed=st.integers(0, 99))
def test_conv_matches_recurrent(b, t, h, K, dilation, state, seed):
    assert_modes_agree(dilated_causal_conv, _inputs(b, t, h, K, dilation, state, seed=seed), 1e-5, mode="conv",
                       dilation=dilation)


def test_float64_exact_gradcheck_and_taps():
    inputs = _inputs(2, 9, 2, 3, 2, dtype=torch.float64)
    assert_modes_agree(dilated_causal_conv, inputs, 1e-10, mode="conv", dilation=2)
    assert gradcheck(dilated_causal_conv, inputs, dilation=2, output_final_state=True)
    impulse = torch.zeros(1, 12, 1)
    impulse[:, 0] = 1
    y, _ = dilated_causal_conv(impulse, torch.tensor([[3.0, 2.0, 1.0]]), dilation=4)
    # tap K-1 reads lag 0, tap 0 reads lag (K-1) * dilation
    assert y[0, :, 0].tolist() == [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="initial_state"):
        dilated_causal_conv(torch.randn(1, 3, 2), torch.randn(2, 3), dilation=2, initial_state=torch.randn(1, 2, 2))
    with pytest.raises(ValueError, match="dilation"):
        dilated_causal_conv(torch.randn(1, 3, 2), torch.randn(2, 3), dilation=0)
    with pytest.raises(ValueError, match="mode"):
        dilated_causal_conv(torch.randn(1, 3, 2), torch.randn(2, 3), mode="fft")
