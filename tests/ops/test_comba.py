"""comba: chunk (the DPLR chunk form) == the reference loop, forward and backward; both == the explicit SPLR transition
matrices; with p = k and no decay it is the delta rule."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.comba import comba
from rnnzoo.ops.delta import delta_rule
from tests.ops.modes import assert_modes_agree, gradcheck


def make(b, t, h, dk, dv, seed=0, dtype=torch.float32, strength=1.0, state=True):
    """Comba's layer inputs: unit-norm k, p = sigmoid(1) k, beta in (0, 1), g = logsigmoid(N(2, 1)) * strength."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(b, t, h, dk, generator=gen, dtype=dtype)
    k = F.normalize(torch.randn(b, t, h, dk, generator=gen, dtype=dtype), dim=-1)
    v = torch.randn(b, t, h, dv, generator=gen, dtype=dtype)
    g = F.logsigmoid(torch.randn(b, t, h, generator=gen, dtype=dtype) + 2) * strength
    beta = torch.rand(b, t, h, generator=gen, dtype=dtype)
    s0 = torch.randn(b, h, dk, dv, generator=gen, dtype=dtype) if state else None
    return dict(q=q, k=k, v=v, p=k * torch.tensor(1.0).sigmoid(), g=g, beta=beta, initial_state=s0)


@settings(max_examples=8, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 150), h=st.integers(1, 3), dk=st.sampled_from([4, 8, 16]),
       dv=st.sampled_from([4, 8]), chunk=st.sampled_from([16, 32, 64]), state=st.booleans(), seed=st.integers(0, 99))
def test_chunk_matches_recurrent_float32(b, t, h, dk, dv, chunk, state, seed):
    assert_modes_agree(comba, make(b, t, h, dk, dv, seed, state=state), 1e-5, chunk_size=chunk)


@pytest.mark.parametrize("t,chunk", [(1, 64), (17, 16), (100, 7)])
def test_chunk_matches_recurrent_t1_odd_and_uneven_chunks(t, chunk):
    assert_modes_agree(comba, make(2, t, 2, 8, 4), 1e-5, chunk_size=chunk)


def test_strong_and_zero_decay_are_finite_and_exact():
    x = make(1, 120, 2, 8, 4, strength=30.0)
    x["g"][:, 5] = float("-inf")
    x["g"][:, 50, 0] = -1e4
    assert_modes_agree(comba, x, 1e-5, chunk_size=16)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_matches_the_transition_matrices(mode):
    x = make(2, 11, 2, 5, 3, dtype=torch.float64)
    x["p"] = torch.randn_like(x["k"]) * 0.3  # any p, not only a multiple of k
    o, s = comba(**x, output_final_state=True, mode=mode, chunk_size=4)
    q, k, v, p, g, beta, s0 = (x[n] for n in ("q", "k", "v", "p", "g", "beta", "initial_state"))
    for i in range(2):
        for j in range(2):
            state = s0[i, j]
            for n in range(11):
                kb = beta[i, n, j] * k[i, n, j][:, None]
                transition = g[i, n, j].exp() * torch.eye(5, dtype=torch.float64) - kb @ p[i, n, j][None]
                state = transition @ state + kb @ v[i, n, j][None]
                torch.testing.assert_close(o[i, n, j], state.T @ q[i, n, j] * 5 ** -0.5, atol=1e-10, rtol=1e-10)
            torch.testing.assert_close(s[i, j], state, atol=1e-10, rtol=1e-10)


def test_p_equal_to_k_without_decay_is_the_delta_rule():
    x = make(2, 23, 2, 8, 4, dtype=torch.float64)
    o, s = comba(**{**x, "p": x["k"], "g": torch.zeros_like(x["g"])}, output_final_state=True, chunk_size=8)
    o_ref, s_ref = delta_rule(x["q"], x["k"], x["v"], x["beta"], initial_state=x["initial_state"],
                              output_final_state=True, mode="recurrent")
    torch.testing.assert_close(o, o_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(s, s_ref, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gradcheck_float64(mode):
    assert gradcheck(comba, make(1, 6, 2, 3, 2, dtype=torch.float64), mode=mode, output_final_state=True,
                     chunk_size=4)


def test_bad_arguments_raise():
    x = make(1, 4, 2, 4, 3)
    with pytest.raises(ValueError, match="p must be"):
        comba(**{**x, "p": x["p"][..., :2]})
    with pytest.raises(ValueError, match="g and beta"):
        comba(**{**x, "g": x["k"]})
    with pytest.raises(ValueError, match="initial_state"):
        comba(**{**x, "initial_state": torch.zeros(1, 2, 4, 4)})
    with pytest.raises(ValueError, match="mode"):
        comba(**x, mode="parallel")
