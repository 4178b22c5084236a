import importlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops._chunk import to_chunks
from rnnzoo.ops.gla import gla
from tests.ops.modes import CHUNKED_SHAPES, assert_modes_agree, gated_qkv, gradcheck

gla_module = importlib.import_module("rnnzoo.ops.gla")  # rnnzoo.ops.gla is the function


def make(b, t, h, dk, dv, seed=0, dtype=torch.float32, strength=1.0, state=True):
    q, k, v, gk, s0 = gated_qkv(b, t, h, dk, dv, (dk,), seed, dtype, strength, state)
    return dict(q=q, k=k, v=v, gk=gk, initial_state=s0)


def quadratic(q, k, v, gk, initial_state=None):
    """o_i = sum_{j<=i} sum_c q_ic k_jc exp(G_ic - G_jc) v_j + (q_i * exp(G_i)) S_0, G = cumsum gk."""
    q = q * q.shape[-1] ** -0.5
    cg = gk.cumsum(1)
    t = q.shape[1]
    mask = torch.ones(t, t, dtype=torch.bool).tril()[None, :, :, None, None]
    w = (cg[:, :, None] - cg[:, None, :]).masked_fill(~mask, float("-inf")).exp()  # [B, Ti, Tj, H, K]
    o = torch.einsum("bihk,bjhk,bijhk,bjhv->bihv", q, k, w, v)
    if initial_state is not None:
        o = o + torch.einsum("bihk,bhkv->bihv", q * cg.exp(), initial_state)
    return o


@settings(max_examples=10, deadline=None)
@given(**CHUNKED_SHAPES, dk=st.sampled_from([4, 8, 64]), dv=st.sampled_from([4, 16]))
def test_chunk_matches_recurrent_float32(b, t, h, dk, dv, chunk, state, seed):
    assert_modes_agree(gla, make(b, t, h, dk, dv, seed, state=state), 1e-5, chunk_size=chunk)


@pytest.mark.parametrize("t", [1, 7, 16, 33])
def test_recurrent_matches_quadratic_form(t):
    x = make(2, t, 2, 4, 3, dtype=torch.float64)
    o, _ = gla(**x, mode="recurrent")
    torch.testing.assert_close(o, quadratic(**x), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("chunk", [1, 2, 4, 8])
def test_every_chunk_size_matches_float64(chunk):
    x = make(2, 21, 2, 4, 3, dtype=torch.float64)
    o_ref, s_ref = gla(**x, mode="recurrent", output_final_state=True)
    o, s = gla(**x, chunk_size=chunk, output_final_state=True)
    torch.testing.assert_close(o, o_ref, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(s, s_ref, atol=1e-12, rtol=1e-12)


def test_strong_decay_is_finite_and_exact():
    # Per-channel log decays near -30 a step: inside one 64-chunk the cumulative gate reaches ~-2000,
    # so q*exp(G) / k*exp(-G) would overflow; the halving form stays exact.
    x = make(1, 300, 2, 8, 8, strength=30.0)
    o_ref, s_ref = gla(**x, mode="recurrent", output_final_state=True)
    o, s = gla(**x, output_final_state=True)
    assert torch.isfinite(o).all()
    torch.testing.assert_close(o, o_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s, s_ref, atol=1e-5, rtol=1e-5)
    grads = torch.autograd.grad(gla(**{n: v.requires_grad_() for n, v in x.items()})[0].sum(), list(x.values()))
    assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("strength", [0.1, 1.0, 30.0])
def test_direct_and_halving_intra_chunk_forms_agree(strength):
    x = make(2, 64, 2, 8, 4, dtype=torch.float64, strength=strength)
    q, k, v, g = (to_chunks(x[n], 16) for n in ("q", "k", "v", "gk"))
    b = g.cumsum(-2)
    halving = gla_module._intra(q, k, v, g)
    if -b[..., -1, :].min() <= gla_module.DIRECT_MAX_SPAN:
        torch.testing.assert_close(gla_module._intra_direct(q, k, v, b), halving, atol=1e-12, rtol=1e-12)
    else:
        assert strength == 30.0  # only the strong decay leaves the direct form's range
    o, _ = gla(**x, chunk_size=16)
    torch.testing.assert_close(o, quadratic(**x), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gradcheck_float64(mode):
    assert gradcheck(gla, make(1, 6, 2, 2, 2, dtype=torch.float64), mode=mode, output_final_state=True, chunk_size=4)


def test_bad_arguments_raise():
    x = make(1, 4, 2, 4, 4)
    with pytest.raises(ValueError, match="gk must be"):
        gla(**{**x, "gk": x["gk"][..., 0]})
    with pytest.raises(ValueError, match="power of two"):
        gla(**x, chunk_size=24)
