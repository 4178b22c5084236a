import itertools

import pytest
import torch

from rnnzoo.tasks import Permutations
from rnnzoo.tasks.permutations import elements


def _compose(a, b):  # (a b)(i) = a(b(i)), computed on tuples, independent of the Cayley table
    return tuple(a[b[i]] for i in range(len(a)))


@pytest.mark.parametrize("group,order", [("S3", 6), ("S4", 24), ("A5", 60), ("S5", 120)])
def test_labels_equal_an_independent_running_product(group, order):
    task = Permutations(seq_len=12, group=group)
    elems = elements(group)
    assert task.vocab_size == order == len(set(elems))
    x, y = task.make("train", 20, 0)
    for row in range(20):
        prod = tuple(range(len(elems[0])))
        for t in range(12):
            prod = _compose(prod, elems[int(x[row, t])])
            assert elems[int(y[row, t])] == prod


def test_a5_is_the_even_permutations_and_closed():
    a5 = set(elements("A5"))
    assert all(_compose(a, b) in a5 for a, b in itertools.product(a5, repeat=2))
    assert (0, 1, 2, 3, 4) in a5 and (1, 0, 2, 3, 4) not in a5


def test_unknown_group_raises():
    with pytest.raises(ValueError, match="valid groups"):
        Permutations(group="D4")


def test_deterministic():
    t = Permutations(group="S4")
    assert torch.equal(t.make("test", 4, 9)[1], t.make("test", 4, 9)[1])
