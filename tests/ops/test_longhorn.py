"""longhorn: chunk (the diagonal scan over D*N) == the reference loop, forward and backward; the loop == the paper's
diagonal update written out; the diagonal of the exact closed-form step."""

import importlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.longhorn import longhorn
from tests.ops.modes import assert_modes_agree, gradcheck

longhorn_module = importlib.import_module("rnnzoo.ops.longhorn")  # rnnzoo.ops.longhorn is the function


def make(b, t, d, n, seed=0, dtype=torch.float64, state=True):
    """The layer's inputs: beta = sigmoid(.) in (0, 1), k, q unnormalised projections."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, d, generator=gen, dtype=dtype)
    beta = torch.randn(b, t, d, generator=gen, dtype=dtype).sigmoid()
    k, q = (torch.randn(b, t, n, generator=gen, dtype=dtype) for _ in range(2))
    s0 = torch.randn(b, d, n, generator=gen, dtype=dtype) if state else None
    return dict(x=x, beta=beta, k=k, q=q, initial_state=s0)


@settings(max_examples=8, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 150), d=st.integers(1, 6), n=st.sampled_from([1, 4, 16]),
       state=st.booleans(), seed=st.integers(0, 99))
def test_chunk_matches_recurrent_float32(b, t, d, n, state, seed):
    assert_modes_agree(longhorn, make(b, t, d, n, seed, torch.float32, state), 1e-5)


def test_chunk_crosses_time_blocks(monkeypatch):
    monkeypatch.setattr(longhorn_module, "_BLOCK", 7)
    assert_modes_agree(longhorn, make(2, 30, 3, 4), 1e-10)


def test_matches_the_diagonal_update_written_out():
    x = make(1, 9, 3, 4)
    y, s = longhorn(**x, output_final_state=True, mode="chunk")
    state = x["initial_state"][0].clone()
    for t in range(9):
        xt, bt, kt, qt = (x[n][0, t] for n in ("x", "beta", "k", "q"))
        for d in range(3):
            eps = bt[d] / (1 + bt[d] * (kt @ kt))
            for n in range(4):
                state[d, n] = (1 - eps * kt[n] ** 2) * state[d, n] + eps * xt[d] * kt[n]
        torch.testing.assert_close(y[0, t], state @ qt, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(s[0], state, atol=1e-12, rtol=1e-12)


def test_is_the_diagonal_of_the_closed_form_online_step():
    """The exact minimiser of ||S - S0||² + beta ||S k - x||² (one channel: S a row [N]) is S0 + eps (x - S0 k) kᵀ;
    Longhorn keeps (I - eps k kᵀ)'s diagonal: with a one-dimensional key the two agree."""
    x = make(1, 1, 2, 1, state=True)
    _, s = longhorn(**x, output_final_state=True, mode="recurrent")
    s0, k, beta, xt = x["initial_state"][0], x["k"][0, 0], x["beta"][0, 0], x["x"][0, 0]
    eps = beta / (1 + beta * (k @ k))
    exact = s0 + (eps * (xt - s0 @ k))[:, None] * k[None]
    torch.testing.assert_close(s[0], exact, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gradcheck_float64(mode):
    assert gradcheck(longhorn, make(1, 6, 2, 3), mode=mode, output_final_state=True)


def test_bad_arguments_raise():
    x = make(1, 4, 3, 2)
    with pytest.raises(ValueError, match="x and beta"):
        longhorn(**{**x, "beta": x["beta"][..., :2]})
    with pytest.raises(ValueError, match="k and q"):
        longhorn(**{**x, "q": x["q"][..., :1]})
    with pytest.raises(ValueError, match="initial_state"):
        longhorn(**{**x, "initial_state": torch.zeros(1, 3, 3)})
    with pytest.raises(ValueError, match="mode"):
        longhorn(**x, mode="scan")
