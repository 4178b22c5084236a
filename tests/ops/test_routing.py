"""Routing attention: the blocked masked form == the per-query loop (forward and gradients, any split of the keys
into cache and new tokens); one cluster is causal softmax attention; the EMA k-means update is deterministic."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops import routing
from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.routing import ema_centroids, route, routing_attention
from tests.ops.modes import close, gradcheck, outputs_and_grads


def _inputs(b, tq, tk, h, d, clusters, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, tq, h, d, generator=g, dtype=dtype)
    k, v = (torch.randn(b, tk, h, d, generator=g, dtype=dtype) for _ in range(2))
    return dict(q=q, k=k, v=v, q_cluster=torch.randint(clusters, (b, tq, h), generator=g),
                k_cluster=torch.randint(clusters, (b, tk, h), generator=g))


def _run(inputs, mode):
    def loss(o):
        return (o * torch.randn(o.shape, generator=torch.Generator().manual_seed(7), dtype=o.dtype)).sum()

    tensors = {n: x for n, x in inputs.items() if x.is_floating_point()}
    ids = {n: x for n, x in inputs.items() if not x.is_floating_point()}
    return outputs_and_grads(lambda **kw: routing_attention(**kw, **ids, mode=mode), tensors, loss)


@settings(max_examples=12, deadline=None)
@given(b=st.integers(1, 2), tq=st.integers(1, 30), cached=st.integers(0, 6), h=st.integers(1, 3),
       clusters=st.integers(1, 4), block=st.sampled_from([4, 512]), seed=st.integers(0, 99))
def test_parallel_matches_recurrent(b, tq, cached, h, clusters, block, seed):
    inputs = _inputs(b, tq, tq + cached, h, 4, clusters, seed=seed)
    old, routing.QUERY_BLOCK = routing.QUERY_BLOCK, block  # blocks smaller than Tq exercise the block seams
    try:
        (o, g), (o_ref, g_ref) = _run(inputs, "parallel"), _run(inputs, "recurrent")
    finally:
        routing.QUERY_BLOCK = old
    close(o, o_ref, 1e-5)
    for a, r in zip(g, g_ref):
        close(a, r, 1e-5)


def test_float64_exact_and_gradcheck():
    inputs = _inputs(1, 6, 8, 2, 3, 2, dtype=torch.float64)
    (o, g), (o_ref, g_ref) = _run(inputs, "parallel"), _run(inputs, "recurrent")
    torch.testing.assert_close(o, o_ref, rtol=1e-10, atol=1e-10)
    ids = dict(q_cluster=inputs.pop("q_cluster"), k_cluster=inputs.pop("k_cluster"))
    assert gradcheck(lambda **kw: routing_attention(**kw, **ids), inputs)


def test_one_cluster_is_causal_attention():
    x = _inputs(2, 7, 7, 2, 4, 1, dtype=torch.float64)
    o = routing_attention(**x)
    torch.testing.assert_close(o, softmax_attention(x["q"], x["k"], x["v"], mode="recurrent"))


def test_ema_update_is_deterministic_and_moves_toward_the_routed_mean():
    g = torch.Generator().manual_seed(0)
    centroids = torch.nn.functional.normalize(torch.randn(2, 3, 4, generator=g), dim=-1)
    x = torch.randn(50, 2, 4, generator=g)
    clusters = route(x[None], centroids)[0]
    a, b = ema_centroids(centroids, x, clusters, 0.5), ema_centroids(centroids, x, clusters, 0.5)
    assert torch.equal(a, b)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(2, 3))
    assert torch.equal(ema_centroids(centroids, x, clusters, 1.0), centroids)
    unused = torch.zeros(50, 2, dtype=torch.long)  # everything routed to centroid 0: the others stay
    torch.testing.assert_close(ema_centroids(centroids, x, unused, 0.5)[:, 1:], centroids[:, 1:])


def test_bad_arguments_raise():
    x = _inputs(1, 4, 4, 2, 4, 2)
    with pytest.raises(ValueError, match="mode"):
        routing_attention(**x, mode="chunk")
    with pytest.raises(ValueError, match="q_cluster"):
        routing_attention(**{**x, "q_cluster": x["q_cluster"][:, :2]})
    with pytest.raises(ValueError, match="at least as many keys"):
        routing_attention(**{**x, "q": torch.randn(1, 5, 2, 4), "q_cluster": torch.zeros(1, 5, 2, dtype=torch.long)})
