"""Mamba-2 SSD (log decay and signed decay): chunked form == recurrence, forward and backward."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.ssd import signed_ssd, ssd
from tests.ops.modes import gradcheck, kernel_missing, outputs_and_grads


def _inputs(batch, T, H, N, P, signed, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    a = torch.rand(batch, T, H, generator=g, dtype=dtype)
    a = a * 2 - 1 if signed else -a
    return dict(x=r(batch, T, H, P), a=a, b=r(batch, T, H, N) * 0.5, c=r(batch, T, H, N) * 0.5,
                initial_state=r(batch, H, N, P))


def _run(fn, inputs, mode, chunk_size):
    """-> (y, h, grads of every input in inputs' order)."""
    def loss(out):
        g = torch.Generator().manual_seed(1)
        return sum((t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in out)

    (y, h), grads = outputs_and_grads(fn, inputs, loss, chunk_size=chunk_size, output_final_state=True, mode=mode)
    return (y, h, *grads)


FNS = [(ssd, False), (signed_ssd, True)]
needs_kernel = pytest.mark.skipif(kernel_missing("linear_attention"), reason="no C compiler: no compiled kernel")


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 2), T=st.integers(1, 40), chunk=st.sampled_from([4, 8, 64]), H=st.integers(1, 3),
       use_h0=st.booleans())
@pytest.mark.parametrize("fn,signed", FNS, ids=["ssd", "signed_ssd"])
def test_chunk_matches_recurrent(fn, signed, batch, T, chunk, H, use_h0):
    inputs = _inputs(batch, T, H, 3, 5, signed)
    if not use_h0:
        del inputs["initial_state"]
    for got, want in zip(_run(fn, inputs, "chunk", chunk), _run(fn, inputs, "recurrent", chunk)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fn,signed", FNS, ids=["ssd", "signed_ssd"])
def test_gradcheck_float64(fn, signed):
    assert gradcheck(fn, _inputs(1, 7, 2, 2, 3, signed, torch.float64), chunk_size=3, output_final_state=True)


def test_strong_decay_is_stable():
    inputs = _inputs(1, 50, 2, 3, 4, False)
    inputs["a"] = inputs["a"] * 200  # steps of e^-200: the naive cumsum-difference form would overflow
    y, h = ssd(**inputs, chunk_size=16, output_final_state=True)
    y_ref, h_ref = ssd(**inputs, output_final_state=True, mode="recurrent")
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(h, h_ref)


def test_bad_shapes_raise():
    inputs = _inputs(2, 5, 2, 3, 4, False)
    with pytest.raises(ValueError, match="a must"):
        ssd(**{**inputs, "a": torch.zeros(2, 5, 3)})
    with pytest.raises(ValueError, match="b and c"):
        ssd(**{**inputs, "c": torch.zeros(2, 5, 2, 4)})
    with pytest.raises(ValueError, match="initial_state"):
        ssd(**{**inputs, "initial_state": torch.zeros(2, 2, 4, 3)})
    empty = {k: (v[:, :0] if k != "initial_state" else v) for k, v in inputs.items()}
    for mode in ("recurrent", "chunk", "kernel"):
        with pytest.raises(ValueError, match="empty time dimension"):
            ssd(**empty, mode=mode)


@pytest.mark.parametrize("chunk", [3, 8])
def test_signed_ssd_sign_flips_zeros_and_strong_decay(chunk):
    # transitions -1 (flip), 0 (reset; e^-60 in the chunk form), tiny magnitudes, across chunk boundaries
    inputs = _inputs(2, 29, 2, 3, 4, True)
    g = torch.Generator().manual_seed(3)
    pick = torch.randint(0, 6, inputs["a"].shape, generator=g)
    choices = torch.tensor([-1.0, 0.0, -1e-30, 0.9])
    inputs["a"] = torch.where(pick < 4, choices[pick.clamp(max=3)], inputs["a"])
    got = _run(signed_ssd, inputs, "chunk", chunk)
    want = _run(signed_ssd, inputs, "recurrent", chunk)
    for k, (a, b) in enumerate(zip(got, want)):
        if k != 2 + list(inputs).index("a"):  # d/da at a = 0 differs only through the e^-60 floor
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(want[0], _run(ssd, {**inputs, "a": -inputs["a"].abs()}, "recurrent", chunk)[0])


@needs_kernel
@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 2), T=st.integers(1, 90), H=st.integers(1, 3), NP=st.sampled_from([(3, 5), (16, 64)]),
       use_h0=st.booleans())
@pytest.mark.parametrize("fn,signed", FNS, ids=["ssd", "signed_ssd"])
def test_kernel_matches_recurrent(fn, signed, batch, T, H, NP, use_h0):
    # N, P = 16, 64 (Mamba-2's d_state and head dim) run the vectorised loops, 3, 5 the plain ones
    inputs = _inputs(batch, T, H, *NP, signed)
    if not use_h0:
        del inputs["initial_state"]
    for got, want in zip(_run(fn, inputs, "kernel", 64), _run(fn, inputs, "recurrent", 64)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@needs_kernel
@pytest.mark.parametrize("fn,signed", FNS, ids=["ssd", "signed_ssd"])
def test_kernel_gradcheck_float64(fn, signed):
    assert gradcheck(fn, _inputs(1, 7, 2, 2, 3, signed, torch.float64), mode="kernel", output_final_state=True)
