"""Compositional MQAR as Zoology defines it: two-token keys on a grid, neither token alone gives the value."""

import pytest
import torch

from rnnzoo.tasks import IGNORE, CompositionalMQAR, compositional_mqar
from tests.tasks.docstring_example import docstring_example


def pair_values(inputs: list, k: int) -> dict:
    return {(inputs[i], inputs[i + 1]): inputs[i + 2] for i in range(0, 3 * k, 3)}


def test_grid_of_pairs_queried_once_each_at_the_second_key_token():
    task = CompositionalMQAR(seq_len=60, vocab=60, num_kv_pairs=9)
    inputs, targets = task.make("train", 200, seed=2)
    for row in range(200):
        x = inputs[row].tolist()
        kv = pair_values(x, 9)
        firsts, seconds = {a for a, _ in kv}, {b for _, b in kv}
        assert len(kv) == 9 and len(firsts) == 3 and len(seconds) == 3  # the full 3 x 3 grid
        assert all(1 <= a < 20 for a in firsts) and all(20 <= b < 40 for b in seconds)
        assert len(set(kv.values())) == 9 and all(40 <= v < 60 for v in kv.values())
        pos = (targets[row] != IGNORE).nonzero()[:, 0].tolist()
        assert sorted((x[p - 1], x[p]) for p in pos) == sorted(kv) and all((p - 27) % 3 == 1 for p in pos)
        assert [int(targets[row, p]) for p in pos] == [kv[(x[p - 1], x[p])] for p in pos]


def test_docstring_example_follows_the_definition():
    inputs, targets = docstring_example(compositional_mqar)
    kv = pair_values(inputs, 4)
    answers = [(inputs[i - 1], inputs[i], t) for i, t in enumerate(targets) if t != IGNORE]
    assert answers and all(kv[(a, b)] == t for a, b, t in answers)
    assert len({v for (a, _), v in kv.items() if a == 1}) == 2  # one first token, two values


def test_deterministic_and_configs_checked():
    task = CompositionalMQAR(seq_len=32, vocab=48, num_kv_pairs=4)
    assert torch.equal(task.make("train", 4, 0)[0], task.make("train", 4, 0)[0])
    assert not torch.equal(task.make("train", 4, 0)[0], task.make("train", 4, 1)[0])
    with pytest.raises(ValueError, match="perfect square"):
        CompositionalMQAR(num_kv_pairs=3)
    with pytest.raises(ValueError, match="6 \\* num_kv_pairs"):
        CompositionalMQAR(seq_len=20, num_kv_pairs=4)
