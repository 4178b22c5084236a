"""Diagonal scans (log decay and signed decay): chunked form == step-by-step reference."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.scan import diagonal_scan, signed_diagonal_scan
from tests.ops.modes import close, outputs_and_grads


def _inputs(T, dtype, signed, seed=0, batch=2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, T, 3, 4, generator=g, dtype=dtype)
    if signed:
        a = torch.rand(batch, T, 3, 4, generator=g, dtype=dtype) * 2 - 1
    else:
        a = -torch.rand(batch, T, 3, 4, generator=g, dtype=dtype) * 3
    h0 = torch.randn(batch, 3, 4, generator=g, dtype=dtype)
    return x, a, h0


def _run(fn, x, a, h0, mode):
    def loss(out):
        h, final = out
        return (h * torch.cos(h)).sum() + (final ** 2).sum()

    scan = lambda x, a, h0=None: fn(x, a, h0, output_final_state=True, mode=mode)  # noqa: E731
    (h, final), grads = outputs_and_grads(scan, dict(x=x, a=a, h0=h0), loss)
    return (h, final, *grads)


FNS = [(diagonal_scan, False), (signed_diagonal_scan, True)]


@settings(max_examples=10, deadline=None)
@given(T=st.integers(1, 80), use_h0=st.booleans(), seed=st.integers(0, 100))
@pytest.mark.parametrize("fn,signed", FNS, ids=["log_decay", "signed"])
def test_chunk_matches_recurrent_forward_and_backward(fn, signed, T, use_h0, seed):
    x, a, h0 = _inputs(T, torch.float32, signed, seed)
    h0 = h0 if use_h0 else None
    for got, want in zip(_run(fn, x, a, h0, "chunk"), _run(fn, x, a, h0, "recurrent")):
        close(got, want, 1e-5)  # relative to scale: da reaches ~30, where float32 rounding is ~1e-5


@pytest.mark.parametrize("fn,signed,mode,T", [(diagonal_scan, False, "chunk", 7), (signed_diagonal_scan, True, "chunk", 7),
                                             (diagonal_scan, False, "log", 40)], ids=["log_decay", "signed", "log"])
def test_gradcheck_float64(fn, signed, mode, T):
    x, a, h0 = _inputs(T, torch.float64, signed, batch=1)
    f = lambda x, a, h0: fn(x, a, h0, output_final_state=True, mode=mode)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x.requires_grad_(), a.requires_grad_(), h0.requires_grad_()))


def test_strong_decays_and_sign_flips_stay_exact():
    # steps decaying by e^-200 underflow to 0 inside chunks; -1 transitions flip the state's sign
    x, _, h0 = _inputs(40, torch.float64, False)
    g = torch.full_like(x, -200.0)
    g[:, ::3] = -0.01
    torch.testing.assert_close(diagonal_scan(x, g, h0, mode="chunk")[0], diagonal_scan(x, g, h0, mode="recurrent")[0])
    a = torch.where(torch.rand_like(x) < 0.5, -1.0, 1.0).to(x.dtype)
    h, _ = signed_diagonal_scan(x, a, h0, mode="chunk")
    torch.testing.assert_close(h, signed_diagonal_scan(x, a, h0, mode="recurrent")[0])
    assert not torch.allclose(h, diagonal_scan(x, torch.zeros_like(x), h0)[0])  # the signs mattered


@pytest.mark.parametrize("T", [1, 2, 17, 50, 131])
def test_chunk_boundaries_zeros_and_underflow_forward_and_backward(T):
    # chunk length ~ sqrt(T/2) with a ragged rest: every T here ends mid-chunk or exactly on a boundary;
    # transitions exactly 0 (a reset), -1, and e^-200 (underflow) mixed with ordinary ones
    x, a, h0 = _inputs(T, torch.float32, True, seed=T)
    g = torch.Generator().manual_seed(T)
    pick = torch.randint(0, 6, a.shape, generator=g)
    a = torch.where(pick == 0, 0.0, torch.where(pick == 1, -1.0, torch.where(pick == 2, math.exp(-200), a)))
    for got, want in zip(_run(signed_diagonal_scan, x, a, h0, "chunk"), _run(signed_diagonal_scan, x, a, h0, "recurrent")):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    g_log = torch.where(pick == 2, -200.0, -torch.rand(a.shape, generator=g) * 3)
    for got, want in zip(_run(diagonal_scan, x, g_log, h0, "chunk"), _run(diagonal_scan, x, g_log, h0, "recurrent")):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="equal shapes"):
        diagonal_scan(torch.randn(2, 5, 3), torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match="initial_state"):
        signed_diagonal_scan(torch.randn(2, 5, 3), torch.rand(2, 5, 3), torch.randn(2, 4))
    with pytest.raises(ValueError, match="mode"):
        diagonal_scan(torch.randn(2, 5, 3), torch.randn(2, 5, 3), mode="fast")


def test_known_value():
    # h = 0.5 h + 1 from h0 = 0: 1, 1.5, 1.75; a = -1: 1, 0, 1
    x = torch.ones(1, 3, 1)
    h, _ = diagonal_scan(x, torch.full_like(x, math.log(0.5)))
    torch.testing.assert_close(h.flatten(), torch.tensor([1.0, 1.5, 1.75]))
    h, _ = signed_diagonal_scan(x, -torch.ones_like(x))
    torch.testing.assert_close(h.flatten(), torch.tensor([1.0, 0.0, 1.0]))


# the log-space form (diagonal_scan mode="log"): chunks of 16, so T up to 100 spans several and ends mid-chunk
@settings(max_examples=10, deadline=None)
@given(T=st.integers(1, 100), use_h0=st.booleans(), positive=st.booleans(), seed=st.integers(0, 100))
def test_log_matches_recurrent_forward_and_backward(T, use_h0, positive, seed):
    x, g, h0 = _inputs(T, torch.float32, False, seed)
    x = x.abs() if positive else x  # minGRU's values are positive; RG-LRU's and the gradients are signed
    h0 = h0 if use_h0 else None
    for got, want in zip(_run(diagonal_scan, x, g, h0, "log"), _run(diagonal_scan, x, g, h0, "recurrent")):
        close(got, want, 1e-5)


def test_log_strong_decays_and_zero_inputs():
    # e^-200 steps inside a chunk (A reaches -6000: log space has no overflow) and exact zeros in x
    x, _, h0 = _inputs(70, torch.float64, False)
    g = torch.full_like(x, -200.0)
    g[:, ::3] = -0.01
    x[:, 5:9] = 0
    torch.testing.assert_close(diagonal_scan(x, g, h0, mode="log")[0], diagonal_scan(x, g, h0, mode="recurrent")[0])
