"""Full-ranking metrics for next-item prediction with one held-out target per user.

Every item is a candidate: the score vector covers ids 0..n_items and only the padding id 0 is
excluded (RecBole's default for sequential models; items already in the user's history stay
candidates). Ties are broken by item id, lower id first, like a stable sort.
With ``r`` the 0-based rank of the target:

    HR@K   = [r < K]                    (= Recall@K with one target)
    NDCG@K = [r < K] / log2(r + 2)      (IDCG = 1 for a single relevant item)
    MRR@K  = [r < K] / (r + 1)
"""

from __future__ import annotations

import torch

KS = (10, 20)
METRICS = tuple(f"{m}@{k}" for k in KS for m in ("hit", "ndcg", "mrr"))  # the names rank_metrics returns


def target_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """scores: [B, n_items + 1] (column 0 = padding); targets: [B] ids in 1..n_items -> 0-based ranks [B]."""
    if scores.dim() != 2 or targets.shape != scores.shape[:1]:
        raise ValueError(f"scores must be [B, n_items + 1] and targets [B]; got {tuple(scores.shape)}, "
                         f"{tuple(targets.shape)}")
    if targets.numel() and (int(targets.min()) < 1 or int(targets.max()) >= scores.shape[1]):
        raise ValueError(f"targets must be item ids in [1, {scores.shape[1] - 1}], got range "
                         f"[{int(targets.min())}, {int(targets.max())}]")
    scores = scores.float().clone()
    scores[:, 0] = -torch.inf
    target_score = scores.gather(1, targets[:, None])
    ids = torch.arange(scores.shape[1], device=scores.device)
    ahead = (scores > target_score) | ((scores == target_score) & (ids[None] < targets[:, None]))
    return ahead.sum(1)


def rank_metrics(ranks: torch.Tensor, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """0-based ranks [N] -> {"hit@K", "ndcg@K", "mrr@K"} averaged over the N users."""
    ranks = ranks.double()
    out = {}
    for k in ks:
        hit = ranks < k
        out[f"hit@{k}"] = float(hit.double().mean())
        out[f"ndcg@{k}"] = float(torch.where(hit, 1.0 / torch.log2(ranks + 2), 0.0).mean())
        out[f"mrr@{k}"] = float(torch.where(hit, 1.0 / (ranks + 1), 0.0).mean())
    return out
