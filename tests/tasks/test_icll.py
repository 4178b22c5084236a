"""ICLL: targets are always allowed, and the allowed set is a function of (example, string prefix): an automaton."""

import torch

from rnnzoo.tasks import ICLL, IGNORE


def test_allowed_sets_come_from_one_automaton_per_example():
    task = ICLL(seq_len=96, vocab=10, max_alphabet=6)
    x, y, allowed = task.make_with_allowed("train", 40, 0)
    sep = 9
    labelled = y != IGNORE
    assert allowed[labelled].gather(-1, y[labelled][:, None]).all()  # the sampled token is allowed
    assert not allowed[..., sep].any() and allowed[labelled].any(-1).all()
    for row in range(40):
        seen, prefix = {}, ()
        for t in range(96):
            tok = int(x[row, t])
            prefix = () if tok == sep else prefix + (tok,)
            key = allowed[row, t].nonzero()[:, 0].tolist()
            if labelled[row, t]:
                assert seen.setdefault(prefix, key) == key
        alphabet = set(x[row][x[row] != sep].tolist())
        assert len(alphabet) <= 6


def test_allowed_accuracy_of_an_oracle_is_one_and_of_a_constant_is_lower():
    task = ICLL(seq_len=64)
    x, y, allowed = task.make_with_allowed("test", 32, 0)
    assert task.allowed_accuracy(allowed.float(), y, allowed) == 1.0
    const = torch.zeros(*y.shape, task.vocab_size)
    const[..., 0] = 1
    assert task.allowed_accuracy(const, y, allowed) < 0.5
    assert torch.equal(task.make("test", 32, 0)[0], x)
