"""mamba3: the SSD form == the reference loop (forward, backward, final state) for SISO and MIMO; any split of a
sequence continues exactly, the trapezoid's previous-input term included; the rotary is a complex transition;
lam = 1 without rotation is Mamba-2's SSD."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.mamba3 import mamba3
from rnnzoo.ops.ssd import ssd
from tests.ops.modes import assert_modes_agree, gradcheck


def make(b, t, h, r, p=3, n=6, angles=2, seed=0, dtype=torch.float32, state=True):
    gen = torch.Generator().manual_seed(seed)
    rn = lambda *s: torch.randn(*s, generator=gen, dtype=dtype)  # noqa: E731
    ru = lambda *s: torch.rand(*s, generator=gen, dtype=dtype)  # noqa: E731
    x = dict(x=rn(b, t, h, r, p), a=-ru(b, t, h), dt=ru(b, t, h), lam=ru(b, t, h), b=rn(b, t, h, r, n) * 0.5,
             c=rn(b, t, h, r, n) * 0.5, theta=rn(b, t, h, angles))
    x["initial_state"] = ((rn(b, h, angles), rn(b, h, n, p), rn(b, h, r, n), rn(b, h, r, p)) if state else None)
    return x


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 90), h=st.integers(1, 3), r=st.integers(1, 3),
       chunk=st.sampled_from([4, 16, 64]), state=st.booleans(), seed=st.integers(0, 99))
def test_fast_matches_recurrent_float32(b, t, h, r, chunk, state, seed):
    for mode in ("chunk", "auto"):
        assert_modes_agree(mamba3, make(b, t, h, r, seed=seed, state=state), 1e-5, mode=mode, chunk_size=chunk)


@pytest.mark.parametrize("t,r", [(1, 1), (1, 2), (17, 1), (23, 4)])
def test_fast_matches_recurrent_t1_and_odd(t, r):
    assert_modes_agree(mamba3, make(2, t, 2, r), 1e-5, chunk_size=8)


@pytest.mark.parametrize("r", [1, 2])
def test_gradcheck_float64(r):
    inputs = make(1, 4, 1, r, p=2, n=4, angles=1, dtype=torch.float64)
    for mode in ("recurrent", "chunk"):
        assert gradcheck(mamba3, inputs, mode=mode, chunk_size=2, output_final_state=True)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("r", [1, 3])
def test_split_and_single_steps_equal_the_whole(dtype, tol, r):
    """The state carries the previous token's rotated key and input: the trapezoid term crosses every split."""
    inputs = make(2, 21, 2, r, dtype=dtype)
    y, s = mamba3(**inputs, output_final_state=True, chunk_size=4)
    state, pieces = inputs.pop("initial_state"), []
    for lo, hi in [(0, 5), (5, 6), (6, 13), (13, 21)]:
        part = {k: v[:, lo:hi] for k, v in inputs.items()}
        y_part, state = mamba3(**part, initial_state=state, output_final_state=True, chunk_size=4)
        pieces.append(y_part)
    torch.testing.assert_close(torch.cat(pieces, 1), y, atol=tol, rtol=tol)
    for got, want in zip(state, s):
        torch.testing.assert_close(got, want, atol=tol, rtol=tol)
    state, steps = make(2, 21, 2, r, dtype=dtype)["initial_state"], []
    for t in range(21):
        y_t, state = mamba3(**{k: v[:, t:t + 1] for k, v in inputs.items()}, initial_state=state,
                            output_final_state=True, mode="recurrent")
        steps.append(y_t)
    torch.testing.assert_close(torch.cat(steps, 1), y, atol=tol, rtol=tol)


def test_previous_input_term_reaches_across_a_split():
    inputs = make(1, 6, 2, 1, dtype=torch.float64)
    _, state = mamba3(**{k: v[:, :3] for k, v in inputs.items() if k != "initial_state"}, output_final_state=True)
    rest = {k: v[:, 3:] for k, v in inputs.items() if k != "initial_state"}
    y, _ = mamba3(**rest, initial_state=state)
    forgotten = (state[0], state[1], torch.zeros_like(state[2]), state[3])
    y_forgot, _ = mamba3(**rest, initial_state=forgotten)
    assert (y - y_forgot)[:, 0].abs().max() > 1e-3  # lam < 1: the first token reads the previous input


def test_rotary_is_a_complex_transition():
    """N = 2 rotated as one complex number: h_t = e^{a_t - i theta_t} (h_{t-1} + (1 - lam_t) dt_t b_{t-1} x_{t-1})
    + lam_t dt_t b_t x_t and y_t = Re(conj(c_t) h_t)."""
    inputs = make(1, 9, 1, 1, p=2, n=2, angles=1, dtype=torch.float64, state=False)
    y, _ = mamba3(**inputs, mode="chunk", chunk_size=4)
    x, b, c = inputs["x"][0, :, 0, 0], inputs["b"][0, :, 0, 0], inputs["c"][0, :, 0, 0]
    a, dt, lam = (inputs[k][0, :, 0] for k in ("a", "dt", "lam"))
    th = inputs["theta"][0, :, 0, 0]
    bz, cz = torch.complex(b[:, 0], b[:, 1]), torch.complex(c[:, 0], c[:, 1])
    h = torch.zeros(2, dtype=torch.complex128)
    for t in range(9):
        prev = bz[t - 1] * x[t - 1] if t else 0
        h = torch.exp(torch.complex(a[t], -th[t])) * (h + (1 - lam[t]) * dt[t] * prev) + lam[t] * dt[t] * bz[t] * x[t]
        torch.testing.assert_close(y[0, t, 0, 0], (cz[t].conj() * h).real, atol=1e-12, rtol=1e-12)


def test_euler_without_rotation_is_ssd():
    inputs = make(2, 13, 2, 1, dtype=torch.float64, state=False)
    inputs["lam"] = torch.ones_like(inputs["lam"])
    inputs["theta"] = torch.zeros_like(inputs["theta"])
    y, _ = mamba3(**inputs, mode="chunk", chunk_size=4)
    sq = lambda t: t[:, :, :, 0]  # noqa: E731
    want, _ = ssd(sq(inputs["x"]) * inputs["dt"][..., None], inputs["a"], sq(inputs["b"]), sq(inputs["c"]),
                  mode="recurrent")
    torch.testing.assert_close(sq(y), want, atol=1e-12, rtol=1e-12)


def test_angle_state_is_kept_modulo_two_pi():
    inputs = make(1, 4, 1, 1, state=False)
    inputs["theta"] = torch.full_like(inputs["theta"], 3.0)
    _, (phi, *_) = mamba3(**inputs, output_final_state=True)
    torch.testing.assert_close(phi, torch.full_like(phi, 12.0 - 2 * math.pi))


def test_bad_arguments_raise():
    inputs = make(2, 5, 2, 1)
    with pytest.raises(ValueError, match="mode must be one of"):
        mamba3(**inputs, mode="fft")
    with pytest.raises(ValueError, match="lam must be"):
        mamba3(**{**inputs, "lam": torch.zeros(2, 5, 3)})
    with pytest.raises(ValueError, match="theta must be"):
        mamba3(**{**inputs, "theta": torch.zeros(2, 5, 2, 4)})
    with pytest.raises(ValueError, match="b and c"):
        mamba3(**{**inputs, "c": torch.zeros(2, 5, 2, 2, 6)})
    with pytest.raises(ValueError, match="initial_state"):
        mamba3(**{**inputs, "initial_state": inputs["initial_state"][:3]})
    with pytest.raises(ValueError, match="x must be"):
        mamba3(**{**inputs, "x": inputs["x"][:, :0]})
