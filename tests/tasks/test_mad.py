"""MAD's six tasks as its reference generator defines them: layouts, targets, the fixed training pool, the
docstring's worked examples, determinism per seed."""

import random

import pytest
import torch

from rnnzoo.tasks import IGNORE, build, mad
from tests.tasks.docstring_example import docstring_example


def test_in_context_recall_targets_every_repeated_key_and_trains_on_next_tokens():
    task = build("mad_in_context_recall", seq_len=64, vocab=16)
    x, y = task.make("test", 50, 0)
    assert x.shape == (50, 63) and ((x >= 0) & (x < 16)).all()
    for row, target in zip(x.tolist(), y.tolist()):
        kv, seen = {}, set()
        for i in range(0, 62, 2):
            k, v = row[i], row[i + 1]
            assert k < 8 <= v and kv.setdefault(k, v) == v  # a key keeps its value
            assert target[i] == (v if k in seen else IGNORE) and target[i + 1] == IGNORE
            seen.add(k)
        assert row[62] in seen and target[62] == kv[row[62]]  # the final probe (its value is cut by the shift)
    xt, yt = task.make("train", 8, 0)
    assert torch.equal(xt[:, 1:], yt[:, :-1])  # language-model targets: the next token everywhere


def test_docstring_examples_follow_the_definitions():
    inputs, targets = docstring_example(mad, 0)
    kv, seen = {}, set()
    for i in range(0, len(inputs) - 1, 2):
        k, v = inputs[i], inputs[i + 1]
        assert targets[i] == (kv[k] if k in seen else IGNORE)
        kv[k] = v
        seen.add(k)
    assert targets[-1] == kv[inputs[-1]]
    inputs, targets = docstring_example(mad, 1)  # selective copying: V=6, blank 4, copy 5
    data = [t for t in inputs[:inputs.index(5)] if t != 4]
    assert [t for t in targets if t != IGNORE] == data and inputs[inputs.index(5) - 1] != 4


def test_noisy_recall_noise_is_never_a_target_and_its_fraction_is_as_set():
    task = build("mad_noisy_recall", frac_noise=0.4)
    x, y = task.make("test", 200, 1)
    noise = x >= 16
    assert (y[noise] == IGNORE).all() and abs(float(noise.float().mean()) - 0.4) < 0.03


def test_fuzzy_recall_motifs_and_padding():
    task = build("mad_fuzzy_recall")
    x, y = task.make("test", 20, 0)
    assert x.shape == (20, 128) and ((x >= 0) & (x <= 15)).all()
    assert ((y == IGNORE) | ((y >= 7) & (y < 15))).all()  # targets are value tokens
    assert (y != IGNORE).sum(1).min() >= 1  # the probe's value at least
    assert (x[:, 0] == 15).any()  # left padding with the pad token


def test_selective_copying_compression_and_memorization_layouts():
    x, y = build("mad_selective_copying").make("test", 10, 0)
    assert x.shape == (10, 256) and (x[:, 239] == 15).all() and (x[:, 240:] == 14).all()
    data = [[t for t in row[:239] if t != 14] for row in x.tolist()]
    assert y[:, 240:].tolist() == [d for d in data] and (y[:, :240] == IGNORE).all()
    x, y = build("mad_compression").make("train", 10, 0)
    assert torch.equal(x, y) and (x[:, -1] == 15).all() and (x[:, :-1] < 15).all()
    task = build("mad_memorization")
    facts = mad.memorization_map(256)
    assert len(facts) == 127 and facts == mad.memorization_map(256)
    for split in ("train", "test"):
        x, y = task.make(split, 10, 0)
        assert (x[:, 1::2] == 255).all() and (y[:, 0::2] == IGNORE).all()
        assert all(facts[k] == v for k, v in zip(x[:, 0::2].flatten().tolist(), y[:, 1::2].flatten().tolist()))


def test_training_draws_from_a_fixed_pool_the_same_for_every_seed():
    task = build("mad_in_context_recall", seq_len=16, num_train_examples=5)
    rows = {tuple(r) for seed in range(40) for r in task.make("train", 4, seed)[0].tolist()}
    assert len(rows) == 5
    other = {tuple(r) for r in build("mad_in_context_recall", seq_len=16, num_train_examples=5).make("train", 64, 9)[0].tolist()}
    assert other == rows
    a, b = task.make("test", 4, 3), task.make("test", 4, 3)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], task.make("test", 4, 4)[0])


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="seq_len"):
        build("mad_selective_copying", seq_len=20, num_tokens_to_copy=16)
    with pytest.raises(ValueError, match="frac_noise"):
        build("mad_noisy_recall", frac_noise=1.0)
    assert mad.InContextRecall().instance(random.Random(0), training=False)[0]
