"""deltaformer_attention: the chunked triangular solve == the token-by-token writes (forward, backward, writes),
with a cache and masked cache slots; the writes obey their defining equation; beta = 0 is softmax attention;
a sequence fed in pieces through the key/write cache == the whole."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.deltaformer import deltaformer_attention
from tests.ops.modes import assert_modes_agree, gradcheck


def make(b, tq, cache, h, k=4, v=3, valid=False, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    rn = lambda *s: torch.randn(*s, generator=gen, dtype=dtype)  # noqa: E731
    x = dict(q=rn(b, tq, h, k), k=rn(b, tq + cache, h, k), v=rn(b, tq, h, v),
             beta=torch.rand(b, tq, h, generator=gen, dtype=dtype), initial_state=rn(b, cache, h, v) if cache else None)
    mask = None
    if valid and cache:
        mask = torch.arange(tq + cache)[None] >= torch.randint(0, cache + 1, (b, 1), generator=gen)
    return x, mask


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 2), tq=st.integers(1, 40), cache=st.sampled_from([0, 3]), h=st.integers(1, 2),
       chunk=st.sampled_from([1, 4, 16, 64]), valid=st.booleans(), seed=st.integers(0, 99))
def test_chunk_matches_recurrent(b, tq, cache, h, chunk, valid, seed):
    x, mask = make(b, tq, cache, h, valid=valid, seed=seed)
    assert_modes_agree(deltaformer_attention, x, 1e-5, k_valid=mask, chunk_size=chunk)


def test_gradcheck_float64():
    x, mask = make(1, 5, 2, 1, k=3, v=2, valid=True, dtype=torch.float64)
    for mode in ("recurrent", "chunk"):
        assert gradcheck(deltaformer_attention, x, k_valid=mask, mode=mode, chunk_size=2, output_final_state=True)


def test_writes_obey_their_equation():
    x, _ = make(2, 11, 0, 2, dtype=torch.float64)
    _, u = deltaformer_attention(**x, output_final_state=True, chunk_size=4)
    k = x["k"].transpose(1, 2)
    logits = (k @ k.transpose(-1, -2)) / 2  # K = 4: scale 1/2
    earlier = torch.ones(11, 11, dtype=torch.bool).tril(-1)
    p = logits.masked_fill(~earlier, float("-inf")).softmax(-1).nan_to_num(0.0)  # row 0: nothing earlier
    want = x["v"].transpose(1, 2) - x["beta"].transpose(1, 2)[..., None] * (p @ u.transpose(1, 2))
    torch.testing.assert_close(u.transpose(1, 2), want, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_beta_zero_is_softmax_attention(mode):
    x, _ = make(2, 9, 0, 2, v=4, dtype=torch.float64)
    x["beta"] = torch.zeros_like(x["beta"])
    o, _ = deltaformer_attention(**x, mode=mode, chunk_size=4)
    torch.testing.assert_close(o, softmax_attention(x["q"], x["k"], x["v"]), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_pieces_through_the_cache_equal_the_whole(dtype, tol):
    x, _ = make(2, 23, 0, 2, dtype=dtype)
    o, u = deltaformer_attention(**x, output_final_state=True, chunk_size=4)
    writes, outs = None, []
    for lo, hi in [(0, 5), (5, 6), (6, 17), (17, 23)]:
        o_part, writes = deltaformer_attention(x["q"][:, lo:hi], x["k"][:, :hi], x["v"][:, lo:hi],
                                               x["beta"][:, lo:hi], initial_state=writes, output_final_state=True,
                                               chunk_size=4)
        outs.append(o_part)
    torch.testing.assert_close(torch.cat(outs, 1), o, atol=tol, rtol=tol)
    torch.testing.assert_close(writes, u, atol=tol, rtol=tol)


def test_bad_arguments_raise():
    x, _ = make(2, 5, 2, 2)
    with pytest.raises(ValueError, match="mode must be one of"):
        deltaformer_attention(**x, mode="sdpa")
    with pytest.raises(ValueError, match="beta must be"):
        deltaformer_attention(**{**x, "beta": x["beta"][:, :4]})
    with pytest.raises(ValueError, match="initial_state must be"):
        deltaformer_attention(**{**x, "initial_state": None})
    with pytest.raises(ValueError, match="at least as many keys"):
        deltaformer_attention(**{**x, "k": x["k"][:, :3], "initial_state": None})
