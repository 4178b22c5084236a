"""Forgetting MQAR as Zoology defines it: re-assigned keys answer their latest value, every key queried once."""

import pytest
import torch

from rnnzoo.tasks import IGNORE, ForgettingMQAR, forgetting_mqar
from tests.tasks.docstring_example import docstring_example


def latest_values(inputs: list, context: int) -> dict:
    """The definition: scan the context pairs in order; a later pair overwrites an earlier one."""
    kv = {}
    for i in range(0, context, 2):
        kv[inputs[i]] = inputs[i + 1]
    return kv


def test_every_query_answers_the_latest_value_of_its_key():
    task = ForgettingMQAR(seq_len=64, vocab=64, num_kv_pairs=6, num_updates=3)
    inputs, targets = task.make("train", 300, seed=1)
    ctx = 2 * (6 + 3)
    for row in range(300):
        x = inputs[row].tolist()
        keys, updated = x[0:12:2], x[12:ctx:2]
        assert len(set(keys)) == 6 and len(set(updated)) == 3 and set(updated) <= set(keys)
        assert all(1 <= k < 32 for k in keys) and all(32 <= v < 64 for v in x[1:ctx:2])
        originals = dict(zip(keys, x[1:12:2]))
        assert all(x[ctx - 6 + 2 * j + 1] != originals[k] for j, k in enumerate(updated))  # a new value
        kv = latest_values(x, ctx)
        pos = (targets[row] != IGNORE).nonzero()[:, 0].tolist()
        assert sorted(x[p] for p in pos) == sorted(keys) and all(p >= ctx and p % 2 == 0 for p in pos)
        assert [int(targets[row, p]) for p in pos] == [kv[x[p]] for p in pos]


def test_docstring_example_follows_the_definition():
    inputs, targets = docstring_example(forgetting_mqar)
    kv = latest_values(inputs, 2 * (2 + 1))
    assert [t for t in targets if t != IGNORE] == [kv[x] for x, t in zip(inputs, targets) if t != IGNORE]


def test_deterministic_per_seed_and_split():
    task = ForgettingMQAR(seq_len=32, vocab=32, num_kv_pairs=4, num_updates=2)
    a, b = task.make("train", 8, 3), task.make("train", 8, 3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], task.make("train", 8, 4)[0]) and not torch.equal(a[0], task.make("test", 8, 3)[0])


def test_half_the_keys_are_updated_on_average_and_bad_configs_raise():
    task = ForgettingMQAR(seq_len=64, vocab=64, num_kv_pairs=8, num_updates=4)
    inputs, targets = task.make("test", 2000, 0)
    ctx = 24
    changed = sum(latest_values(row, ctx) != dict(zip(row[0:16:2], row[1:16:2])) for row in inputs.tolist())
    assert changed == 2000  # every example re-assigns some key
    # each of the 8 key slots is re-assigned with probability 4/8
    slots = torch.stack([(inputs[:, 16:ctx:2] == inputs[:, 2 * i:2 * i + 1]).any(1) for i in range(8)], 1)
    assert (slots.float().mean(0) - 0.5).abs().max() < 0.05
    with pytest.raises(ValueError, match="too short"):
        ForgettingMQAR(seq_len=16, num_kv_pairs=4, num_updates=2)
    with pytest.raises(ValueError, match="num_updates"):
        ForgettingMQAR(num_kv_pairs=2, num_updates=3)
