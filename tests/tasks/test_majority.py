"""Majority and vocab-majority as Zoology defines them: the answer at the end token is the most frequent token."""

from collections import Counter

import torch

from rnnzoo.tasks import IGNORE, Majority, VocabMajority


def test_majority_answers_one_only_for_a_strict_majority_of_ones():
    task = Majority(seq_len=10)
    inputs, targets = task.make("train", 4000, 0)
    assert (inputs[:, -1] == 2).all() and (targets[:, :-1] == IGNORE).all()
    ones = inputs[:, :-1].sum(1)
    assert torch.equal(targets[:, -1], (ones > 4.5).long())  # 9 bits: ties impossible
    even = Majority(seq_len=5)  # 4 bits: a 2-2 tie answers 0
    x, y = even.make("test", 2000, 0)
    assert (y[x[:, :-1].sum(1) == 2, -1] == 0).all()
    assert abs(float(targets[:, -1].float().mean()) - 0.5) < 0.03  # odd count: balanced labels


def test_vocab_majority_has_a_unique_most_frequent_token():
    task = VocabMajority(seq_len=12, vocab=5)
    inputs, targets = task.make("train", 1000, 3)
    assert (inputs[:, -1] == 0).all() and ((inputs[:, :-1] >= 1) & (inputs[:, :-1] < 5)).all()
    for row, answer in zip(inputs[:, :-1].tolist(), targets[:, -1].tolist()):
        counts = Counter(row).most_common()
        assert counts[0][0] == answer and (len(counts) == 1 or counts[1][1] < counts[0][1])


def test_docstring_tie_rule_and_determinism():
    from rnnzoo.tasks import majority

    lines = [line.split(":", 1)[1].split() for line in majority.__doc__.splitlines()
             if line.strip().startswith(("drawn", "inputs : 1 1", "targets: - - - - - 1"))]
    drawn, shown, target = ([int(t) if t != "-" else None for t in line] for line in lines[-3:])
    row, answer = majority.break_tie(drawn)
    assert row + [0] == shown and answer == target[-1]
    assert majority.break_tie([2, 2, 1]) == ([2, 2, 1], 2)
    x, y = Majority(seq_len=8).make("valid", 16, 1), Majority(seq_len=8).make("valid", 16, 1)
    assert torch.equal(x[0], y[0])
    a = VocabMajority(seq_len=6, vocab=4).make("train", 64, 0)
    assert torch.equal(a[0], VocabMajority(seq_len=6, vocab=4).make("train", 64, 0)[0])
