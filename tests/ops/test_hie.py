"""PGN's HIE layer: the dense conv form == the token-by-token sum, and H_t reads only the W inputs before t."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.hie import hie
from tests.ops.modes import assert_modes_agree, gradcheck


def _inputs(b, t, d, h, W, state=True, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(u=torch.randn(b, t, d, generator=g, dtype=dtype), weight=torch.randn(h, d, W, generator=g, dtype=dtype),
                bias=torch.randn(h, generator=g, dtype=dtype),
                initial_state=torch.randn(b, d, W, generator=g, dtype=dtype) if state else None)


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(1, 30), d=st.integers(1, 4), h=st.integers(1, 4), W=st.integers(1, 12),
       state=st.booleans(), seed=st.integers(0, 99))
def test_conv_matches_recurrent(b, t, d, h, W, state, seed):
    assert_modes_agree(hie, _inputs(b, t, d, h, W, state, seed=seed), 1e-5, mode="conv")


def test_float64_exact_and_gradcheck():
    inputs = _inputs(2, 6, 2, 3, 4, dtype=torch.float64)
    assert_modes_agree(hie, inputs, 1e-10, mode="conv")
    assert gradcheck(hie, inputs, output_final_state=True)


def test_reads_the_w_inputs_before_each_step_only():
    inputs = _inputs(1, 12, 2, 3, 4, state=False)
    h, window = hie(**inputs, output_final_state=True)
    u = inputs["u"].clone()
    u[:, 6] += 1.0
    h2, _ = hie(u, inputs["weight"], inputs["bias"])
    changed = (h2 - h).abs().amax(-1)[0] > 0
    assert changed.tolist() == [False] * 7 + [True] * 4 + [False]  # steps 7..10: x_6 is among their 4 previous
    torch.testing.assert_close(window, inputs["u"][:, -4:].transpose(1, 2))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="weight"):
        hie(torch.randn(1, 3, 2), torch.randn(3, 5, 2))
    with pytest.raises(ValueError, match="initial_state"):
        hie(torch.randn(1, 3, 2), torch.randn(3, 2, 2), initial_state=torch.randn(1, 2, 3))
