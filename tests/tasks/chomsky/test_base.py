"""The Chomsky-task layout and protocol: input, separator, blanks, outputs; training lengths uniform in
1..40; per-token accuracy over the masked outputs; the paper's score is the mean over test lengths."""

import torch

from rnnzoo.tasks import IGNORE, build
from rnnzoo.tasks.chomsky import TEST_LENS


def test_layout_separator_blanks_and_targets():
    task = build("chomsky_reverse_string", seq_len=5)
    x, y = task.make("test", 3, 0)
    sep = task.separator
    assert x.shape == (3, 10) and (x[:, 5] == sep).all() and (x[:, 6:] == sep + 1).all()
    assert (y[:, :5] == IGNORE).all() and torch.equal(y[:, 5:], x[:, :5].flip(1))


def test_training_lengths_are_uniform_over_one_to_forty_and_tests_span_41_to_500():
    task = build("chomsky_parity_check")
    lengths = torch.tensor([task.make("train", 1, seed)[0].shape[1] - 1 for seed in range(4000)])
    freq = torch.bincount(lengths, minlength=41)[1:].double() / 4000
    assert lengths.min() == 1 and lengths.max() == 40
    assert (freq - 1 / 40).abs().max() < 0.012  # ~4 sigma at n=4000; fixed seeds
    assert TEST_LENS[0] == 41 and TEST_LENS[-1] == 500 and task.test_lengths() == TEST_LENS


def test_accuracy_counts_outputs_up_to_the_termination_token_and_score_is_the_mean():
    task = build("chomsky_stack_manipulation", seq_len=4)
    y = torch.tensor([[IGNORE] * 4 + [1, 0, 2, 0, 0], [IGNORE] * 4 + [2, 0, 0, 0, 0]])
    logits = torch.nn.functional.one_hot(y.clamp(min=0), task.vocab_size).float()
    assert task.score(logits, y) == 1.0
    after = logits.clone()
    after[:, -1] = torch.nn.functional.one_hot(torch.tensor(1), task.vocab_size).float()
    assert task.score(after, y) == 1.0  # a wrong guess after the terminator is not counted
    before = logits.clone()
    before[0, 5] = torch.nn.functional.one_hot(torch.tensor(1), task.vocab_size).float()
    assert task.score(before, y) == 3 / 4  # 4 counted positions: 1 0 2 and 2
    assert task.headline({41: 1.0, 500: 0.5}) == 0.75


def test_every_task_is_deterministic_per_seed_and_split():
    from rnnzoo.tasks.chomsky import CHOMSKY_TASKS

    for name in CHOMSKY_TASKS:
        task = build(name, seq_len=12)
        a, b = task.make("valid", 5, 7), task.make("valid", 5, 7)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), name
        assert not torch.equal(a[0], task.make("valid", 5, 8)[0]), name
