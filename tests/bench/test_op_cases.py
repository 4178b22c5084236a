"""The comparators timed in benchmarks/cases_ssm.py compute the same thing as our ops: a speed-up against
a wrong comparator would mean nothing."""

import cases_ssm
import torch
import torch.nn.functional as F

from rnnzoo.ops.selective_scan import selective_scan
from rnnzoo.ops.ssd import ssd


def _randn(*shape, g):
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def test_ssd_minimal_matches_ssd():
    g = torch.Generator().manual_seed(0)
    x, b, c = _randn(2, 96, 3, 8, g=g), _randn(2, 96, 3, 4, g=g), _randn(2, 96, 3, 4, g=g)
    a = -F.softplus(_randn(2, 96, 3, g=g))
    torch.testing.assert_close(cases_ssm._ssd_minimal(x, a, b, c, block_len=32),
                               ssd(x, a, b, c, mode="recurrent")[0], rtol=1e-10, atol=1e-10)


def test_mambapy_pscan_matches_selective_scan_forward_and_backward():
    g = torch.Generator().manual_seed(1)
    u, delta = _randn(2, 6, 37, g=g), F.softplus(_randn(2, 6, 37, g=g))
    A = -torch.rand(6, 4, generator=g, dtype=torch.float64) * 4
    B, C, D = _randn(2, 4, 37, g=g), _randn(2, 4, 37, g=g), _randn(6, g=g)
    leaves = [t.requires_grad_() for t in (u, delta, A, B, C)]
    ours = selective_scan(u, delta, A, B, C, D, mode="recurrent")
    theirs = cases_ssm._mambapy_selective_scan(u, delta, A, B, C, D)
    torch.testing.assert_close(theirs, ours, rtol=1e-10, atol=1e-10)
    w = _randn(*ours.shape, g=g)
    for a, b in zip(torch.autograd.grad((ours * w).sum(), leaves), torch.autograd.grad((theirs * w).sum(), leaves)):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)
