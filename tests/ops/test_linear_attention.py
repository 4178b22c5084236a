import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.linear_attention import linear_attention
from tests.ops.modes import CHUNKED_SHAPES, assert_modes_agree, gradcheck, kernel_missing


def make(b, t, h, dk, dv, seed=0, dtype=torch.float64, state=True, normalize=False):
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(b, t, h, dk, generator=g, dtype=dtype) for _ in range(2))
    if normalize:  # positive features, as after elu+1: the normaliser stays away from 0
        q, k = q.exp() * 0.5, k.exp() * 0.5
    v = torch.randn(b, t, h, dv, generator=g, dtype=dtype)
    s0 = None
    if state:
        s0 = torch.randn(b, h, dk, dv, generator=g, dtype=dtype)
        if normalize:
            s0 = (s0, torch.rand(b, h, dk, generator=g, dtype=dtype))
    return dict(q=q, k=k, v=v, initial_state=s0)


def katharopoulos(q, k, v, initial_state=None, normalize=False):
    """Eq. 6 of Transformers are RNNs, written as a masked quadratic sum."""
    q = q * q.shape[-1] ** -0.5
    s0, z0 = (initial_state if normalize else (initial_state, None)) if initial_state is not None else (None, None)
    a = torch.einsum("bihk,bjhk->bhij", q, k).tril()
    num = torch.einsum("bhij,bjhv->bihv", a, v)
    if s0 is not None:
        num = num + torch.einsum("bihk,bhkv->bihv", q, s0)
    if not normalize:
        return num
    den = a.sum(-1).transpose(1, 2)[..., None]
    if z0 is not None:
        den = den + torch.einsum("bihk,bhk->bih", q, z0)[..., None]
    return num / (den + 1e-10)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("state", [False, True])
@pytest.mark.parametrize("t", [1, 9, 64, 70])
def test_both_modes_match_the_papers_formula(t, state, normalize):
    x = make(2, t, 2, 4, 3, state=state, normalize=normalize)
    expected = katharopoulos(**x, normalize=normalize)
    for mode in ("recurrent", "chunk"):
        o, _ = linear_attention(**x, normalize=normalize, mode=mode)
        torch.testing.assert_close(o, expected, atol=1e-10, rtol=1e-10)


@settings(max_examples=8, deadline=None)
@given(**CHUNKED_SHAPES, dk=st.sampled_from([4, 16, 64]), normalize=st.booleans())
def test_chunk_matches_recurrent_float32(b, t, h, dk, chunk, state, normalize, seed):
    x = make(b, t, h, dk, 8, seed, torch.float32, state, normalize)
    if x["initial_state"] is not None and not normalize:
        x["initial_state"] = x["initial_state"] * 0.1
    assert_modes_agree(linear_attention, x, 1e-5, chunk_size=chunk, normalize=normalize)


def test_normalized_state_is_the_pair_s_z_and_continues():
    x = make(1, 30, 2, 4, 3, normalize=True, state=False)
    o_full, (s, z) = linear_attention(**x, normalize=True, output_final_state=True)
    torch.testing.assert_close(z, x["k"].sum(1))
    torch.testing.assert_close(s, torch.einsum("bthk,bthv->bhkv", x["k"], x["v"]))
    o1, st1 = linear_attention(x["q"][:, :11], x["k"][:, :11], x["v"][:, :11], normalize=True, output_final_state=True)
    o2, _ = linear_attention(x["q"][:, 11:], x["k"][:, 11:], x["v"][:, 11:], initial_state=st1, normalize=True)
    torch.testing.assert_close(torch.cat((o1, o2), 1), o_full)


@pytest.mark.parametrize("normalize", [False, True])
def test_gradcheck_float64(normalize):
    x = make(1, 5, 1, 3, 2, normalize=normalize)
    assert gradcheck(linear_attention, x, normalize=normalize, output_final_state=True, chunk_size=2)


def test_state_form_is_checked():
    x = make(1, 4, 1, 3, 2, normalize=True)
    with pytest.raises(ValueError, match="pair"):
        linear_attention(**{**x, "initial_state": x["initial_state"][0]}, normalize=True)
    with pytest.raises(ValueError, match="unless normalize"):
        linear_attention(**x)


@pytest.mark.skipif(kernel_missing("linear_attention"), reason="no C compiler: no compiled kernel")
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("dk", [4, 16])
def test_kernel_matches_recurrent_float32(dk, normalize):
    # normalize adds a column of ones to v (V = 17): the plain loops; dk 16 with V 16 the vectorised ones
    x = make(2, 70, 2, dk, 16, 0, torch.float32, True, normalize)
    if not normalize:
        x["initial_state"] = x["initial_state"] * 0.1
    assert_modes_agree(linear_attention, x, 1e-5, mode="kernel", normalize=normalize)
