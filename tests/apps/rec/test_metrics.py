import math

import pytest
import torch

from rnnzoo.apps.rec.metrics import rank_metrics, target_ranks


def test_ranks_exclude_padding_only_and_break_ties_by_id():
    # columns: 0 = padding (highest score, must not count), items 1..5
    scores = torch.tensor([[9.0, 0.1, 0.5, 0.3, 0.5, 0.2],    # target 4: item 2 ties (lower id) -> rank 1
                           [9.0, 0.9, 0.1, 0.2, 0.3, 0.4],    # target 1: best real item -> rank 0
                           [9.0, 0.5, 0.4, 0.3, 0.2, 0.1]])   # target 5: last -> rank 4
    assert target_ranks(scores, torch.tensor([4, 1, 5])).tolist() == [1, 0, 4]
    assert target_ranks(scores, torch.tensor([2, 2, 2])).tolist() == [0, 4, 1]


def test_metrics_match_hand_computation():
    ranks = torch.tensor([0, 1, 4, 12, 30])
    m = rank_metrics(ranks)
    assert m["hit@10"] == pytest.approx(3 / 5)
    assert m["hit@20"] == pytest.approx(4 / 5)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 5)
    assert m["ndcg@20"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6) + 1 / math.log2(14)) / 5)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 5)
    assert m["mrr@20"] == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 13) / 5)
    assert rank_metrics(torch.tensor([9, 10]), ks=(10,)) == pytest.approx(
        {"hit@10": 0.5, "ndcg@10": 0.5 / math.log2(11), "mrr@10": 0.5 / 10})


def test_bad_targets_raise():
    with pytest.raises(ValueError, match="item ids"):
        target_ranks(torch.zeros(2, 4), torch.tensor([0, 1]))  # 0 is padding
    with pytest.raises(ValueError, match="item ids"):
        target_ranks(torch.zeros(2, 4), torch.tensor([1, 4]))
    with pytest.raises(ValueError, match=r"\[B, n_items \+ 1\]"):
        target_ranks(torch.zeros(4), torch.tensor([1]))
