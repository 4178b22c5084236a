import math

import pytest
import torch
from torch import nn

from rnnzoo.apps.rec import RecConfig, build_model
from rnnzoo.apps.rec.contrastive import cross_subsequence_pairs, info_nce
from rnnzoo.labels import IGNORE


def test_pairs_share_their_target_and_are_distinct_subsequences():
    gen = torch.Generator().manual_seed(0)
    targets = torch.randint(1, 20, (300,), generator=gen)
    anchor, positive = cross_subsequence_pairs(targets, max_pairs=1000, generator=gen)
    assert len(anchor) > 100
    assert torch.equal(targets[anchor], targets[positive]) and (anchor != positive).all()
    assert len(anchor.unique()) == len(anchor)  # at most one pair per anchor
    few, _ = cross_subsequence_pairs(targets, max_pairs=7, generator=gen)
    assert len(few) == 7
    none, _ = cross_subsequence_pairs(torch.arange(10), max_pairs=7, generator=gen)  # no shared target: no pair
    assert len(none) == 0


def test_partners_are_drawn_at_random():
    targets = torch.tensor([3, 3, 3, 3, 1])
    partners = {tuple(cross_subsequence_pairs(targets, 10, torch.Generator().manual_seed(s))[1].tolist())
                for s in range(20)}
    assert len(partners) > 1


def test_info_nce_matches_a_hand_computation_and_leaves_out_same_target_negatives():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    p = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    targets = torch.tensor([4, 7, 4])  # pairs 0 and 2 share a target: not negatives of each other
    loss = info_nce(a, p, targets, temperature=0.5)
    s = nn.functional.normalize(a, dim=-1) @ nn.functional.normalize(p, dim=-1).T / 0.5

    def ce(row, allowed, i):
        return -(row[i] - torch.logsumexp(row[allowed], 0))

    rows = [ce(s[0], [0, 1], 0), ce(s[1], [0, 1, 2], 1), ce(s[2], [1, 2], 2)]
    cols = [ce(s[:, 0], [0, 1], 0), ce(s[:, 1], [0, 1, 2], 1), ce(s[:, 2], [1, 2], 2)]
    expected = 0.5 * (sum(rows) / 3 + sum(cols) / 3)
    assert math.isclose(loss.item(), expected.item(), rel_tol=1e-5)


@pytest.mark.parametrize("kw", [dict(arch="sasrec"), dict(arch="gru4rec"), dict(encoder="gru"),
                                dict(arch="bert4rec")])
def test_model_loss_adds_the_weighted_info_nce_over_positions_with_the_same_target(kw):
    torch.manual_seed(0)
    cfg = dict(n_items=5, d_model=8, n_layers=1, n_heads=2, inner_size=16, gru_hidden=8, dropout=0.0, **kw)
    model = build_model(RecConfig(contrastive_weight=0.3, contrastive_temperature=0.5, **cfg))
    seq = torch.randint(1, 6, (6, 7))
    labels = torch.randint(1, 6, (6, 7))  # next items (cloze: the masked positions' items); few items: many pairs
    labels[:, -2:] = IGNORE
    lengths = torch.full((6,), 7)
    torch.manual_seed(3)
    loss = model.train().loss(seq, lengths, labels)
    h = model.hidden(seq, lengths)
    keep = labels != IGNORE
    ce = nn.functional.cross_entropy(model.logits(h[keep]), labels[keep])
    torch.manual_seed(3)
    anchor, positive = cross_subsequence_pairs(labels[keep], 512)
    assert len(anchor) > 1 and torch.equal(labels[keep][anchor], labels[keep][positive])
    expected = ce + 0.3 * info_nce(h[keep][anchor], h[keep][positive], labels[keep][anchor], 0.5)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(model.eval().loss(seq, lengths, labels), ce)  # validation loss: the CE alone


def test_config_refuses_the_options_where_they_do_not_apply():
    with pytest.raises(ValueError, match="contrastive_weight applies to"):
        RecConfig(arch="pop", contrastive_weight=0.1)
    with pytest.raises(ValueError, match="actr applies to"):
        RecConfig(arch="recformer", actr=True)
    with pytest.raises(ValueError, match="contrastive_temperature > 0"):
        RecConfig(contrastive_weight=0.1, contrastive_temperature=0.0)
    with pytest.raises(ValueError, match="DARE"):
        RecConfig(arch="gru4rec", decoupled=True)
    with pytest.raises(ValueError, match="DARE"):
        RecConfig(encoder="gru", decoupled=True)
