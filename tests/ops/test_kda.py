"""gdn2 / kda: chunk (the DPLR chunk form) == the reference loop, forward and backward; kda == gdn2 with b = w = beta;
kda with one decay per head == the gated delta rule; both == the explicit transition matrices."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.delta import gated_delta_rule
from rnnzoo.ops.kda import gdn2, kda
from tests.ops.modes import assert_modes_agree, gradcheck
from tests.ops.test_dplr import with_zero_decays

OPS = {"kda": kda, "gdn2": gdn2}


def make(op, b, t, h, dk, dv, seed=0, dtype=torch.float32, strength=1.0, state=True):
    """Unit-norm keys (as the mixers make them), gates in (0, 1), log decays logsigmoid(N(2, 1)) * strength."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(b, t, h, dk, generator=gen, dtype=dtype)
    k = F.normalize(torch.randn(b, t, h, dk, generator=gen, dtype=dtype), dim=-1)
    v = torch.randn(b, t, h, dv, generator=gen, dtype=dtype)
    g = F.logsigmoid(torch.randn(b, t, h, dk, generator=gen, dtype=dtype) + 2) * strength
    x = dict(q=q, k=k, v=v, g=g)
    if op == "kda":
        x["beta"] = torch.rand(b, t, h, generator=gen, dtype=dtype)
    else:
        x["b"] = torch.rand(b, t, h, dk, generator=gen, dtype=dtype)
        x["w"] = torch.rand(b, t, h, dv, generator=gen, dtype=dtype)
    x["initial_state"] = torch.randn(b, h, dk, dv, generator=gen, dtype=dtype) if state else None
    return x


@settings(max_examples=8, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 150), h=st.integers(1, 3), dk=st.sampled_from([4, 8, 16]),
       dv=st.sampled_from([4, 8]), chunk=st.sampled_from([16, 32, 64]), state=st.booleans(), seed=st.integers(0, 99))
@pytest.mark.parametrize("op", OPS)
def test_chunk_matches_recurrent_float32(op, b, t, h, dk, dv, chunk, state, seed):
    assert_modes_agree(OPS[op], make(op, b, t, h, dk, dv, seed, state=state), 1e-5, chunk_size=chunk)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("t,chunk", [(1, 64), (17, 16), (100, 7)])
def test_chunk_matches_recurrent_t1_odd_and_uneven_chunks(op, t, chunk):
    assert_modes_agree(OPS[op], make(op, 2, t, 2, 8, 4), 1e-5, chunk_size=chunk)


def test_strong_decay_is_finite_and_exact():
    assert_modes_agree(kda, make("kda", 1, 200, 2, 8, 8, strength=30.0), 1e-5, chunk_size=64)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_kda_is_gdn2_with_beta_gates(mode):
    x = make("kda", 2, 19, 2, 8, 4, dtype=torch.float64)
    beta = x["beta"][..., None]
    o, s = kda(**x, output_final_state=True, mode=mode, chunk_size=8)
    x.pop("beta")
    o2, s2 = gdn2(**x, b=beta.expand_as(x["k"]), w=beta.expand_as(x["v"]), output_final_state=True, mode=mode,
                  chunk_size=8)
    torch.testing.assert_close(o, o2, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(s, s2, atol=1e-12, rtol=1e-12)


def test_one_decay_per_head_is_the_gated_delta_rule():
    x = make("kda", 2, 23, 2, 8, 4, dtype=torch.float64)
    g = x["g"][..., :1].expand_as(x["g"])
    o, s = kda(**{**x, "g": g}, output_final_state=True, chunk_size=8)
    o_ref, s_ref = gated_delta_rule(x["q"], x["k"], x["v"], g[..., 0], x["beta"], initial_state=x["initial_state"],
                                    output_final_state=True, mode="recurrent")
    torch.testing.assert_close(o, o_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(s, s_ref, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gdn2_matches_the_transition_matrices(mode):
    x = make("gdn2", 2, 11, 2, 5, 3, dtype=torch.float64)
    o, s = gdn2(**x, output_final_state=True, mode=mode, chunk_size=4)
    q, k, v, g, b, w, s0 = (x[n] for n in ("q", "k", "v", "g", "b", "w", "initial_state"))
    for i in range(2):
        for j in range(2):
            state = s0[i, j]
            for n in range(11):
                erase = torch.eye(5, dtype=torch.float64) - k[i, n, j][:, None] @ (b[i, n, j] * k[i, n, j])[None]
                state = erase @ g[i, n, j].exp().diag() @ state + k[i, n, j][:, None] @ (w[i, n, j] * v[i, n, j])[None]
                torch.testing.assert_close(o[i, n, j], state.T @ q[i, n, j] * 5 ** -0.5, atol=1e-10, rtol=1e-10)
            torch.testing.assert_close(s[i, j], state, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gradcheck_float64(op, mode):
    assert gradcheck(OPS[op], make(op, 1, 6, 2, 3, 2, dtype=torch.float64), mode=mode, output_final_state=True,
                     chunk_size=4)


def test_bad_arguments_raise():
    x = make("gdn2", 1, 4, 2, 4, 3)
    with pytest.raises(ValueError, match="g must be"):
        gdn2(**{**x, "g": x["g"][..., 0]})
    with pytest.raises(ValueError, match="w \\[B, T, H, V\\]"):
        gdn2(**{**x, "w": x["b"]})
    y = make("kda", 1, 4, 2, 4, 3)
    with pytest.raises(ValueError, match="beta must be"):
        kda(**{**y, "beta": y["g"]})
    with pytest.raises(ValueError, match="mode"):
        kda(**y, mode="parallel")


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("chunk", [16, 13])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_zero_decay_gates_match_the_reference(op, chunk, dtype, tol):
    """log-decay gates of -inf (decay exactly 0, as the loop's exp(-inf) = 0) and -1e4: chunk == reference, finite."""
    x = with_zero_decays(make(op, 2, 37, 2, 8, 4, dtype=dtype), "g", dtype)
    assert torch.isfinite(assert_modes_agree(OPS[op], x, tol, chunk_size=chunk)).all()
