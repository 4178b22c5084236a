"""RG-LRU: init range, block-diagonal gates, and one step of the paper's eqs. 1-4 written out."""

import torch
import torch.nn.functional as F

from rnnzoo import mixers


def test_lambda_init_puts_a_on_the_ring():
    m = mixers.build("rglru", 64)
    a = torch.sigmoid(m.Lambda)
    assert a.min() >= 0.9 - 1e-6 and a.max() <= 0.999 + 1e-6


def test_block_diagonal_gates_equal_a_dense_block_diagonal_matrix():
    m = mixers.build("rglru", 16, num_heads=4)
    dense = torch.block_diag(*m.gate_a.weight.detach())
    x = torch.randn(3, 16)
    torch.testing.assert_close(m.gate_a(x), x @ dense + m.gate_a.bias.detach().flatten())


def test_step_is_the_papers_equations():
    torch.manual_seed(0)
    m = mixers.build("rglru", 8, num_heads=2, conv_size=1).double()
    x, h0 = torch.randn(2, 8, dtype=torch.float64), torch.randn(2, 8, dtype=torch.float64)
    state = (m.conv.init_state(2, dtype=torch.float64), h0)
    y, (_, h) = m.step(x, state)
    u = m.conv.weight[:, 0, 0] * m.linear_x(x) + m.conv.bias
    r, i = torch.sigmoid(m.gate_a(u)), torch.sigmoid(m.gate_x(u))
    a = torch.sigmoid(m.Lambda) ** (8 * r)
    h_want = a * h0 + torch.sqrt(1 - a ** 2) * (i * u)
    torch.testing.assert_close(h, h_want)
    torch.testing.assert_close(y, m.linear_out(h_want * F.gelu(m.linear_y(x), approximate="tanh")))
    assert m.state_size == 8 * 1
