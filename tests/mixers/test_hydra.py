"""Hydra == its explicit quasiseparable matrix form; it is bidirectional (the future changes the past)."""

import pytest
import torch

from rnnzoo import mixers

OPTS = dict(d_state=3, headdim=4, ngroups=2, d_conv=3, chunk_size=4)


def quasiseparable_matrix(m, u):
    """M [B, H, T, T] of Hydra's mixing (without its diagonal, applied by m.output), built entry by entry."""
    _, x, B, C, dt_f, dt_b = m.project(u)
    A = -torch.exp(m.A_log)
    Bt, T, H, _ = x.shape
    M = torch.zeros(Bt, H, T, T, dtype=u.dtype)
    for i in range(T):
        for j in range(T):
            if j < i:  # forward SSD output at i-1, reading token j
                decay = torch.exp(A * dt_f[:, j + 1:i].sum(1))
                M[:, :, i, j] = (C[:, i - 1] * B[:, j]).sum(-1) * dt_f[:, j] * decay
            elif j > i:  # backward SSD output at i+1, reading token j
                decay = torch.exp(A * dt_b[:, i + 1:j].sum(1))
                M[:, :, i, j] = (C[:, i + 1] * B[:, j]).sum(-1) * dt_b[:, j] * decay
    return M, x


@pytest.mark.parametrize("T", [1, 2, 9])
def test_equals_explicit_quasiseparable_matrix(T):
    torch.manual_seed(0)
    m = mixers.build("hydra", 16, **OPTS).double()
    u = torch.randn(2, T, 16, dtype=torch.float64)
    M, x = quasiseparable_matrix(m, u)
    z = m.project(u)[0]
    want = m.output(torch.einsum("bhij,bjhp->bihp", M, x), x, z)
    got, state = m(u)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert state == ()


def test_is_bidirectional_and_has_no_step():
    torch.manual_seed(0)
    m = mixers.build("hydra", 16, **OPTS)
    u = torch.randn(1, 8, 16)
    u2 = u.clone()
    u2[:, -1] += 1.0
    assert not torch.allclose(m(u)[0][:, 0], m(u2)[0][:, 0])  # the last token reaches the first output
    with pytest.raises(ValueError, match="not causal"):
        m.step(u[:, 0])
    with pytest.raises(ValueError, match="not causal"):
        m(u, (torch.zeros(1),))
    assert m.state_size is None
