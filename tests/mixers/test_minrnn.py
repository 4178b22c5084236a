"""minGRU / minLSTM: the log-space gates are the paper's linear-space gates."""

import torch

from rnnzoo import mixers
from rnnzoo.mixers.minrnn import g


def test_g_is_the_papers_activation():
    x = torch.tensor([-2.0, -0.1, 0.0, 0.3, 4.0])
    torch.testing.assert_close(g(x), torch.tensor([torch.sigmoid(torch.tensor(-2.0)).item(),
                                                   torch.sigmoid(torch.tensor(-0.1)).item(), 0.5, 0.8, 4.5]))


def test_mingru_gates():
    m = mixers.build("mingru", 8)
    proj = torch.randn(2, 5, 2 * m.d_inner, dtype=torch.float64)
    hidden, k = proj.chunk(2, -1)
    log_a, b = m._gates(proj)
    z = torch.sigmoid(k)
    torch.testing.assert_close(log_a.exp(), 1 - z)
    torch.testing.assert_close(b, z * g(hidden))


def test_minlstm_gates_are_normalised():
    m = mixers.build("minlstm", 8)
    proj = torch.randn(2, 5, 3 * m.d_inner, dtype=torch.float64) * 3
    hidden, f, i = proj.chunk(3, -1)
    log_a, b = m._gates(proj)
    f, i = torch.sigmoid(f), torch.sigmoid(i)
    torch.testing.assert_close(log_a.exp(), f / (f + i))
    torch.testing.assert_close(b, i / (f + i) * g(hidden))


def test_output_projection_only_when_widths_differ():
    assert isinstance(mixers.build("mingru", 8, expand=1.0).out_proj, torch.nn.Identity)
    assert mixers.build("minlstm", 8).d_inner == 12  # expand 1.5
    assert mixers.build("mingru", 8).state_size == 12
