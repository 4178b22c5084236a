"""gsa: chunk == the reference loops, forward and backward; pass 1 == its explicit [K, M] memory; pass 2 == gla."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.gla import gla
from rnnzoo.ops.gsa import gsa
from tests.ops.modes import assert_modes_agree, gradcheck


def make(b, t, h, dk, dv, m, seed=0, dtype=torch.float32, strength=1.0, state=True):
    """GSA's gates as fla's layer makes them: g = logsigmoid(.) / 8 (times ``strength``), s = 1 - exp(g)."""
    gen = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(b, t, h, dk, generator=gen, dtype=dtype) for _ in range(2))
    v = torch.randn(b, t, h, dv, generator=gen, dtype=dtype)
    g = F.logsigmoid(torch.randn(b, t, h, m, generator=gen, dtype=dtype)) / 8 * strength
    s0 = ((torch.randn(b, h, dk, m, generator=gen, dtype=dtype), torch.randn(b, h, m, dv, generator=gen, dtype=dtype))
          if state else None)
    return dict(q=q, k=k, v=v, s=1 - g.exp(), g=g, initial_state=s0)


@settings(max_examples=8, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 150), h=st.integers(1, 3), dk=st.sampled_from([4, 8, 16]),
       dv=st.sampled_from([4, 8]), m=st.sampled_from([3, 8]), chunk=st.sampled_from([16, 32, 64]),
       state=st.booleans(), seed=st.integers(0, 99))
def test_chunk_matches_recurrent_float32(b, t, h, dk, dv, m, chunk, state, seed):
    assert_modes_agree(gsa, make(b, t, h, dk, dv, m, seed, state=state), 1e-5, chunk_size=chunk)


@pytest.mark.parametrize("t,chunk", [(1, 64), (17, 16), (64, 64), (100, 8)])
def test_chunk_matches_recurrent_t1_odd_and_uneven_chunks(t, chunk):
    assert_modes_agree(gsa, make(2, t, 2, 8, 4, 5), 1e-5, chunk_size=chunk)


@pytest.mark.parametrize("chunk", [16, 64])
def test_strong_decay_is_finite_and_exact(chunk):
    """Gates near -40 a step (beyond the one-matmul span in every chunk): the halving form, every exponent <= 0."""
    assert_modes_agree(gsa, make(1, 150, 2, 8, 4, 6, strength=300.0), 1e-5, chunk_size=chunk)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_matches_the_two_memories_explicitly(mode):
    x = make(1, 9, 2, 4, 3, 5, dtype=torch.float64)
    o, (hk, hv) = gsa(**x, scale=1.0, output_final_state=True, mode=mode, chunk_size=4)
    key_mem, val_mem = x["initial_state"]
    for t in range(9):
        q, k, v, s, g = (x[n][:, t] for n in ("q", "k", "v", "s", "g"))
        key_mem = key_mem @ g.exp().diag_embed() + k[..., None] @ s[..., None, :]  # [B, H, K, M]
        val_mem = g.exp().diag_embed() @ val_mem + s[..., None] @ v[..., None, :]  # [B, H, M, V]
        read = (key_mem.mT @ q[..., None])[..., 0].softmax(-1)
        torch.testing.assert_close(o[:, t], (val_mem.mT @ read[..., None])[..., 0], atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(hk, key_mem, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(hv, val_mem, atol=1e-12, rtol=1e-12)


def test_second_pass_is_gla():
    """With a single slot the softmax is 1, so the output is gla with query 1, key s and decay g."""
    x = make(2, 13, 2, 4, 3, 1, dtype=torch.float64, state=False)
    o, _ = gsa(**x, chunk_size=4)
    o_ref, _ = gla(torch.ones_like(x["s"]), x["s"], x["v"], x["g"], scale=1.0, mode="recurrent")
    torch.testing.assert_close(o, o_ref, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gradcheck_float64(mode):
    assert gradcheck(gsa, make(1, 6, 2, 3, 2, 3, dtype=torch.float64), mode=mode, output_final_state=True,
                     chunk_size=4)


def test_bad_arguments_raise():
    x = make(1, 4, 2, 4, 3, 5)
    with pytest.raises(ValueError, match="s and g must"):
        gsa(**{**x, "g": x["g"][..., :2]})
    with pytest.raises(ValueError, match="initial_state"):
        gsa(**{**x, "initial_state": x["initial_state"][:1]})
    with pytest.raises(ValueError, match="power of two"):
        gsa(**x, chunk_size=12)
    with pytest.raises(ValueError, match="mode"):
        gsa(**x, mode="parallel")
