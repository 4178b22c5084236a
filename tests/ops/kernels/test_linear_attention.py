"""The compiled CPU kernel of decayed linear attention (rnnzoo/ops/kernels/csrc/linear_attention.c), as the "kernel" mode
of simple_gla (one decay per head and step) and gla (one per key channel): equal to the reference loop."""

from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.gla import gla
from rnnzoo.ops.kernels import linear_attention as kernel
from rnnzoo.ops.simple_gla import simple_gla
from tests.ops.modes import assert_modes_agree, gated_qkv, gradcheck, kernel_missing

pytestmark = pytest.mark.skipif(kernel_missing("linear_attention"), reason="no C compiler: no compiled kernel")


def _simple_gla(b, t, h, dk, dv, seed=0, dtype=torch.float32, strength=1.0, state=True):
    q, k, v, g, s0 = gated_qkv(b, t, h, dk, dv, (), seed, dtype, strength, state)
    return dict(q=q, k=k, v=v, g=g, initial_state=s0)


def _gla(b, t, h, dk, dv, seed=0, dtype=torch.float32, strength=1.0, state=True):
    q, k, v, gk, s0 = gated_qkv(b, t, h, dk, dv, (dk,), seed, dtype, strength, state)
    return dict(q=q, k=k, v=v, gk=gk, initial_state=s0)


OPS = pytest.mark.parametrize("op,make", [(simple_gla, _simple_gla), (gla, _gla)], ids=["simple_gla", "gla"])


@OPS
@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 90), h=st.integers(1, 3), dk=st.sampled_from([3, 16, 32]),
       dv=st.sampled_from([5, 16, 64]), segment=st.sampled_from([4, 64]), state=st.booleans(),
       seed=st.integers(0, 99))
def test_kernel_matches_recurrent_float32(op, make, b, t, h, dk, dv, segment, state, seed):
    # dk, dv multiples of 16 run the vectorised loops (32 x 64: two row blocks, four column blocks), others the
    # plain ones; segments of 4 steps put many saved states into one sequence
    with mock.patch.object(kernel, "SEGMENT", segment):
        assert_modes_agree(op, make(b, t, h, dk, dv, seed, state=state), 1e-5, mode="kernel")


@OPS
@pytest.mark.parametrize("dk,dv", [(4, 3), (16, 16)])
def test_strong_decay_underflows_like_the_loop(op, make, dk, dv):
    x = make(1, 300, 2, dk, dv, strength=50.0)  # exp(g) down to e^-300: 0 in float32
    assert_modes_agree(op, x, 1e-5, mode="kernel")


@OPS
def test_gradcheck_float64(op, make):
    assert gradcheck(op, make(1, 9, 2, 3, 2, dtype=torch.float64), mode="kernel", output_final_state=True)


@OPS
def test_auto_takes_the_kernel_for_multiples_of_16(op, make):
    with mock.patch.object(kernel, "kernel_recurrence", wraps=kernel.kernel_recurrence) as compiled:
        op(**make(1, 20, 1, 16, 32), mode="auto")
        assert compiled.call_count == 1
        op(**make(1, 20, 1, 16, 5), mode="auto")  # V = 5: the chunk form
        assert compiled.call_count == 1
