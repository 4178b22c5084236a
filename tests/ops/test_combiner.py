"""Combiner: the blocked form == the token loop with its cache (forward, final state, gradients), for both
partitions; one region as wide as the sequence is causal softmax attention."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.combiner import combiner_attention, fenwick_groups
from tests.ops.modes import flatten, gradcheck


def assert_modes_agree(op, inputs, tol, **kwargs):
    """chunk == recurrent in o, the final state and every input's gradient; the cache may hold empty tensors
    (no open region, no closed one), which the shared helper cannot compare, and w is unused until a region closes."""
    flat, unflatten = flatten(inputs)
    results = []
    for mode in ("recurrent", "chunk"):
        leaves = [t.detach().clone().requires_grad_() for t in flat]
        o, state = op(**unflatten(leaves), mode=mode, output_final_state=True, **kwargs)
        weight = torch.randn(o.shape, generator=torch.Generator().manual_seed(7), dtype=o.dtype)
        loss = (o * weight).sum() + sum((t * t).sum() * 0.1 for t in state)
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        grads = [torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads)]
        results.append([o, *state, *grads])
    for got, want in zip(results[1], results[0]):
        scale = max(1.0, want.abs().max().item()) if want.numel() else 1.0
        torch.testing.assert_close(got, want, atol=tol * scale, rtol=tol)


def _inputs(b, t, h, d, dtype=torch.float32, seed=0, state=None):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, t, h, d, generator=g, dtype=dtype) for _ in range(3))
    return dict(q=q, k=k, v=v, w=torch.randn(h, d, generator=g, dtype=dtype), initial_state=state)


def _state(b, h, d, n, r, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=g, dtype=dtype) for shape in
                 ((b, n, h, d), (b, n, h, d), (b, r, h, d), (b, r, h, d), (b, r, h)))


@settings(max_examples=12, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 40), h=st.integers(1, 3), s=st.integers(1, 6),
       partition=st.sampled_from(["fixed", "logsparse"]), n=st.integers(0, 5), r=st.integers(0, 5),
       seed=st.integers(0, 99))
def test_chunk_matches_recurrent(b, t, h, s, partition, n, r, seed):
    state = _state(b, h, 4, n % s, r, seed=seed)
    assert_modes_agree(combiner_attention, _inputs(b, t, h, 4, seed=seed, state=state), 1e-5,
                       block_size=s, partition=partition)


@pytest.mark.parametrize("partition", ["fixed", "logsparse"])
def test_float64_exact_and_gradcheck(partition):
    inputs = _inputs(1, 9, 2, 3, dtype=torch.float64, state=_state(1, 2, 3, 1, 2, dtype=torch.float64))
    assert_modes_agree(combiner_attention, inputs, 1e-10, block_size=2, partition=partition)
    assert gradcheck(combiner_attention, inputs, block_size=2, partition=partition, output_final_state=True)


def test_one_region_is_causal_softmax_attention():
    x = _inputs(2, 7, 2, 4, dtype=torch.float64)
    o, _ = combiner_attention(x["q"], x["k"], x["v"], x["w"], block_size=7)
    torch.testing.assert_close(o, softmax_attention(x["q"], x["k"], x["v"], mode="recurrent"))


def test_fenwick_groups_tile_the_prefix():
    for g in range(40):
        groups = fenwick_groups(g)
        assert [i for a, n in groups for i in range(a, a + n)] == list(range(g))
        assert len(groups) == bin(g).count("1")


def test_bad_arguments_raise():
    x = _inputs(1, 4, 2, 4)
    with pytest.raises(ValueError, match="mode"):
        combiner_attention(**x, block_size=2, mode="scan")
    with pytest.raises(ValueError, match="partition"):
        combiner_attention(**x, block_size=2, partition="axial")
    with pytest.raises(ValueError, match="w must be"):
        combiner_attention(**{**x, "w": torch.zeros(3, 4)}, block_size=2)
    with pytest.raises(ValueError, match="initial_state"):
        combiner_attention(**{**x, "initial_state": _state(1, 2, 4, 2, 1)}, block_size=2)
