"""Sequence order recall as SORT defines it: of two probed list items, answer the one that appeared first."""

import pytest
import torch

from rnnzoo import tasks
from rnnzoo.bench.runner import chance_level
from rnnzoo.tasks import IGNORE, order_recall
from rnnzoo.tasks.order_recall import OrderRecall
from tests.tasks.docstring_example import docstring_example


def solve(row: list, list_len: int) -> int:
    """The probe (the last two tokens) whose first occurrence in the studied list is earlier."""
    studied = row[:list_len]
    a, b = row[-2:]
    return a if studied.index(a) < studied.index(b) else b


def test_docstring_example_is_the_definition():
    inputs, targets = docstring_example(order_recall)
    assert inputs[6] == 0 and targets[:-1] == [IGNORE] * 8
    assert solve(inputs, 4) == targets[-1] == 5


def test_targets_match_an_independent_solver_and_layout():
    task = tasks.build("order_recall", seq_len=20, list_len=6, num_items=10, filler_vocab=3)
    x, y = task.make("train", 500, 0)
    assert x.shape == y.shape == (500, 20) and (y[:, :-1] == IGNORE).all()
    assert (x[:, 6:17] > 10).all() and (x[:, 17] == 0).all() and x.max() < task.vocab_size
    for row, target in zip(x.tolist(), y[:, -1].tolist()):
        assert len(set(row[:6])) == 6 and row[-2] != row[-1] and set(row[-2:]) <= set(row[:6])
        assert solve(row, 6) == target


def test_statistics_answer_is_either_probe_equally_often_and_probes_cover_the_list():
    task = OrderRecall(seq_len=16, list_len=8, num_items=16)
    x, y = task.make("train", 20000, 1)
    first_is_answer = (y[:, -1] == x[:, -2]).float().mean()
    assert abs(float(first_is_answer) - 0.5) < 0.015  # 4 sigma at n = 20000
    positions = (x[:, :8] == x[:, -1:]).float().argmax(1)
    freq = torch.bincount(positions, minlength=8).float() / 20000
    assert (freq - 1 / 8).abs().max() < 0.01  # the second probe is uniform over the list
    assert chance_level(task) == task.chance() == 0.5


def test_determinism_lengths_and_errors():
    task = OrderRecall()
    a, b = task.make("valid", 32, 3), task.make("valid", 32, 3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], task.make("test", 32, 3)[0])
    assert task.at_length(128).make("test", 4, 0)[0].shape == (4, 128) and task.test_lengths() == (32, 64, 128)
    with pytest.raises(ValueError, match="list_len"):
        OrderRecall(list_len=40, num_items=32)
    with pytest.raises(ValueError, match="list_len \\+ 3"):
        OrderRecall(seq_len=10, list_len=8, test_lens=(10,))
