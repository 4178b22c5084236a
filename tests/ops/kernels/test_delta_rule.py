"""The compiled CPU kernel of the delta rule with decay (rnnzoo/ops/kernels/csrc/delta_rule.c), as the "kernel" mode of
delta_rule, gated_delta_rule and delta_product (n rank-1 rows per token, the decay once per token): equal to the
reference loop forward and backward, float64 gradcheck, and the pure-PyTorch fallback without the kernel."""

from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.kernels import delta_rule as kernel
from rnnzoo.ops.kernels import native
from tests.ops.modes import close, kernel_missing
from tests.ops.test_delta import OPS, call, forward_backward, make_inputs

pytestmark = pytest.mark.skipif(kernel_missing("delta_rule"), reason="no C compiler: no compiled kernel")


def assert_kernel_matches_recurrent(op, x, n=2, with_state=True, tol=1e-5):
    ref = forward_backward(op, x, "recurrent", n=n, with_state=with_state)
    got = forward_backward(op, x, "kernel", n=n, with_state=with_state)
    close(got[0], ref[0], tol)
    close(got[1], ref[1], tol)
    assert got[2].keys() == ref[2].keys()
    for name in ref[2]:
        close(got[2][name], ref[2][name], tol)


@pytest.mark.parametrize("op", OPS)
@settings(max_examples=12, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 70), h=st.integers(1, 3), dk=st.sampled_from([3, 16, 32]),
       dv=st.sampled_from([5, 16, 64]), n=st.integers(1, 3), segment=st.sampled_from([3, 32]), state=st.booleans(),
       seed=st.integers(0, 99))
def test_kernel_matches_recurrent_float32(op, b, t, h, dk, dv, n, segment, state, seed):
    # dk, dv multiples of 16 run the vectorised loops, others the plain ones; segments of 3 tokens put many saved
    # states (and segment ends between a token's rows' recomputation) into one sequence
    with mock.patch.object(kernel, "SEGMENT", segment):
        assert_kernel_matches_recurrent(op, make_inputs(op, b, t, h, dk, dv, n=n, seed=seed), n=n, with_state=state)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dk,dv", [(4, 3), (16, 16)])
def test_strong_decay_underflows_like_the_loop(op, dk, dv):
    # exp(g) down to e^-200: 0 in float32; beta up to 2 (negative eigenvalues)
    assert_kernel_matches_recurrent(op, make_inputs(op, 1, 40, 2, dk, dv, decay=200.0))


@pytest.mark.parametrize("op", OPS)
def test_gradcheck_float64(op):
    x = make_inputs(op, 1, 7, 2, 3, 2, n=2, dtype=torch.float64)
    names = list(x)

    def fn(*tensors):
        with mock.patch.object(kernel, "SEGMENT", 3):  # a segment boundary inside the sequence
            return call(op, dict(zip(names, tensors)), "kernel", n=2)

    assert torch.autograd.gradcheck(fn, tuple(x[name].detach().requires_grad_() for name in names))


@pytest.mark.parametrize("op", OPS)
def test_output_only_and_state_only_gradients(op):
    x = make_inputs(op, 1, 9, 1, 16, 16)
    for pick in (0, 1):
        ref = torch.autograd.grad(call(op, x, "recurrent")[pick].sum(), list(x.values()), materialize_grads=True)
        got = torch.autograd.grad(call(op, x, "kernel")[pick].sum(), list(x.values()), materialize_grads=True)
        for a, b in zip(got, ref):
            close(a, b, 1e-5)


def test_auto_takes_the_kernel_where_it_fits():
    x = make_inputs("gated_delta_rule", 1, 20, 1, 16, 32)
    with mock.patch.object(kernel, "kernel_recurrence", wraps=kernel.kernel_recurrence) as compiled:
        call("gated_delta_rule", x, "auto")
        assert compiled.call_count == 1
        call("gated_delta_rule", make_inputs("gated_delta_rule", 1, 20, 1, 16, 5), "auto")  # V = 5: chunk form
        assert compiled.call_count == 1


def test_auto_falls_back_to_the_chunk_form_without_the_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNZOO_NATIVE", "0")
    native._build.cache_clear()
    try:
        x = make_inputs("delta_product", 1, 12, 1, 16, 16)
        with mock.patch.object(kernel, "kernel_recurrence") as compiled:
            o, s = call("delta_product", x, "auto")
        assert compiled.call_count == 0
        o_ref, s_ref = call("delta_product", x, "recurrent")
        close(o, o_ref, 1e-5)
        with pytest.raises(RuntimeError, match="RNNZOO_NATIVE=0"):
            call("delta_product", x, "kernel")
    finally:
        native._build.cache_clear()
