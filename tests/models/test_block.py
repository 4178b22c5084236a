"""Block: dropout off by default; right-padded rows through a Bidirectional mixer equal each row alone."""

import torch

from rnnzoo import mixers
from rnnzoo.mixers import Bidirectional
from rnnzoo.models.block import Block, reverse_padded


def test_reverse_padded():
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    assert reverse_padded(x, torch.tensor([3, 2])).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]


def test_dropout_defaults_to_off_and_is_on_both_branches():
    torch.manual_seed(0)
    block = Block(mixers.build("gru", 8)).train()
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(block(x)[0], block(x)[0], atol=0, rtol=0)
    dropped = Block(mixers.build("gru", 8), dropout=0.5)
    dropped.load_state_dict(block.state_dict())
    assert not torch.allclose(dropped.train()(x)[0], block(x)[0])
    torch.testing.assert_close(dropped.eval()(x)[0], block(x)[0], atol=0, rtol=0)


def test_padded_bidirectional_rows_equal_each_row_alone():
    torch.manual_seed(0)
    block = Block(Bidirectional("gru", 8), mlp_ratio=2.0).double().eval()
    lengths = torch.tensor([5, 3, 1])
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    x[torch.arange(5)[None] >= lengths[:, None]] = 7.0  # padding must not reach a real position
    y, _ = block(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(y[b, :n], block(x[b:b + 1, :n])[0][0], atol=1e-12, rtol=1e-12)
