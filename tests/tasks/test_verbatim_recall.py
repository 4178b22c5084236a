"""Verbatim list recall as Armeni et al. define it: the list recurs after intervening text, and the model
predicts each item of the repeat from the first occurrence; scored per position and per whole list."""

import pytest
import torch

from rnnzoo import tasks
from rnnzoo.bench.runner import chance_level
from rnnzoo.tasks import IGNORE, verbatim_recall
from rnnzoo.tasks.verbatim_recall import VerbatimRecall, exact_list_accuracy
from tests.tasks.docstring_example import docstring_example


def solve(row: list, list_len: int) -> list[int]:
    """The studied list (the first list_len tokens), which the repeat after the cue must reproduce."""
    return row[:list_len]


def test_docstring_example_is_the_definition():
    inputs, targets = docstring_example(verbatim_recall)
    assert inputs[5] == 0 and inputs[6:] == solve(inputs, 3)[:-1]
    assert [t for t in targets if t != IGNORE] == solve(inputs, 3) == [4, 2, 6]


def test_targets_are_the_studied_list_after_the_cue():
    task = tasks.build("verbatim_recall", seq_len=24, list_len=5, num_items=12, filler_vocab=3)
    x, y = task.make("train", 300, 0)
    assert x.shape == y.shape == (300, 24) and (y[:, :19] == IGNORE).all() and (x[:, 19] == 0).all()
    assert (x[:, 5:19] > 12).all() and x.max() < task.vocab_size
    for row, target in zip(x.tolist(), y.tolist()):
        assert len(set(row[:5])) == 5 and target[19:] == solve(row, 5) and row[20:] == solve(row, 5)[:-1]


def test_statistics_items_uniform_and_the_two_metrics():
    task = VerbatimRecall(seq_len=16, list_len=4, num_items=8)
    x, y = task.make("train", 16000, 2)
    freq = torch.bincount(x[:, 0], minlength=9)[1:].float() / 16000
    assert (freq - 1 / 8).abs().max() < 0.012  # first item uniform over the 8 items (about 4 sigma)
    assert chance_level(task) == task.chance() == 1 / 8
    assert VerbatimRecall(metric="list", list_len=2, num_items=4, seq_len=8, test_lens=(8,)).chance() == 1 / 16
    perfect = torch.nn.functional.one_hot(y.clamp(min=0), task.vocab_size).float()
    assert task.score(perfect, y) == 1.0 and exact_list_accuracy(perfect, y) == 1.0
    one_wrong = perfect.clone()
    one_wrong[::2, -1] = one_wrong[::2, -1].roll(1, -1)  # every other row misses its last item
    assert exact_list_accuracy(one_wrong, y) == 0.5
    assert task.score(one_wrong, y) == pytest.approx(1 - 0.5 / 4)
    assert VerbatimRecall(seq_len=16, list_len=4, num_items=8, metric="list").score(one_wrong, y) == 0.5


def test_determinism_lengths_and_errors():
    task = VerbatimRecall()
    a, b = task.make("train", 16, 5), task.make("train", 16, 5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert task.at_length(64).make("test", 2, 0)[0].shape == (2, 64)
    with pytest.raises(ValueError, match="metric"):
        VerbatimRecall(metric="exact")
    with pytest.raises(ValueError, match="2 \\* list_len"):
        VerbatimRecall(seq_len=10, list_len=8, test_lens=(10,))
