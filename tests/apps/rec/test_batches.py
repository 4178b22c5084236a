"""The training-example construction that decides how close the baselines come to RecBole's: how much history
each target is predicted from (RecBole: every prefix, cut to its last max_len items) and BERT4Rec's last-item
batches (RecBole's ft_ratio), plus GRU4Rec's exact RecBole architecture."""

import numpy as np
import pytest
import torch

from rnnzoo.apps.rec import RecConfig
from rnnzoo.apps.rec.batches import last_item_batch, mask_batch, next_item_examples, train_windows
from rnnzoo.apps.rec.data import SequenceData
from rnnzoo.apps.rec.models import build_model
from rnnzoo.apps.rec.train import RecTrainConfig, recbole_train
from rnnzoo.labels import IGNORE


def _data(lengths, max_len):
    seqs = [np.arange(1, n + 1, dtype=np.int64) + 100 * u for u, n in enumerate(lengths)]  # + 2 held-out items
    return SequenceData([np.append(s, [7, 8]) for s in seqs], [f"u{u}" for u in range(len(seqs))],
                        [str(i) for i in range(1000)], max_len)


@pytest.mark.parametrize("cloze", [False, True])
@pytest.mark.parametrize("stride", [1, 3, 10, 12])
def test_every_target_once_with_at_least_max_len_minus_stride_history(cloze, stride):
    L = 12
    data = _data([1, 2, 5, 12, 13, 14, 40, 61], L)
    seq, lengths, labels = train_windows(data, cloze, stride)
    owned = []
    for row, n, lab in zip(seq.tolist(), lengths.tolist(), labels.tolist()):
        items = row[:n]
        assert all(b == a + 1 for a, b in zip(items, items[1:]))  # a contiguous piece of one user's history
        for p, t in enumerate(lab):
            if t == IGNORE:
                continue
            history = p + (0 if cloze else 1)  # items before the target inside this window
            before = t % 100 - 1                # items before the target in the user's whole training part
            assert t == (items[p] if cloze else items[p] + 1)
            assert history >= min(before, L - stride)  # RecBole: min(before, L) for next-item; L - 1 for cloze
            owned.append(t)
    targets = [int(t) for s in data.train_sequences() for t in s[0 if cloze else 1:]]
    assert sorted(owned) == sorted(targets)
    if stride == L:  # disjoint windows: the cheapest cover
        assert len(seq) == sum(-(-(len(s) - (0 if cloze else 1)) // L) for s in data.train_sequences())


def test_stride_is_checked_and_stopping_is_recboles():
    with pytest.raises(ValueError, match="stride"):
        train_windows(_data([5], 4), False, 5)
    with pytest.raises(ValueError, match="stride"):
        RecTrainConfig(stride=0)
    # RecBole trains until valid NDCG@10 has not improved for stopping_step 10 epochs (epochs 300); one of our
    # epochs is ~1/40 of RecBole's in targets, and 10 of ours stopped bert4rec on noise at epoch ~30 of 114
    config = RecTrainConfig()
    assert (config.epochs, config.train.early_stop_patience, config.stride) == (300, 30, None)
    assert recbole_train().early_stop_metric == "ndcg@10"


def test_last_item_batches_are_the_test_input_of_every_training_target():
    # RecBole's ft_ratio batches mask the last item of a prefix: the target with up to max_len - 1 items of its
    # own history before it, whatever window it falls in (a cut inside a window would lose that history)
    L = 6
    data = _data([3, 9, 14], L)
    rows = next_item_examples(data, L - 1)
    seq, lens, labels = last_item_batch(*rows, mask_token=999)
    assert seq.shape == labels.shape == (2 + 8 + 13, L)
    for row, n, lab in zip(seq.tolist(), lens.tolist(), labels.tolist()):
        target = lab[n - 1]
        assert row[n - 1] == 999 and lab == [target if p == n - 1 else IGNORE for p in range(L)]
        assert row[: n - 1] == list(range(max(target - L + 1, target // 100 * 100 + 1), target))  # its history
        assert all(t == 0 for t in row[n:])
    assert RecConfig(arch="bert4rec").last_ratio == 0.5  # RecBole's BERT4Rec ft_ratio
    seq = torch.tensor([[5, 6, 7, 8, 9], [3, 4, 0, 0, 0]])
    out, lens, labels = mask_batch(seq, torch.tensor([5, 2]), 0.2, 99, torch.Generator().manual_seed(0))
    assert torch.equal(lens, torch.tensor([5, 2])) and ((out == 99) == (labels != IGNORE)).all()
    assert ((out == 99).sum(1) >= 1).all() and (out[1, 2:] == 0).all()


def test_training_draws_last_item_batches_from_every_target(monkeypatch):
    import rnnzoo.apps.rec.train as train_mod

    drawn = []
    real = train_mod.last_item_batch
    monkeypatch.setattr(train_mod, "last_item_batch", lambda *a: drawn.append(a[0]) or real(*a))
    data = _data([30, 40, 70], 8)
    config = RecTrainConfig(model=RecConfig(arch="bert4rec", d_model=16, inner_size=32, last_ratio=0.5),
                            epochs=3, batch_size=4)
    steps = train_mod.train_rec(data, config)["steps"]
    # a cloze epoch is 1 / mask_ratio = 5 passes over the 4 + 5 + 9 windows of 8 items (5 batches of 4), so that
    # each target is masked about once an epoch, as a next-item epoch predicts each once
    assert steps == 3 * 5 * 5
    assert 0 < len(drawn) < steps  # about half the batches (one draw per batch)
    assert all(h.shape[1] == 7 for h in drawn)  # max_len - 1 items of history before the [MASK]


def test_gru4rec_has_recboles_parameter_count():
    # RecBole 1.2.1 prints "Trainable parameters: 189696" for GRU4Rec on ml-100k (1682 items + padding):
    # a bias-free GRU, as in its gru4rec.py
    assert sum(p.numel() for p in build_model(RecConfig(arch="gru4rec", n_items=1682)).parameters()) == 189_696


@pytest.mark.parametrize("arch", ["sasrec", "bert4rec"])
def test_transformer_feed_forward_drops_out_as_recbole(arch):
    # RecBole's FeedForward: LayerNorm(x + Dropout(Linear2(GELU(Linear1(x))))), no dropout on the GELU output,
    # which torch's TransformerEncoderLayer adds; same random draws on both sides, so the outputs are equal
    layer = build_model(RecConfig(arch=arch, n_items=20)).train().transformer.layers[0]
    x = torch.randn(3, 5, 64)
    torch.manual_seed(0)
    ours = layer._ff_block(x)
    torch.manual_seed(0)
    recbole = layer.dropout2(layer.linear2(torch.nn.functional.gelu(layer.linear1(x))))
    assert layer.dropout2.p > 0 and torch.equal(ours, recbole)
