"""Chunked attention: the block form == one query at a time, and a query sees exactly its own chunk's past."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.chunked_attention import chunked_attention, init_cache


def _inputs(b, t, h, C, start, dtype=torch.float32, seed=0):
    """q, k, v and a state as left by `start` earlier tokens (per batch row: start + row)."""
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(b, t, h, 4, generator=g, dtype=dtype) for _ in range(2))
    v = torch.randn(b, t, h, 3, generator=g, dtype=dtype)
    kc, vc, pos = init_cache(b, C, h, 4, 3, dtype=dtype)
    pos = start + torch.arange(b)
    filled = (torch.arange(C - 1) >= (C - 1 - pos[:, None]))[..., None, None]  # right-aligned real tokens
    kc = torch.randn(kc.shape, generator=g, dtype=dtype) * filled
    vc = torch.randn(vc.shape, generator=g, dtype=dtype) * filled
    return dict(q=q, k=k, v=v, initial_state=(kc, vc, pos))


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(1, 30), h=st.integers(1, 2), C=st.integers(1, 8),
       start=st.integers(0, 12), seed=st.integers(0, 99))
def test_chunk_matches_recurrent(b, t, h, C, start, seed):
    inputs = _inputs(b, t, h, C, start, seed=seed)
    for mode in ("recurrent", "chunk"):
        o, (kc, vc, pos) = chunked_attention(**inputs, chunk_size=C, output_final_state=True, mode=mode)
        if mode == "recurrent":
            ref = (o, kc, vc, pos)
    torch.testing.assert_close(pos, ref[3])
    for got, want in zip((o, kc, vc), ref[:3]):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    q, k, v = (inputs[n].clone().requires_grad_() for n in "qkv")
    grads = []
    for mode in ("recurrent", "chunk"):
        o, _ = chunked_attention(q, k, v, C, initial_state=inputs["initial_state"], mode=mode)
        grads.append(torch.autograd.grad((o * o).sum(), (q, k, v)))
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_float64_gradcheck():
    inputs = _inputs(2, 7, 1, 3, 1, dtype=torch.float64)
    kc, vc, pos = inputs.pop("initial_state")

    def op(q, k, v, kc, vc):
        o, (k2, v2, _) = chunked_attention(q, k, v, 3, initial_state=(kc, vc, pos), output_final_state=True)
        return o, k2, v2

    args = tuple(t.detach().requires_grad_() for t in (inputs["q"], inputs["k"], inputs["v"], kc, vc))
    assert torch.autograd.gradcheck(op, args)


def test_a_query_sees_only_its_own_chunk():
    q, k, v = (torch.randn(1, 10, 1, 4) for _ in range(3))
    o, _ = chunked_attention(q, k, v, 4)
    k2, v2 = k.clone(), v.clone()
    k2[:, :4], v2[:, :4] = 5.0, -3.0  # the first chunk changed
    o2, _ = chunked_attention(q, k2, v2, 4)
    torch.testing.assert_close(o2[:, 4:], o[:, 4:])
    torch.testing.assert_close(o[:, 0], v[:, 0])  # the first token of a chunk reads only itself
    torch.testing.assert_close(o[:, 4], v[:, 4])


def test_bad_arguments_raise():
    q = torch.randn(1, 3, 1, 4)
    with pytest.raises(ValueError, match="mode"):
        chunked_attention(q, q, q, 2, mode="fft")
    with pytest.raises(ValueError, match="chunk_size"):
        chunked_attention(q, q, q, 0)
    with pytest.raises(ValueError, match="initial_state"):
        chunked_attention(q, q, q, 2, initial_state=init_cache(1, 3, 1, 4, 4))
