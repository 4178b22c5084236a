"""rwkv6: every fast mode (gla with the queries one step earlier, plus the bonus) == the reference loop, forward and backward, and
the loop == the quadratic form of RWKV-6's WKV."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.gla import gla
from rnnzoo.ops.rwkv6 import rwkv6
from tests.ops.modes import CHUNKED_SHAPES, assert_modes_agree, gated_qkv, gradcheck, kernel_missing


def make(b, t, h, dk, dv, seed=0, dtype=torch.float32, strength=1.0, state=True):
    q, k, v, w, s0 = gated_qkv(b, t, h, dk, dv, (dk,), seed, dtype, strength, state)
    u = torch.randn(h, dk, generator=torch.Generator().manual_seed(seed + 1), dtype=dtype)
    return dict(q=q, k=k, v=v, w=w, u=u, initial_state=s0)


def quadratic(q, k, v, w, u, initial_state=None):
    """o_i = sum_{j<i} sum_c q_ic k_jc exp(W_{i-1,c} - W_jc) v_j + (q_i . u k_i) v_i + (q_i exp(W_{i-1})) S_0,
    W = cumsum w (the decays of steps j+1 .. i-1 lie between token j's write and token i's read)."""
    q = q * q.shape[-1] ** -0.5
    cw = w.cumsum(1)
    before = cw - w  # W_{i-1}
    t = q.shape[1]
    mask = torch.ones(t, t, dtype=torch.bool).tril(-1)[None, :, :, None, None]
    d = (before[:, :, None] - cw[:, None, :]).masked_fill(~mask, float("-inf")).exp()  # [B, Ti, Tj, H, K]
    o = torch.einsum("bihk,bjhk,bijhk,bjhv->bihv", q, k, d, v)
    o = o + (q * u * k).sum(-1, keepdim=True) * v
    if initial_state is not None:
        o = o + torch.einsum("bihk,bhkv->bihv", q * before.exp(), initial_state)
    return o


@settings(max_examples=10, deadline=None)
@given(**CHUNKED_SHAPES, dk=st.sampled_from([4, 8, 16]), dv=st.sampled_from([4, 16]))
def test_chunk_matches_recurrent_float32(b, t, h, dk, dv, chunk, state, seed):
    assert_modes_agree(rwkv6, make(b, t, h, dk, dv, seed, state=state), 1e-5, chunk_size=chunk)


@pytest.mark.parametrize("mode", ["chunk", "kernel"])
@pytest.mark.parametrize("t", [1, 7, 64, 65])
def test_every_fast_mode_matches_recurrent(mode, t):
    if mode == "kernel" and kernel_missing("linear_attention"):
        pytest.skip("no C compiler: no compiled kernel")
    assert_modes_agree(rwkv6, make(2, t, 2, 16, 16), 1e-5, mode=mode, chunk_size=16)


@pytest.mark.parametrize("t", [1, 2, 9, 33])
def test_recurrent_matches_quadratic_form(t):
    x = make(2, t, 2, 4, 3, dtype=torch.float64)
    o, _ = rwkv6(**x, mode="recurrent")
    torch.testing.assert_close(o, quadratic(**x), atol=1e-12, rtol=1e-12)


def test_state_is_glas_and_output_reads_the_previous_state():
    x = make(1, 10, 2, 4, 4, dtype=torch.float64)
    o, s = rwkv6(**{**x, "u": torch.zeros_like(x["u"])}, mode="recurrent", output_final_state=True)
    o_gla, s_gla = gla(x["q"], x["k"], x["v"], x["w"], initial_state=x["initial_state"], mode="recurrent",
                       output_final_state=True)
    torch.testing.assert_close(s, s_gla, atol=1e-12, rtol=1e-12)
    # gla reads S_t with q_t; rwkv6 (no bonus) reads S_{t-1}: the query of step t+1 at step t gives the same
    o_next, _ = gla(x["q"][:, 1:], x["k"][:, :-1], x["v"][:, :-1], x["w"][:, :-1], initial_state=x["initial_state"],
                    mode="recurrent")
    torch.testing.assert_close(o[:, 1:], o_next, atol=1e-12, rtol=1e-12)


def test_strong_decay_is_finite_and_exact():
    x = make(1, 200, 2, 8, 8, strength=30.0)
    o_ref, s_ref = rwkv6(**x, mode="recurrent", output_final_state=True)
    o, s = rwkv6(**x, mode="chunk", output_final_state=True)
    assert torch.isfinite(o).all()
    torch.testing.assert_close(o, o_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s, s_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gradcheck_float64(mode):
    assert gradcheck(rwkv6, make(1, 6, 2, 2, 2, dtype=torch.float64), mode=mode, output_final_state=True, chunk_size=4)


def test_bad_arguments_raise():
    x = make(1, 4, 2, 4, 4)
    with pytest.raises(ValueError, match="w must be"):
        rwkv6(**{**x, "w": x["w"][..., 0]})
    with pytest.raises(ValueError, match="u must be"):
        rwkv6(**{**x, "u": x["u"][0]})
    with pytest.raises(ValueError, match="mode"):
        rwkv6(**x, mode="parallel")
