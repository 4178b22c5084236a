"""dplr_delta_rule / iplr_delta_rule: chunk (WY form) == the reference loop, forward and backward, and both == the
product of the explicit transition matrices (diag(exp(gk)) + b aᵀ)."""

import importlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.delta import gated_delta_rule
from rnnzoo.ops.dplr import dplr_delta_rule, iplr_delta_rule
from tests.ops.modes import assert_modes_agree, gradcheck

dplr_module = importlib.import_module("rnnzoo.ops.dplr")
OPS = {"dplr": dplr_delta_rule, "iplr": iplr_delta_rule}


def make(op, b, t, h, dk, dv, seed=0, dtype=torch.float32, strength=1.0, state=True):
    """RWKV-7's inputs: a = -κ, b = κ ⊙ iclr with κ unit-norm and iclr in (0, 1), so the transitions stay bounded."""
    gen = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(b, t, h, dk, generator=gen, dtype=dtype) for _ in range(2))
    v = torch.randn(b, t, h, dv, generator=gen, dtype=dtype)
    kappa = F.normalize(torch.randn(b, t, h, dk, generator=gen, dtype=dtype), dim=-1)
    x = dict(q=q, k=k, v=v, a=-kappa, b=kappa * torch.rand(b, t, h, dk, generator=gen, dtype=dtype))
    if op == "dplr":
        x["gk"] = F.logsigmoid(torch.randn(b, t, h, dk, generator=gen, dtype=dtype) + 2) * strength
    x["initial_state"] = torch.randn(b, h, dk, dv, generator=gen, dtype=dtype) if state else None
    return x


@settings(max_examples=8, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 150), h=st.integers(1, 3), dk=st.sampled_from([4, 8, 16]),
       dv=st.sampled_from([4, 8]), chunk=st.sampled_from([16, 32, 64]), state=st.booleans(), seed=st.integers(0, 99))
@pytest.mark.parametrize("op", OPS)
def test_chunk_matches_recurrent_float32(op, b, t, h, dk, dv, chunk, state, seed):
    assert_modes_agree(OPS[op], make(op, b, t, h, dk, dv, seed, state=state), 1e-5, chunk_size=chunk)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("t,chunk", [(1, 64), (17, 16), (64, 64), (100, 7)])
def test_chunk_matches_recurrent_t1_odd_and_uneven_chunks(op, t, chunk):
    assert_modes_agree(OPS[op], make(op, 2, t, 2, 8, 4), 1e-5, chunk_size=chunk)


def dense(q, k, v, a, b, gk=None, initial_state=None):
    """The transition matrices built explicitly, per batch and head, float64."""
    bt, t, h, dk = q.shape
    out = torch.zeros(bt, t, h, v.shape[-1], dtype=torch.float64)
    final = torch.zeros_like(initial_state)
    for i in range(bt):
        for j in range(h):
            s = initial_state[i, j]
            for n in range(t):
                d = torch.eye(dk, dtype=torch.float64) if gk is None else gk[i, n, j].exp().diag()
                s = (d + b[i, n, j][:, None] @ a[i, n, j][None]) @ s + k[i, n, j][:, None] @ v[i, n, j][None]
                out[i, n, j] = s.T @ q[i, n, j] * dk ** -0.5
            final[i, j] = s
    return out, final


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_matches_the_product_of_transition_matrices(op, mode):
    x = make(op, 2, 13, 2, 5, 3, dtype=torch.float64)
    o, s = OPS[op](**x, output_final_state=True, mode=mode, chunk_size=4)
    o_ref, s_ref = dense(**x)
    torch.testing.assert_close(o, o_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(s, s_ref, atol=1e-10, rtol=1e-10)


def test_gated_delta_rule_is_a_special_case():
    """a = -exp(g) k, b = beta k (one decay per head, broadcast over K) and v -> beta v is the gated delta rule."""
    x = make("dplr", 2, 19, 2, 8, 4, dtype=torch.float64)
    k = F.normalize(x["k"], dim=-1)
    g, beta = x["gk"][..., 0], torch.rand(2, 19, 2, dtype=torch.float64)
    gk = g[..., None].expand_as(k)
    o, s = dplr_delta_rule(x["q"], k, beta[..., None] * x["v"], -k * gk.exp(), beta[..., None] * k, gk,
                           initial_state=x["initial_state"], output_final_state=True, chunk_size=8)
    o_ref, s_ref = gated_delta_rule(x["q"], k, x["v"], g, beta, initial_state=x["initial_state"],
                                    output_final_state=True, mode="recurrent")
    torch.testing.assert_close(o, o_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(s, s_ref, atol=1e-10, rtol=1e-10)


def test_zero_decay_is_iplr():
    x = make("dplr", 2, 21, 2, 8, 4)
    o, s = dplr_delta_rule(**{**x, "gk": torch.zeros_like(x["gk"])}, output_final_state=True, chunk_size=8)
    x.pop("gk")
    o_ref, s_ref = iplr_delta_rule(**x, output_final_state=True, chunk_size=8)
    torch.testing.assert_close(o, o_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s, s_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("chunk", [64, 13])
def test_strong_decay_is_finite_and_exact(chunk):
    # per-channel log decays near -30 a step: a chunk's cumulative gate reaches ~-2000, so exp(-G) would overflow
    x = make("dplr", 1, 200, 2, 8, 8, strength=30.0)
    assert_modes_agree(dplr_delta_rule, x, 1e-5, chunk_size=chunk)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gradcheck_float64(op, mode):
    assert gradcheck(OPS[op], make(op, 1, 6, 2, 3, 2, dtype=torch.float64), mode=mode, output_final_state=True,
                     chunk_size=4)


def test_bad_arguments_raise():
    x = make("dplr", 1, 4, 2, 4, 4)
    with pytest.raises(ValueError, match="gk must be"):
        dplr_delta_rule(**{**x, "gk": x["gk"][..., 0]})
    with pytest.raises(ValueError, match="a must be"):
        dplr_delta_rule(**{**x, "a": x["a"][:, :2]})
    with pytest.raises(ValueError, match="initial_state"):
        dplr_delta_rule(**{**x, "initial_state": torch.zeros(1, 2, 4, 5)})
    with pytest.raises(ValueError, match="mode"):
        dplr_delta_rule(**x, mode="parallel")


def test_flas_transposed_state_convention():
    """fla / RWKV-7 keep the state as [V, K]: S <- S diag(exp(gk)) + (S a) bᵀ + v kᵀ, o = S q; ours is its transpose."""
    x = make("dplr", 1, 9, 2, 4, 3, dtype=torch.float64)
    o, s = dplr_delta_rule(**x, scale=1.0, output_final_state=True, mode="chunk", chunk_size=4)
    state = x["initial_state"].mT  # [B, H, V, K]
    for t in range(9):
        q, k, v, a, b, w = (x[n][:, t] for n in ("q", "k", "v", "a", "b", "gk"))
        state = state * w.exp()[..., None, :] + (state @ a[..., None]) @ b[..., None, :] + v[..., None] @ k[..., None, :]
        torch.testing.assert_close(o[:, t], (state @ q[..., None])[..., 0], atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(s, state.mT, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("strength", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("chunk", [16, 13])
def test_direct_and_level_wise_weights_agree(strength, chunk):
    """The one-matmul weights (chunks within DIRECT_MAX_SPAN) == the level-wise ones used beyond it (chunks of any
    length: the level-wise form pads them to a power of two)."""
    x = make("dplr", 2, 16, 2, 8, 4, dtype=torch.float64, strength=strength)
    q, k, a, b = (dplr_module._to_chunks(x[n], chunk) for n in ("q", "k", "a", "b"))
    g = dplr_module._to_chunks(x["gk"], chunk)
    g_in = g.cumsum(-2)
    g_ex = g_in - g
    direct = dplr_module._grams_direct(q, k, a, b, g_in, g_ex)
    levels = (dplr_module._gram(a, b, g, True), dplr_module._gram(a, k, g, True),
              dplr_module._gram(q, k, g, False), dplr_module._gram(q, b, g, False))
    for d, w in zip(direct, levels):
        torch.testing.assert_close(d, w, atol=1e-12, rtol=1e-12)


def with_zero_decays(x, name, dtype):
    """Some gates -inf (decay exactly 0: the state is wiped in that channel), some -1e4, in several chunks."""
    g = x[name].clone()
    g[:, 3, 0, 1] = float("-inf")
    g[:, 10:13, -1] = float("-inf")  # a run of them, every channel of a head
    g[:, 20, 0, :2] = -1e4
    g[:, -1, 0, 0] = float("-inf")  # the last token: the final state's channel is 0
    return {**x, name: g.to(dtype)}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("chunk", [16, 13, 64])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_zero_decay_gates_match_the_reference(op, chunk, dtype, tol):
    """log-decay gates of -inf (exp(-inf) = 0 in the loop) and -1e4: the chunk form stays finite and exact, forward
    and backward (the chunk form once took -inf - (-inf) = NaN between prefix sums)."""
    x = make(op, 2, 37, 2, 8, 4, dtype=dtype)
    if op == "dplr":
        x = with_zero_decays(x, "gk", dtype)
    o = assert_modes_agree(OPS[op], x, tol, chunk_size=chunk)
    assert torch.isfinite(o).all()
