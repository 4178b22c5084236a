"""path_attention: the UT chunk form == the explicit Householder products (forward, backward, transformed keys),
with a cache, forget gates and masked cache slots; beta = 0 is softmax / forgetting attention; a sequence fed in
pieces through the transformed-key cache == the whole; the products by hand on a tiny case."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.forgetting_attention import forgetting_attention
from rnnzoo.ops.path import path_attention
from tests.ops.modes import assert_modes_agree, gradcheck


def make(b, tq, cache, h, k=4, v=3, gate=True, valid=False, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    rn = lambda *s: torch.randn(*s, generator=gen, dtype=dtype)  # noqa: E731
    tk = tq + cache
    x = dict(q=rn(b, tq, h, k), k=rn(b, tk, h, k), v=rn(b, tk, h, v), w=F.normalize(rn(b, tq, h, k), dim=-1),
             beta=2 * torch.rand(b, tq, h, generator=gen, dtype=dtype),
             g=F.logsigmoid(rn(b, tk, h) + 2) if gate else None)
    if valid and cache:
        x["k_valid"] = torch.arange(tk)[None] >= torch.randint(0, cache + 1, (b, 1), generator=gen)
    return x


def split_mask(inputs, **kw):
    """-> (the float inputs, keywords with k_valid): the bool mask stays out of the differentiated inputs."""
    floats = {n: t for n, t in inputs.items() if n != "k_valid"}
    return floats, dict(k_valid=inputs.get("k_valid"), **kw)


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 2), tq=st.integers(1, 30), cache=st.sampled_from([0, 3]), h=st.integers(1, 2),
       chunk=st.sampled_from([4, 16, 64]), gate=st.booleans(), valid=st.booleans(), seed=st.integers(0, 99))
def test_chunk_matches_explicit_products(b, tq, cache, h, chunk, gate, valid, seed):
    floats, kw = split_mask(make(b, tq, cache, h, gate=gate, valid=valid, seed=seed), chunk_size=chunk)
    assert_modes_agree(path_attention, floats, 1e-5, **kw)


@pytest.mark.parametrize("gate", [False, True])
def test_gradcheck_float64(gate):
    floats, kw = split_mask(make(1, 4, 1, 1, k=3, v=2, gate=gate, dtype=torch.float64))
    for mode in ("recurrent", "chunk"):
        assert gradcheck(path_attention, floats, mode=mode, chunk_size=2, output_final_state=True, **kw)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_beta_zero_is_softmax_and_forgetting_attention(mode):
    x = make(2, 9, 2, 2, v=4, dtype=torch.float64)
    x["beta"] = torch.zeros_like(x["beta"])
    o, _ = path_attention(**x, mode=mode, chunk_size=4)
    torch.testing.assert_close(o, forgetting_attention(x["q"], x["k"], x["v"], x["g"]), atol=1e-12, rtol=1e-12)
    o, _ = path_attention(**{**x, "g": None}, mode=mode, chunk_size=4)
    torch.testing.assert_close(o, softmax_attention(x["q"], x["k"], x["v"]), atol=1e-12, rtol=1e-12)


def test_products_by_hand():
    x = make(1, 3, 0, 1, k=2, v=1, gate=False, dtype=torch.float64)
    q, k, v, w, beta = (x[n][0, :, 0] for n in ("q", "k", "v", "w", "beta"))
    H = [torch.eye(2, dtype=torch.float64) - beta[t] * torch.outer(w[t], w[t]) for t in range(3)]
    logits = torch.full((3, 3), float("-inf"), dtype=torch.float64)
    for i in range(3):
        for j in range(i + 1):
            P = torch.eye(2, dtype=torch.float64)
            for t in range(j + 1, i + 1):
                P = H[t] @ P
            logits[i, j] = q[i] @ P @ k[j] / 2 ** 0.5
    want = logits.softmax(-1) @ v
    o, keys = path_attention(**x, output_final_state=True, mode="chunk", chunk_size=2)
    torch.testing.assert_close(o[0, :, 0], want, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(keys[0, 0, 0], H[2] @ H[1] @ k[0], atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_pieces_through_the_key_cache_equal_the_whole(dtype, tol):
    x = make(2, 23, 0, 2, dtype=dtype)
    o, keys = path_attention(**x, output_final_state=True, chunk_size=4)
    cache_k, outs = x["k"][:, :0], []
    for lo, hi in [(0, 5), (5, 6), (6, 17), (17, 23)]:
        o_part, cache_k = path_attention(x["q"][:, lo:hi], torch.cat((cache_k, x["k"][:, lo:hi]), 1),
                                         x["v"][:, :hi], x["w"][:, lo:hi], x["beta"][:, lo:hi], x["g"][:, :hi],
                                         output_final_state=True, chunk_size=4)
        outs.append(o_part)
    torch.testing.assert_close(torch.cat(outs, 1), o, atol=tol, rtol=tol)
    torch.testing.assert_close(cache_k, keys, atol=tol, rtol=tol)


def test_bad_arguments_raise():
    x = make(2, 5, 1, 2)
    with pytest.raises(ValueError, match="mode must be one of"):
        path_attention(**x, mode="sdpa")
    with pytest.raises(ValueError, match="w must be"):
        path_attention(**{**x, "w": x["w"][:, :4]})
    with pytest.raises(ValueError, match="g must be"):
        path_attention(**{**x, "g": x["g"][:, :5]})
    with pytest.raises(ValueError, match="at least as many keys"):
        path_attention(**{**x, "k": x["k"][:, :3], "v": x["v"][:, :3], "g": None})
