import pytest
import torch

from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.rotary import apply_rotary


def naive(q, k, v, window=None, k_valid=None):
    """One query at a time: softmax over the keys it may see."""
    b, tq, h, d = q.shape
    tk = k.shape[1]
    out = torch.zeros_like(q)
    for bi in range(b):
        for i in range(tq):
            qi = tk - tq + i
            keys = [j for j in range(tk) if j <= qi and (window is None or j > qi - window)
                    and (k_valid is None or k_valid[bi, j])]
            s = torch.einsum("hd,jhd->hj", q[bi, i], k[bi, keys]) * d ** -0.5
            out[bi, i] = torch.einsum("hj,jhd->hd", s.softmax(-1), v[bi, keys])
    return out


@pytest.mark.parametrize("mode", ["recurrent", "sdpa"])
@pytest.mark.parametrize("tq,tk,window", [(6, 6, None), (6, 6, 3), (2, 7, None), (3, 8, 4), (1, 5, 2)])
def test_matches_per_query_softmax(mode, tq, tk, window):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, tq, 2, 4, generator=g, dtype=torch.float64)
    k, v = (torch.randn(2, tk, 2, 4, generator=g, dtype=torch.float64) for _ in range(2))
    valid = torch.ones(2, tk, dtype=torch.bool)
    valid[0, : min(2, tk - tq)] = False  # only cache slots can be empty; a query always sees itself
    for kv in (None, valid):
        o = softmax_attention(q, k, v, window=window, k_valid=kv, mode=mode)
        torch.testing.assert_close(o, naive(q, k, v, window, kv), atol=1e-12, rtol=1e-12)


def test_rejects_more_queries_than_keys_and_bad_window():
    q = torch.randn(1, 4, 1, 2)
    with pytest.raises(ValueError, match="Tq=4"):
        softmax_attention(q, q[:, :2], q[:, :2])
    with pytest.raises(ValueError, match="window"):
        softmax_attention(q, q, q, window=0)


def test_rotary_scores_depend_only_on_relative_position():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 1, 1, 8, generator=g, dtype=torch.float64), torch.randn(1, 1, 1, 8, generator=g, dtype=torch.float64)

    def score(pq, pk):
        return (apply_rotary(q, torch.tensor([[pq]])) * apply_rotary(k, torch.tensor([[pk]]))).sum()

    torch.testing.assert_close(score(5, 2), score(105, 102))
    assert not torch.allclose(score(5, 2), score(5, 4))


def test_sinks_are_seen_by_every_query_whatever_the_window():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 8, 2, 4, generator=g, dtype=torch.float64) for _ in range(3))
    o_sdpa = softmax_attention(q, k, v, window=2, sinks=1)
    o_ref = softmax_attention(q, k, v, window=2, sinks=1, mode="recurrent")
    torch.testing.assert_close(o_sdpa, o_ref)
    v2 = v.clone()
    v2[:, 0] += 1.0  # the sink
    v3 = v.clone()
    v3[:, 1] += 1.0  # an ordinary key outside the last query's window
    assert (softmax_attention(q, k, v2, window=2, sinks=1)[:, -1] - o_sdpa[:, -1]).abs().max() > 1e-3
    torch.testing.assert_close(softmax_attention(q, k, v3, window=2, sinks=1)[:, -1], o_sdpa[:, -1])
