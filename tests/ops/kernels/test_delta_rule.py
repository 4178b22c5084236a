"""The compiled CPU kernel of the delta rule with decay (rnnzoo/ops/kernels/csrc/delta_rule.c), as the "kernel" mode of
delta_rule, gated_delta_rule and delta_product (n rank-1 rows per token, the decay once per token) and of kda and gdn2
(a decay per key channel, channel-wise gates): equal to the reference loop forward and backward, float64 gradcheck,
and the pure-PyTorch fallback without the kernel."""

from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.kda import _recurrent
from rnnzoo.ops.kernels import delta_rule as kernel
from rnnzoo.ops.kernels import native
from tests.ops.modes import assert_modes_agree, close, gradcheck, kernel_missing
from tests.ops.test_delta import OPS, call, forward_backward, make_inputs
from tests.ops.test_kda import OPS as KDA_OPS
from tests.ops.test_kda import make as make_kda

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



@pytest.mark.parametrize("op", ["kda", "gdn2"])
@pytest.mark.parametrize("t,dk,dv,state", [(1, 16, 16, True), (37, 3, 5, False), (70, 32, 64, True)])
def test_kda_and_gdn2_kernel_matches_recurrent(op, t, dk, dv, state):
    # one decay per key channel; gdn2's erase and write gates per channel
    with mock.patch.object(kernel, "SEGMENT", 8):
        assert_modes_agree(KDA_OPS[op], make_kda(op, 2, t, 2, dk, dv, seed=t, state=state), 1e-5, mode="kernel")


@pytest.mark.parametrize("op", ["kda", "gdn2"])
def test_kda_and_gdn2_gradcheck_float64(op):
    with mock.patch.object(kernel, "SEGMENT", 3):
        assert gradcheck(KDA_OPS[op], make_kda(op, 1, 7, 2, 3, 2, dtype=torch.float64), mode="kernel",
                         output_final_state=True)


@pytest.mark.parametrize("dk,dv", [(3, 5), (16, 32)])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_per_key_decay_and_channel_gates_match_gdn2_loop(dk, dv, dtype, tol):
    # Gated DeltaNet-2's rule on the kernel's own arguments: erase vector a = b . k, value x = w . v
    gen = torch.Generator().manual_seed(3)
    q, k, g, b = (torch.randn(2, 33, 2, dk, generator=gen, dtype=dtype) for _ in range(4))
    v, w = (torch.randn(2, 33, 2, dv, generator=gen, dtype=dtype) for _ in range(2))
    k, g, b, w = torch.nn.functional.normalize(k, dim=-1), -g.abs(), b.sigmoid(), w.sigmoid()
    s0 = torch.randn(2, 2, dk, dv, generator=gen, dtype=dtype)
    leaves = [t.requires_grad_() for t in (q, k, v, g, b, w, s0)]
    with mock.patch.object(kernel, "SEGMENT", 4):
        got = kernel.kernel_recurrence(q, k, b * k, w * v, g, s0)
    want = _recurrent(q, k, v, g, b, w, s0)
    proj = torch.randn(got[0].shape, generator=gen, dtype=dtype)
    grads = [torch.autograd.grad((o * proj).sum() + (s * s).sum(), leaves) for o, s in (got, want)]
    for a_, b_ in zip((*got, *grads[0]), (*want, *grads[1])):
        close(a_, b_, tol)
