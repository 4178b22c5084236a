import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.mlstm import mlstm
from tests.ops.modes import CHUNKED_SHAPES, assert_modes_agree, gradcheck


def make(b, t, h, d, seed=0, dtype=torch.float32, gate_scale=3.0, state=True):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, t, h, d, generator=g, dtype=dtype) for _ in range(3))
    i = torch.randn(b, t, h, generator=g, dtype=dtype) * gate_scale
    f = F.logsigmoid(torch.randn(b, t, h, generator=g, dtype=dtype) * gate_scale + 2)
    s0 = None
    if state:
        s0 = (torch.randn(b, h, d, d, generator=g, dtype=dtype), torch.randn(b, h, d, generator=g, dtype=dtype),
              torch.randn(b, h, generator=g, dtype=dtype))
    return dict(q=q, k=k, v=v, i=i, f=f, initial_state=s0)


def unstabilised(q, k, v, i, f, eps=1e-6):
    """Eq. 19-27 of xLSTM without the stabiliser, from a zero state with m=0 (float64, moderate gates)."""
    q = q * q.shape[-1] ** -0.5
    c = q.new_zeros(q.shape[0], q.shape[2], q.shape[3], v.shape[-1])
    n = q.new_zeros(q.shape[:1] + q.shape[2:])
    out = []
    for t in range(q.shape[1]):
        c = f[:, t, :, None, None].exp() * c + i[:, t, :, None, None].exp() * k[:, t, :, :, None] * v[:, t, :, None, :]
        n = f[:, t, :, None].exp() * n + i[:, t, :, None].exp() * k[:, t]
        den = torch.einsum("bhk,bhk->bh", q[:, t], n).abs().clamp(min=1.0)
        out.append(torch.einsum("bhk,bhkv->bhv", q[:, t], c) / den[..., None])
    return torch.stack(out, 1)


def test_stabilised_equals_unstabilised_equations():
    x = make(2, 20, 2, 4, dtype=torch.float64, gate_scale=1.0, state=False)
    o, _ = mlstm(**x, mode="recurrent", eps=0.0)
    torch.testing.assert_close(o, unstabilised(x["q"], x["k"], x["v"], x["i"], x["f"]), atol=1e-10, rtol=1e-10)


@settings(max_examples=6, deadline=None)
@given(**CHUNKED_SHAPES, d=st.sampled_from([4, 8, 32]))
def test_chunk_matches_recurrent_float64(b, t, h, d, chunk, state, seed):
    # float64: the max(|n·q|, exp(-m)) normaliser can sit near zero, which float32 amplifies in both modes.
    assert_modes_agree(mlstm, make(b, t, h, d, seed, torch.float64, state=state), 1e-9, chunk_size=chunk)


@pytest.mark.parametrize("t", [1, 63, 64, 65, 200])
def test_chunk_float32_large_gates_is_finite_and_matches_float64(t):
    # Input-gate preactivations of +-60 would overflow exp() without the stabiliser. The reference is
    # the recurrent form in float64 (the float32 loop itself drifts by ~3e-4 of the scale here).
    x = make(2, t, 2, 8, gate_scale=30.0)
    x64 = {n: tuple(s.double() for s in v) if isinstance(v, tuple) else v.double() for n, v in x.items()}
    o_ref, s_ref = mlstm(**x64, mode="recurrent", output_final_state=True)
    o, s = mlstm(**x, output_final_state=True)
    assert torch.isfinite(o).all()
    torch.testing.assert_close(o.double(), o_ref, atol=1e-4 * o_ref.abs().max().item(), rtol=1e-4)
    for a, b in zip(s, s_ref):
        torch.testing.assert_close(a.double(), b, atol=1e-5 * max(1.0, b.abs().max().item()), rtol=1e-4)
    grads = torch.autograd.grad(mlstm(**{n: v.requires_grad_() if n != "initial_state" else v
                                         for n, v in x.items()})[0].sum(), [x["q"], x["i"], x["f"]])
    assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gradcheck_float64(mode):
    x = make(1, 4, 1, 2, dtype=torch.float64, gate_scale=1.0)
    assert gradcheck(mlstm, x, output_final_state=True, mode=mode, chunk_size=2)


def test_bad_shapes_raise():
    x = make(1, 4, 2, 4)
    with pytest.raises(ValueError, match="i and f"):
        mlstm(**{**x, "i": x["i"][..., :1]})
    with pytest.raises(ValueError, match="initial_state"):
        mlstm(**{**x, "initial_state": x["initial_state"][:2] + (x["initial_state"][2][:, :1],)})
