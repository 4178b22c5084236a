import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.forgetting_attention import forgetting_attention
from tests.ops.modes import close, gradcheck, outputs_and_grads


def make(b, tq, tk, h, dk, dv, seed=0, dtype=torch.float32, strength=1.0):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(b, tq, h, dk, generator=gen, dtype=dtype)
    k = torch.randn(b, tk, h, dk, generator=gen, dtype=dtype)
    v = torch.randn(b, tk, h, dv, generator=gen, dtype=dtype)
    g = F.logsigmoid(torch.randn(b, tk, h, generator=gen, dtype=dtype) + 2) * strength
    return dict(q=q, k=k, v=v, g=g)


def naive(q, k, v, g, k_valid=None):
    """The paper's formula entry by entry: logit_ij = q_i·k_j / sqrt(K) + sum_{l=j+1}^{i} log f_l over j <= i."""
    b, tq, h, dk = q.shape
    tk = k.shape[1]
    out = torch.zeros(b, tq, h, v.shape[-1], dtype=q.dtype)
    for bi in range(b):
        for hi in range(h):
            for i in range(tq):
                p = tk - tq + i
                keys = [j for j in range(p + 1) if k_valid is None or k_valid[bi, j]]
                logits = torch.stack([q[bi, i, hi] @ k[bi, j, hi] * dk ** -0.5 + g[bi, j + 1: p + 1, hi].sum()
                                      for j in keys])
                out[bi, i, hi] = logits.softmax(0) @ v[bi, keys, hi]
    return out


def loss(o):
    return (o * torch.randn(o.shape, generator=torch.Generator().manual_seed(7), dtype=o.dtype)).sum()


@settings(max_examples=12, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(1, 70), h=st.integers(1, 3), dk=st.sampled_from([2, 8, 16]),
       dv=st.sampled_from([3, 8]), cache=st.integers(0, 5), strength=st.sampled_from([0.1, 1.0, 20.0]),
       seed=st.integers(0, 99))
def test_sdpa_matches_reference_forward_and_backward(b, t, h, dk, dv, cache, strength, seed):
    x = make(b, t, t + cache, h, dk, dv, seed, strength=strength)
    o_ref, g_ref = outputs_and_grads(forgetting_attention, x, loss, mode="recurrent")
    o, g = outputs_and_grads(forgetting_attention, x, loss, mode="sdpa")
    close(o, o_ref, 1e-5)
    for a, e in zip(g, g_ref):
        close(a, e, 1e-5)


@pytest.mark.parametrize("mode", ["recurrent", "sdpa"])
@pytest.mark.parametrize("tq,tk", [(1, 1), (7, 7), (2, 6), (1, 5)])
def test_matches_the_papers_formula_float64(mode, tq, tk):
    x = make(2, tq, tk, 2, 4, 3, dtype=torch.float64)
    valid = torch.ones(2, tk, dtype=torch.bool)
    valid[0, : min(2, tk - tq)] = False  # only cache slots can be empty
    for kv in (None, valid):
        torch.testing.assert_close(forgetting_attention(**x, k_valid=kv, mode=mode), naive(**x, k_valid=kv),
                                   atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("mode", ["recurrent", "sdpa"])
def test_no_forgetting_is_softmax_attention(mode):
    x = make(2, 9, 9, 2, 4, 4, dtype=torch.float64)
    o = forgetting_attention(x["q"], x["k"], x["v"], torch.zeros_like(x["g"]), mode=mode)
    torch.testing.assert_close(o, softmax_attention(x["q"], x["k"], x["v"], mode="recurrent"), atol=1e-12,
                               rtol=1e-12)


def test_strong_forgetting_over_long_sequences_is_finite():
    x = make(1, 300, 300, 2, 8, 8, strength=50.0)
    o_ref, g_ref = outputs_and_grads(forgetting_attention, x, loss, mode="recurrent")
    o, g = outputs_and_grads(forgetting_attention, x, loss)
    assert torch.isfinite(o).all() and all(torch.isfinite(t).all() for t in g)
    close(o, o_ref, 1e-5)


@pytest.mark.parametrize("mode", ["recurrent", "sdpa"])
@pytest.mark.parametrize("tq,tk", [(1, 1), (5, 5), (3, 5)])
def test_gradcheck_float64(mode, tq, tk):
    assert gradcheck(forgetting_attention, make(1, tq, tk, 2, 3, 2, dtype=torch.float64), mode=mode)


def test_bad_arguments_raise():
    x = make(1, 4, 4, 2, 4, 4)
    with pytest.raises(ValueError, match="g must be"):
        forgetting_attention(**{**x, "g": x["g"][..., None]})
    with pytest.raises(ValueError, match="Tq=4"):
        forgetting_attention(x["q"], x["k"][:, :2], x["v"][:, :2], x["g"][:, :2])
    with pytest.raises(ValueError, match="mode"):
        forgetting_attention(**x, mode="chunk")
