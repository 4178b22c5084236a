"""MQAR matches Zoology's construction: disjoint key/value halves, each key queried once with its value,
power-law query gaps, random filler, loss only on answers, JRT repeats the context."""

import pytest
import torch

from rnnzoo.tasks import IGNORE, MQAR


def test_keys_unique_values_consistent_every_key_queried_once():
    task = MQAR(seq_len=64, vocab=128, num_kv_pairs=8)
    inputs, targets = task.make("train", 200, seed=3)
    k = task.num_kv_pairs
    keys, values = inputs[:, 0:2 * k:2], inputs[:, 1:2 * k:2]
    assert ((keys >= 1) & (keys < 64)).all() and ((values >= 64) & (values < 128)).all()
    for row in range(200):
        assert len(set(keys[row].tolist())) == k and len(set(values[row].tolist())) == k
        pos = (targets[row] != IGNORE).nonzero()[:, 0]
        assert len(pos) == k and (pos >= 2 * k).all() and (pos % 2 == 0).all()
        kv = dict(zip(keys[row].tolist(), values[row].tolist()))
        queried = inputs[row, pos].tolist()
        assert sorted(queried) == sorted(kv)
        assert targets[row, pos].tolist() == [kv[q] for q in queried]


def test_first_query_gap_follows_the_power_law():
    task = MQAR(seq_len=64, vocab=256, num_kv_pairs=4, power_a=0.01)
    n = 20000
    inputs, targets = task.make("train", n, seed=0)
    key0 = inputs[:, 0]
    # key 0's gap is the first draw without replacement: exactly the stated law P(g) ~ (g+1)^(a-1)
    is_query = (inputs[:, 8:] == key0[:, None]) & (targets[:, 8:] != IGNORE)
    gap = is_query.float().argmax(1) // 2
    freq = torch.bincount(gap, minlength=28).double() / n
    p = task.gap_probs()
    assert p[0] > 0.2 and (p[:-1] > p[1:]).all()
    assert (freq - p).abs().max() < 0.015  # ~4 sigma at n=20000; seed fixed so it cannot flake


def test_uniform_when_power_a_is_one():
    p = MQAR(seq_len=64, vocab=256, num_kv_pairs=4, power_a=1.0).gap_probs()
    torch.testing.assert_close(p, torch.full_like(p, 1 / 28))


def test_deterministic_per_seed_and_split():
    task = MQAR(seq_len=32, vocab=64, num_kv_pairs=4)
    a, b = task.make("train", 8, 1), task.make("train", 8, 1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], task.make("test", 8, 1)[0])
    assert not torch.equal(a[0], task.make("train", 8, 2)[0])


def test_jrt_repeats_the_context_and_keeps_answers():
    plain = MQAR(seq_len=32, vocab=64, num_kv_pairs=4)
    jrt = MQAR(seq_len=32, vocab=64, num_kv_pairs=4, jrt=True)
    (x, y), (xj, yj) = plain.make("test", 16, 0), jrt.make("test", 16, 0)
    assert xj.shape == (16, 40)
    assert torch.equal(xj[:, :8], xj[:, 8:16]) and torch.equal(xj[:, 8:], x) and torch.equal(yj[:, 8:], y)
    assert (yj[:, :8] == IGNORE).all()


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="num_kv_pairs"):
        MQAR(seq_len=16, num_kv_pairs=5)
    with pytest.raises(ValueError, match="even"):
        MQAR(seq_len=15)
    with pytest.raises(ValueError, match="split"):
        MQAR().make("dev", 2, 0)
