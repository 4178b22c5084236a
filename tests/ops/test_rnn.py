"""Reference loops vs fused kernels for the classic RNN ops, forward and backward."""

import pytest
import torch

from rnnzoo.ops import rnn as ops
from rnnzoo.ops.slstm import slstm

GATES = {"elman": 1, "lstm": 4, "gru": 3}
N_STATE = {"elman": 1, "lstm": 2, "gru": 1}


def inputs(name, t, seed=0):
    g = torch.Generator().manual_seed(seed)
    b, d, h = 2, 5, 6
    x = torch.randn(b, t, d, generator=g, dtype=torch.float64)
    w = [torch.randn(GATES[name] * h, d, generator=g, dtype=torch.float64) * 0.4,
         torch.randn(GATES[name] * h, h, generator=g, dtype=torch.float64) * 0.4,
         torch.randn(GATES[name] * h, generator=g, dtype=torch.float64) * 0.1,
         torch.randn(GATES[name] * h, generator=g, dtype=torch.float64) * 0.1]
    s0 = tuple(torch.randn(b, h, generator=g, dtype=torch.float64) for _ in range(N_STATE[name]))
    return [x, *w], s0


@pytest.mark.parametrize("t", [1, 7])
@pytest.mark.parametrize("name", list(GATES))
def test_recurrent_equals_fused_forward_and_backward(name, t):
    fn = getattr(ops, name)
    results = {}
    for mode in ops.MODES:
        tensors, s0 = inputs(name, t)
        leaves = [z.requires_grad_() for z in tensors + list(s0)]
        y, final = fn(*tensors, initial_state=s0, output_final_state=True, mode=mode)
        (y.sin().sum() + sum(f.cos().sum() for f in final)).backward()
        results[mode] = (y, final, [z.grad for z in leaves])
    (y_r, f_r, g_r), (y_f, f_f, g_f) = results["recurrent"], results["fused"]
    torch.testing.assert_close(y_r, y_f, atol=1e-12, rtol=1e-12)
    for a, b in zip(f_r, f_f):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    for a, b in zip(g_r, g_f):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_final_state_is_none_unless_asked():
    tensors, _ = inputs("lstm", 3)
    assert ops.lstm(*tensors)[1] is None


def test_bad_shapes_and_mode_raise():
    tensors, _ = inputs("gru", 3)
    with pytest.raises(ValueError, match="weight_ih"):
        ops.gru(tensors[0], tensors[2], tensors[2])
    with pytest.raises(ValueError, match="mode"):
        ops.gru(*tensors, mode="chunk")
    with pytest.raises(ValueError, match="initial_state"):
        ops.gru(*tensors, initial_state=(torch.zeros(3, 6, dtype=torch.float64),))


def slstm_paper(gx, r):
    """xLSTM eqs. 8-17 literally, with the paper's first step (m_1 = i~_1) and no shared stabiliser trick."""
    b, t, h, _, d = gx.shape
    hid = torch.zeros(b, h, d, dtype=gx.dtype)
    c = torch.zeros_like(hid)
    n = torch.zeros_like(hid)
    ys = []
    for step in range(t):
        a = gx[:, step] + torch.einsum("bhd,hgde->bhge", hid, r)
        i_t = torch.exp(a[:, :, 0])
        f_t = torch.sigmoid(a[:, :, 1])
        c = f_t * c + i_t * torch.tanh(a[:, :, 2])
        n = f_t * n + i_t
        hid = torch.sigmoid(a[:, :, 3]) * c / n
        ys.append(hid)
    return torch.stack(ys, 1)


def test_slstm_stabilised_equals_unstabilised_paper_equations():
    g = torch.Generator().manual_seed(0)
    gx = torch.randn(2, 9, 3, 4, 4, generator=g, dtype=torch.float64)
    r = torch.randn(3, 4, 4, 4, generator=g, dtype=torch.float64) * 0.3
    y, _ = slstm(gx, r)
    torch.testing.assert_close(y, slstm_paper(gx, r), atol=1e-12, rtol=1e-12)


def test_slstm_stable_for_huge_input_gates():
    gx = torch.zeros(1, 5, 1, 4, 2, dtype=torch.float32)
    gx[:, :, :, 0] = 200.0  # exp(200) overflows float32 without the stabiliser
    y, _ = slstm(gx, torch.zeros(1, 4, 2, 2))
    assert torch.isfinite(y).all()


def test_slstm_gradcheck():
    g = torch.Generator().manual_seed(1)
    gx = torch.randn(1, 4, 2, 4, 2, generator=g, dtype=torch.float64, requires_grad=True)
    r = (torch.randn(2, 4, 2, 2, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: slstm(a, b)[0], (gx, r))
