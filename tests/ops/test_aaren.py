"""Aaren: chunked prefix scan == (m, u, w) recurrence == explicit prefix softmax attention."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.aaren import aaren
from tests.ops.modes import gradcheck, outputs_and_grads


def _inputs(batch, T, H, K, V, dtype=torch.float32, seed=0, with_state=True):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    out = dict(q=r(H, K), k=r(batch, T, H, K) * 2, v=r(batch, T, H, V))
    if with_state:
        out["initial_state"] = (r(batch, H), torch.rand(batch, H, generator=g, dtype=dtype) + 0.5, r(batch, H, V))
    return out


def _run(inputs, mode, chunk_size):
    def loss(out):
        o, (m, u, w) = out
        g = torch.Generator().manual_seed(1)
        return (o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() + (w / u.unsqueeze(-1)).sum() + m.sum()

    (o, (m, u, w)), grads = outputs_and_grads(aaren, inputs, loss, output_final_state=True, mode=mode,
                                              chunk_size=chunk_size)
    return (o, m, u, w, *grads)


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 2), T=st.integers(1, 40), chunk=st.sampled_from([4, 8, 64]), with_state=st.booleans())
def test_chunk_matches_recurrent(batch, T, chunk, with_state):
    inputs = _inputs(batch, T, 2, 3, 4, with_state=with_state)
    for got, want in zip(_run(inputs, "chunk", chunk), _run(inputs, "recurrent", chunk)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_equals_explicit_prefix_softmax():
    inputs = _inputs(2, 9, 2, 3, 4, with_state=False)
    s = torch.einsum("bthk,hk->bht", inputs["k"], inputs["q"]) * 3 ** -0.5
    mask = torch.ones(9, 9, dtype=torch.bool).tril()
    att = torch.softmax(s.unsqueeze(-2).masked_fill(~mask, -torch.inf), -1)  # [B, H, t, i]
    want = torch.einsum("bhti,bihv->bthv", att, inputs["v"])
    for mode in ("recurrent", "chunk"):
        torch.testing.assert_close(aaren(**inputs, mode=mode, chunk_size=4)[0], want)


def test_gradcheck_float64():
    assert gradcheck(aaren, _inputs(1, 7, 2, 2, 3, torch.float64), chunk_size=3)


def test_large_scores_stay_finite():
    inputs = _inputs(1, 30, 2, 3, 4, with_state=False)
    inputs["k"] = inputs["k"] * 1e3  # exp(s) would overflow without the running max
    o, _ = aaren(**inputs, chunk_size=8)
    torch.testing.assert_close(o, aaren(**inputs, mode="recurrent")[0])
    assert torch.isfinite(o).all()


def test_bad_shapes_raise():
    inputs = _inputs(2, 5, 2, 3, 4, with_state=False)
    with pytest.raises(ValueError, match="q must"):
        aaren(**{**inputs, "q": torch.randn(3, 3)})
    with pytest.raises(ValueError, match="k and v"):
        aaren(**{**inputs, "v": torch.randn(2, 6, 2, 4)})
