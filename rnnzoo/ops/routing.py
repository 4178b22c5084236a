"""Routing attention (Roy et al. 2021, Efficient Content-Based Sparse Attention with Routing Transformers, sec. 4):
queries and keys are routed to the nearest of C centroids (online k-means) and a query attends only to the
earlier keys of its own cluster.

    route(x) = argmax_c  mu_c . LN(x)                          (LN without scale and bias: points on a sphere)
    o_i = sum_{j <= i, c(k_j) = c(q_i)  or  j = i} softmax_j(scale q_i.k_j) v_j
    mu_c <- normalise(lambda mu_c + (1 - lambda) mean_{x routed to c} LN(x)/|LN(x)|)   (eq. 12, EMA k-means)

A query always sees its own key, so a token routed away from every earlier key still has one. Layout
``[B, T, H, D]`` with the queries the last Tq of the Tk key positions (as ``rnnzoo.ops.attention``); cluster ids
``[B, T, H]`` int64; centroids ``[H, C, D]``. Modes of ``routing_attention``: ``"recurrent"`` (one query at a
time against its key prefix) and ``"parallel"`` (masked softmax over blocks of queries, so the score matrix is
``[B, H, block, Tk]``, never Tq x Tk at once).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops._common import autocast_safe, check_mode, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "parallel")
QUERY_BLOCK = 512


def route(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """x: [B, T, H, D]; centroids: [H, C, D] -> nearest centroid id [B, T, H] int64 (by dot product on the sphere)."""
    return torch.einsum("bthd,hcd->bthc", _sphere(x), centroids.to(x.dtype)).argmax(-1)


def ema_centroids(centroids: torch.Tensor, x: torch.Tensor, clusters: torch.Tensor, decay: float) -> torch.Tensor:
    """One EMA k-means update. centroids: [H, C, D]; x: [N, H, D] routed vectors; clusters: [N, H] -> [H, C, D].

    Each centroid moves toward the mean of the vectors routed to it and is renormalised; one with none stays.
    Deterministic: the per-cluster sums are a one-hot matrix product, not an atomic scatter. decay 1 returns the
    centroids as they are (renormalising would still move them by rounding)."""
    if decay == 1:
        return centroids
    one_hot = F.one_hot(clusters, centroids.shape[1]).to(torch.float32)  # [N, H, C]
    points = _sphere(x.float())
    sums = torch.einsum("nhc,nhd->hcd", one_hot, points)
    counts = one_hot.sum(0)[..., None]
    moved = F.normalize(decay * centroids.float() + (1 - decay) * sums / counts.clamp(min=1), dim=-1)
    return torch.where(counts > 0, moved, centroids.float()).to(centroids.dtype)


def _sphere(x):
    return F.normalize(F.layer_norm(x, x.shape[-1:]), dim=-1)


def _check(q, k, v, q_cluster, k_cluster, mode):
    check_mode("routing_attention", mode, MODES)
    if q.dim() != 4 or k.shape != v.shape or k.dim() != 4 or q.shape[0] != k.shape[0] or q.shape[2:] != k.shape[2:]:
        raise ValueError(f"q must be [B, Tq, H, D] and k, v [B, Tk, H, D]; got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if k.shape[1] < q.shape[1]:
        raise ValueError(f"need at least as many keys as queries, got Tq={q.shape[1]}, Tk={k.shape[1]}")
    if q_cluster.shape != q.shape[:3] or k_cluster.shape != k.shape[:3]:
        raise ValueError(f"q_cluster must be [B, Tq, H]={tuple(q.shape[:3])} and k_cluster [B, Tk, H]="
                         f"{tuple(k.shape[:3])}, got {tuple(q_cluster.shape)}, {tuple(k_cluster.shape)}")


@packable("routing_attention")
@autocast_safe
def routing_attention(q, k, v, q_cluster, k_cluster, scale=None, mode="parallel"):
    """q: [B, Tq, H, D]; k, v: [B, Tk, H, D]; q_cluster: [B, Tq, H]; k_cluster: [B, Tk, H] -> o [B, Tq, H, D] in
    q's dtype (computed in float32 at least)."""
    _check(q, k, v, q_cluster, k_cluster, mode)
    if q_cluster.is_floating_point() or k_cluster.is_floating_point():
        raise ValueError(f"routing_attention: cluster ids must be integers, got {q_cluster.dtype}, {k_cluster.dtype}")
    dtype = q.dtype
    q, k, v = upcast(q, k, v, op="routing_attention")
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    tq, tk = q.shape[1], k.shape[1]
    if mode == "recurrent":
        outs = []
        for i in range(tq):
            n = tk - tq + i + 1  # the keys query i may see
            scores = torch.einsum("bhd,bjhd->bhj", q[:, i], k[:, :n]) * scale
            allowed = (k_cluster[:, :n] == q_cluster[:, i, None]).transpose(1, 2)
            allowed[..., -1] = True
            p = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
            outs.append(torch.einsum("bhj,bjhd->bhd", p, v[:, :n]))
        return torch.stack(outs, 1).to(dtype)
    outs = []
    key_pos = torch.arange(tk, device=q.device)
    for start in range(0, tq, QUERY_BLOCK):
        qb, cb = q[:, start:start + QUERY_BLOCK], q_cluster[:, start:start + QUERY_BLOCK]
        q_pos = torch.arange(tk - tq + start, tk - tq + start + qb.shape[1], device=q.device)
        scores = torch.einsum("bihd,bjhd->bhij", qb, k) * scale
        same = cb.transpose(1, 2)[..., :, None] == k_cluster.transpose(1, 2)[..., None, :]  # [B, H, i, j]
        allowed = (same & (key_pos[None, :] <= q_pos[:, None])) | (key_pos[None, :] == q_pos[:, None])
        p = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
        outs.append(torch.einsum("bhij,bjhd->bihd", p, v))
    return torch.cat(outs, 1).to(dtype)
