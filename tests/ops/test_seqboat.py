"""SeqBoat's sparse local attention: the compressed parallel form == the token loop (output, window state,
gradients) for any activation pattern and carried window; all tokens active is sliding-window attention."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.seqboat import sparse_local_attention
from tests.ops.modes import close, gradcheck, outputs_and_grads


def _inputs(b, t, z, dv, w, rate, dtype=torch.float32, seed=0, state=True):
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(b, t, z, generator=g, dtype=dtype) for _ in range(2))
    v = torch.randn(b, t, dv, generator=g, dtype=dtype)
    active = torch.rand(b, t, generator=g) < rate
    init = None
    if state:
        init = (torch.randn(b, w - 1, z, generator=g, dtype=dtype), torch.randn(b, w - 1, dv, generator=g, dtype=dtype),
                torch.randint(0, 2 * w, (b,), generator=g))
    return dict(q=q, k=k, v=v, initial_state=init), active


def _run(inputs, active, window, mode):
    def loss(out):
        o, (kw, vw, _) = out
        return (o * torch.randn(o.shape, generator=torch.Generator().manual_seed(7), dtype=o.dtype)).sum() + \
            0.1 * (kw * kw).sum() + 0.1 * (vw * vw).sum()

    flat = dict(inputs)
    init = flat.pop("initial_state")
    floats = dict(flat, k_win=None if init is None else init[0], v_win=None if init is None else init[1])

    def op(q, k, v, k_win=None, v_win=None):
        state = None if init is None else (k_win, v_win, init[2])
        return sparse_local_attention(q, k, v, active, window, initial_state=state, output_final_state=True, mode=mode)

    return outputs_and_grads(op, floats, loss)


@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(1, 30), w=st.integers(1, 6), rate=st.sampled_from([0.0, 0.3, 0.7, 1.0]),
       state=st.booleans(), seed=st.integers(0, 99))
def test_parallel_matches_recurrent(b, t, w, rate, state, seed):
    inputs, active = _inputs(b, t, 4, 3, w, rate, seed=seed, state=state)
    ((o, (kw, vw, c)), g), ((o_r, (kw_r, vw_r, c_r)), g_r) = (_run(inputs, active, w, m) for m in ("parallel", "recurrent"))
    for a, r in ((o, o_r), (kw, kw_r), (vw, vw_r), *zip(g, g_r)):
        if r.numel():
            close(a, r, 1e-5)
    assert torch.equal(c, c_r)


def test_float64_exact_and_gradcheck():
    inputs, active = _inputs(2, 9, 3, 2, 3, 0.6, dtype=torch.float64)
    ((o, s), _), ((o_r, s_r), _) = (_run(inputs, active, 3, m) for m in ("parallel", "recurrent"))
    torch.testing.assert_close(o, o_r, rtol=1e-10, atol=1e-10)
    for a, r in zip(s, s_r):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-10)
    assert gradcheck(lambda **kw: sparse_local_attention(**kw, active=active, window=3)[0],
                     {n: x for n, x in inputs.items() if n != "initial_state"})


def test_all_active_is_sliding_window_attention():
    inputs, active = _inputs(2, 11, 4, 4, 3, 1.0, dtype=torch.float64, state=False)
    o, _ = sparse_local_attention(inputs["q"], inputs["k"], inputs["v"], active, 3)
    expected = softmax_attention(*(inputs[n][:, :, None] for n in "qkv"), window=3, mode="recurrent")[:, :, 0]
    torch.testing.assert_close(o, expected)


def test_bad_arguments_raise():
    inputs, active = _inputs(1, 4, 4, 3, 2, 0.5, state=False)
    with pytest.raises(ValueError, match="mode"):
        sparse_local_attention(inputs["q"], inputs["k"], inputs["v"], active, 2, mode="chunk")
    with pytest.raises(ValueError, match="active"):
        sparse_local_attention(inputs["q"], inputs["k"], inputs["v"], active.float(), 2)
    with pytest.raises(ValueError, match="initial_state"):
        sparse_local_attention(inputs["q"], inputs["k"], inputs["v"], active, 2,
                               initial_state=(torch.zeros(1, 3, 4), torch.zeros(1, 3, 3), torch.zeros(1)))
