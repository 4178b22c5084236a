import pytest
import torch

from rnnzoo import tasks


@pytest.mark.parametrize("name", tasks.names())
def test_every_task_makes_valid_tokens_deterministically(name):
    task = tasks.build(name)
    x, y = task.make("train", 4, 0)
    assert x.dtype == y.dtype == torch.int64
    assert x.shape == y.shape and x.min() >= 0 and x.max() < task.vocab_size
    labels = y[y != tasks.IGNORE]
    assert labels.numel() > 0 and labels.min() >= 0 and labels.max() < task.vocab_size
    x2, y2 = task.make("train", 4, 0)
    assert x.equal(x2) and y.equal(y2)


def test_unknown_names_and_options_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid names: chomsky_binary_addition, .*, icll, "):
        tasks.build("mqarr")
    with pytest.raises(ValueError, match="its options are"):
        tasks.build("mqar", kv_pairs=3)
