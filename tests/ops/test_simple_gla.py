import importlib
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops import _scalar_chunk as scalar_chunk
from rnnzoo.ops._scalar_chunk import direct_ok
from rnnzoo.ops.simple_gla import simple_gla
from tests.ops.modes import CHUNKED_SHAPES, assert_modes_agree, gated_qkv, gradcheck, run

sg = importlib.import_module("rnnzoo.ops.simple_gla")  # rnnzoo.ops.simple_gla is the function


def make(b, t, h, dk, dv, seed=0, dtype=torch.float32, strength=1.0, state=True):
    q, k, v, decay, s0 = gated_qkv(b, t, h, dk, dv, (), seed, dtype, strength, state)
    return dict(q=q, k=k, v=v, g=decay, initial_state=s0)


def quadratic(q, k, v, g, initial_state=None, scale=None):
    """o_i = sum_{j<=i} exp(G_i - G_j) (scale q_i . k_j) v_j + exp(G_i) S_0ᵀ (scale q_i), G = cumsum g."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    cg = g.cumsum(1)  # [B, T, H]
    t = q.shape[1]
    w = (cg[:, :, None] - cg[:, None, :]).masked_fill(~torch.ones(t, t, dtype=torch.bool).tril()[None, :, :, None],
                                                       float("-inf")).exp()  # [B, Ti, Tj, H]
    o = torch.einsum("bihk,bjhk,bijh,bjhv->bihv", q * scale, k, w, v)
    if initial_state is not None:
        o = o + torch.einsum("bihk,bhkv,bih->bihv", q * scale, initial_state, cg.exp())
    return o


@settings(max_examples=10, deadline=None)
@given(**CHUNKED_SHAPES, dk=st.sampled_from([4, 8, 64]), dv=st.sampled_from([4, 16]))
def test_chunk_matches_recurrent_float32(b, t, h, dk, dv, chunk, state, seed):
    assert_modes_agree(simple_gla, make(b, t, h, dk, dv, seed, state=state), 1e-5, chunk_size=chunk)


@pytest.mark.parametrize("t", [1, 15, 16, 17, 50])
def test_recurrent_matches_quadratic_form(t):
    x = make(2, t, 2, 4, 5, dtype=torch.float64)
    o, _ = simple_gla(**x, mode="recurrent")
    torch.testing.assert_close(o, quadratic(**x), atol=1e-12, rtol=1e-12)


def test_strong_decay_long_sequence_is_finite_and_exact():
    # cumsum of g over the sequence reaches about -1e5: exp of it would underflow/overflow.
    x = make(1, 1000, 2, 8, 8, strength=50.0)
    o_ref, s_ref = simple_gla(**x, mode="recurrent", output_final_state=True)
    o, s = simple_gla(**x, mode="chunk", output_final_state=True)
    assert torch.isfinite(o).all()
    torch.testing.assert_close(o, o_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s, s_ref, atol=1e-5, rtol=1e-5)


def test_final_state_continues_the_sequence():
    x = make(2, 40, 2, 4, 4)
    o_full, s_full = simple_gla(**x, output_final_state=True, chunk_size=16)
    first = {n: (v[:, :23] if n != "initial_state" else v) for n, v in x.items()}
    rest = {n: v[:, 23:] for n, v in x.items() if n != "initial_state"}
    o1, s1 = simple_gla(**first, output_final_state=True, chunk_size=16)
    o2, s2 = simple_gla(**rest, initial_state=s1, output_final_state=True, chunk_size=16)
    torch.testing.assert_close(torch.cat((o1, o2), 1), o_full)
    torch.testing.assert_close(s2, s_full)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gradcheck_float64(mode):
    x = make(1, 5, 2, 3, 2, dtype=torch.float64)
    assert gradcheck(simple_gla, x, mode=mode, output_final_state=True, chunk_size=2)


def test_bf16_inputs_return_bf16_and_match_float32():
    x = make(1, 20, 1, 8, 8, state=False)
    o32, _ = simple_gla(**x)
    o16, _ = simple_gla(**{n: (v.bfloat16() if v is not None else None) for n, v in x.items()})
    assert o16.dtype == torch.bfloat16
    torch.testing.assert_close(o16.float(), o32, atol=0.1, rtol=0.05)


def test_bad_shapes_raise():
    x = make(1, 4, 2, 4, 4)
    with pytest.raises(ValueError, match="g must be"):
        simple_gla(**{**x, "g": x["g"][..., :1]})
    with pytest.raises(ValueError, match="initial_state"):
        simple_gla(**{**x, "initial_state": x["initial_state"][:, :1]})
    with pytest.raises(ValueError, match="v \\["):
        simple_gla(**{**x, "v": x["v"][:, :2]})
    with pytest.raises(ValueError, match="mode"):
        simple_gla(**x, mode="parallel")


def _core(form):
    """simple_gla's chunk form through ``form`` (the dispatching ``_chunk`` or the autograd one)."""
    def op(q, k, v, g, initial_state, mode, output_final_state):
        return form(q * 8 ** -0.5, k, v, g, initial_state, 16)
    return op


@pytest.mark.parametrize("strength,group_elems", [(0.1, 2 ** 20), (1.0, 1), (8.0, 2 * 3 * 16 * 16)])
def test_hand_written_backward_matches_the_autograd_form(strength, group_elems):
    x = make(2, 45, 2, 8, 5, dtype=torch.float64, strength=strength, seed=3)
    assert direct_ok(x["g"], 16)  # spans up to DIRECT_MAX_SPAN: the factored form runs
    with mock.patch.object(scalar_chunk, "_GROUP_ELEMS", group_elems):  # rows per group: all 4, 1, 2
        o, s, grads = run(_core(sg._chunk), x, "chunk")
    o_ref, s_ref, grads_ref = run(_core(sg._autograd_chunk), x, "chunk")
    for a, b in zip((o, *s, *grads), (o_ref, *s_ref, *grads_ref)):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


def test_chunks_decaying_beyond_the_direct_span_use_the_autograd_form():
    x = make(1, 40, 1, 4, 3, strength=40.0)  # logsigmoid(N(2,1)) * 40: several nats a step, > 60 per chunk
    assert not direct_ok(x["g"], 16)
    with mock.patch.object(sg, "scalar_decay_chunk", side_effect=AssertionError("factored form used")):
        assert_modes_agree(simple_gla, x, 1e-5, chunk_size=16)
