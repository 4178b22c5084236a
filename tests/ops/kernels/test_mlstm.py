"""The compiled CPU kernel of xLSTM's mLSTM cell (rnnzoo/ops/kernels/csrc/mlstm.c), as the "kernel" mode of mlstm:
equal to the stabilised reference loop forward and backward (gradients through the stabiliser m included), float64
gradcheck, and the pure-PyTorch fallback without the kernel."""

from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.kernels import mlstm as kernel
from rnnzoo.ops.kernels import native
from rnnzoo.ops.mlstm import mlstm
from tests.ops.modes import assert_modes_agree, close, gradcheck, kernel_missing, outputs_and_grads
from tests.ops.test_mlstm import make

pytestmark = pytest.mark.skipif(kernel_missing("mlstm"), reason="no C compiler: no compiled kernel")


def _make(b, t, h, dk, dv, seed=0, dtype=torch.float32, gate_scale=1.0, state=True):
    """test_mlstm's inputs with V != K allowed."""
    x = make(b, t, h, dk, seed, dtype, gate_scale, state)
    x["v"] = torch.randn(b, t, h, dv, generator=torch.Generator().manual_seed(seed + 1), dtype=dtype)
    if state:
        c, n, m = x["initial_state"]
        x["initial_state"] = (torch.randn(b, h, dk, dv, dtype=dtype, generator=torch.Generator().manual_seed(seed)), n,
                              m)
    return x


def _run(inputs, mode):
    """(h, final state, grads of a fixed random projection of h plus 0.1 |state|^2 in every input)."""
    w = torch.randn(inputs["v"].shape, generator=torch.Generator().manual_seed(7))

    def loss(out):
        o, s = out
        return (o * w.to(o.dtype)).sum() + sum((t * t).sum() * 0.1 for t in s)

    (o, s), grads = outputs_and_grads(mlstm, inputs, loss, mode=mode, output_final_state=True)
    return (o, *s, *grads)


def assert_kernel_matches_float64_loop(inputs, tol):
    """The float32 kernel against the reference loop run in float64: the float32 loop itself drifts by more than
    1e-5 where the normaliser max(|n·q|, exp(-m)) is small (the kernel's error there is ~1e-6)."""
    x64 = {n: tuple(t.double() for t in v) if isinstance(v, tuple) else None if v is None else v.double()
           for n, v in inputs.items()}
    for got, want in zip(_run(inputs, "kernel"), _run(x64, "recurrent")):
        close(got.double(), want, tol)


@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 90), h=st.integers(1, 3), dk=st.sampled_from([3, 16, 32]),
       dv=st.sampled_from([5, 16, 64]), segment=st.sampled_from([4, 64]), state=st.booleans(),
       seed=st.integers(0, 99))
def test_kernel_matches_recurrent_float32(b, t, h, dk, dv, segment, state, seed):
    # dk, dv multiples of 16 run the vectorised loops, others the plain ones; segments of 4 steps put many saved
    # states into one sequence
    with mock.patch.object(kernel, "SEGMENT", segment):
        assert_kernel_matches_float64_loop(_make(b, t, h, dk, dv, seed, state=state), 1e-5)


@pytest.mark.parametrize("dk,dv", [(4, 3), (16, 16)])
def test_large_gates_match_the_loop(dk, dv):
    # input-gate preactivations of +-60 move the stabiliser by large steps; float64 so that the normaliser near
    # zero (amplified alike in any float32 loop) does not blur the comparison
    with mock.patch.object(kernel, "SEGMENT", 16):
        assert_modes_agree(mlstm, _make(2, 70, 2, dk, dv, dtype=torch.float64, gate_scale=30.0), 1e-9, mode="kernel")


def test_gradcheck_float64():
    with mock.patch.object(kernel, "SEGMENT", 4):
        assert gradcheck(mlstm, _make(1, 9, 2, 3, 2, dtype=torch.float64), mode="kernel", output_final_state=True)


def test_auto_takes_the_kernel_where_it_fits():
    with mock.patch.object(kernel, "kernel_recurrence", wraps=kernel.kernel_recurrence) as compiled:
        mlstm(**_make(1, 20, 1, 16, 32), mode="auto")
        assert compiled.call_count == 1
        mlstm(**_make(1, 20, 1, 16, 5), mode="auto")  # V = 5: the chunk form
        assert compiled.call_count == 1


def test_auto_falls_back_to_the_chunk_form_without_the_kernel(monkeypatch):
    monkeypatch.setenv("RNNZOO_NATIVE", "0")
    native._build.cache_clear()
    try:
        x = _make(1, 12, 1, 16, 16)
        with mock.patch.object(kernel, "kernel_recurrence") as compiled:
            o, _ = mlstm(**x, mode="auto")
        assert compiled.call_count == 0
        torch.testing.assert_close(o, mlstm(**x, mode="recurrent")[0], atol=1e-5, rtol=1e-5)
        with pytest.raises(RuntimeError, match="RNNZOO_NATIVE=0"):
            mlstm(**x, mode="kernel")
    finally:
        native._build.cache_clear()
