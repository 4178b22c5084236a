"""The compiled CPU kernel of the DPLR delta rule (rnnzoo/ops/kernels/csrc/dplr.c), as the "kernel" mode of
dplr_delta_rule, iplr_delta_rule and comba: equal to the reference loop forward and backward (hypothesis shapes, T=1,
odd T, several checkpoint segments, -inf and very negative gates), float64 gradcheck, packed sequences, and the
pure-PyTorch fallback without the kernel."""

from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.comba import comba
from rnnzoo.ops.kernels import dplr as kernel
from rnnzoo.ops.kernels import native
from tests.ops.modes import assert_modes_agree, close, gradcheck, kernel_missing, run
from tests.ops.test_comba import make as make_comba
from tests.ops.test_dplr import OPS, make, with_zero_decays

pytestmark = pytest.mark.skipif(kernel_missing("dplr"), reason="no C compiler: no compiled kernel")


@pytest.mark.parametrize("op", OPS)
@settings(max_examples=12, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 70), h=st.integers(1, 3), dk=st.sampled_from([3, 16, 32]),
       dv=st.sampled_from([5, 16, 64]), segment=st.sampled_from([1, 3, 32]), state=st.booleans(),
       seed=st.integers(0, 99))
def test_kernel_matches_recurrent_float32(op, b, t, h, dk, dv, segment, state, seed):
    # dk, dv multiples of 16 run the vectorised loops, others the plain ones; segments of 1 and 3 tokens put many
    # saved states into one sequence (and segments of a single token, where the backward's passes meet)
    with mock.patch.object(kernel, "SEGMENT", segment):
        assert_modes_agree(OPS[op], make(op, b, t, h, dk, dv, seed, state=state), 1e-5, mode="kernel")


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("t,dk,dv", [(1, 16, 16), (1, 3, 5), (33, 16, 32), (65, 64, 64), (7, 48, 80)])
def test_kernel_matches_recurrent_t1_and_odd_lengths(op, t, dk, dv):
    with mock.patch.object(kernel, "SEGMENT", 8):
        assert_modes_agree(OPS[op], make(op, 2, t, 2, dk, dv, seed=t), 1e-5, mode="kernel")


@pytest.mark.parametrize("dk,dv", [(8, 4), (16, 16)])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_zero_and_very_negative_gates_match_the_loop(dk, dv, dtype, tol):
    # gates of -inf (decay exactly 0) and -1e4, and per-channel log decays near -30 a step (exp underflows to 0)
    x = with_zero_decays(make("dplr", 2, 37, 2, dk, dv, dtype=dtype), "gk", dtype)
    with mock.patch.object(kernel, "SEGMENT", 5):
        o = assert_modes_agree(OPS["dplr"], x, tol, mode="kernel")
        assert_modes_agree(OPS["dplr"], make("dplr", 1, 40, 2, dk, dv, dtype=dtype, strength=30.0), tol, mode="kernel")
    assert torch.isfinite(o).all()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("state", [True, False])
def test_gradcheck_float64(op, state):
    with mock.patch.object(kernel, "SEGMENT", 3):  # segment boundaries inside the sequence
        assert gradcheck(OPS[op], make(op, 1, 7, 2, 3, 2, dtype=torch.float64, state=state), mode="kernel",
                         output_final_state=True)


def test_output_only_and_state_only_gradients():
    x = make("dplr", 1, 9, 1, 16, 16)
    names = [n for n in x if x[n] is not None]
    for pick in (0, 1):
        grads = []
        for mode in ("recurrent", "kernel"):
            leaves = {n: x[n].clone().requires_grad_() for n in names}
            out = OPS["dplr"](**leaves, output_final_state=True, mode=mode)[pick]
            grads.append(torch.autograd.grad(out.sum(), list(leaves.values()), materialize_grads=True))
        for a, b in zip(*grads):
            close(a, b, 1e-5)


def test_comba_runs_the_kernel():
    x = make_comba(2, 21, 2, 16, 16)
    with mock.patch.object(kernel, "SEGMENT", 4):
        assert_modes_agree(comba, x, 1e-5, mode="kernel")


def test_packed_sequences_match_each_alone():
    x = make("dplr", 1, 23, 2, 16, 16, seed=4, state=False)
    cu = torch.tensor([0, 5, 6, 23])
    o, s = OPS["dplr"](**x, output_final_state=True, mode="kernel", cu_seqlens=cu)
    for n in range(3):
        part = {name: (None if t is None else t[:, cu[n]:cu[n + 1]]) for name, t in x.items()}
        o_ref, s_ref = OPS["dplr"](**part, output_final_state=True, mode="recurrent")
        close(o[:, cu[n]:cu[n + 1]], o_ref, 1e-5)
        close(s[n:n + 1], s_ref, 1e-5)


def test_auto_takes_the_kernel_where_it_fits():
    with mock.patch.object(kernel, "kernel_recurrence", wraps=kernel.kernel_recurrence) as compiled:
        run(OPS["dplr"], make("dplr", 1, 20, 1, 16, 32), "auto")
        assert compiled.call_count == 1
        run(OPS["dplr"], make("dplr", 1, 20, 1, 16, 5), "auto")  # V = 5: chunk form
        assert compiled.call_count == 1


def test_auto_falls_back_to_the_chunk_form_without_the_kernel(monkeypatch):
    monkeypatch.setenv("RNNZOO_NATIVE", "0")
    native._build.cache_clear()
    try:
        x = make("iplr", 1, 12, 1, 16, 16)
        with mock.patch.object(kernel, "kernel_recurrence") as compiled:
            o, s, _ = run(OPS["iplr"], x, "auto")
        assert compiled.call_count == 0
        o_ref, _, _ = run(OPS["iplr"], x, "recurrent")
        close(o, o_ref, 1e-5)
        with pytest.raises(RuntimeError, match="RNNZOO_NATIVE=0"):
            OPS["iplr"](**x, mode="kernel")
    finally:
        native._build.cache_clear()
