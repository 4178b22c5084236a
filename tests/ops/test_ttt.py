"""ttt_linear: the dual form == the mini-batch recurrence written as a loop, forward and backward (offsets, initial
states, partial mini-batches); mini_batch_size=1 == per-token online gradient descent with autograd's gradient of
the inner loss; the closed-form inner gradient == autograd's; gradcheck."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.ttt import layer_norm, layer_norm_l2_grad, ttt_linear
from tests.ops.modes import assert_modes_agree, gradcheck


def make(b, t, h, dk, seed=0, dtype=torch.float32, m=4, offset=0):
    """Random q, k, v, small inner weights, eta in (0, 0.5), LN affine near (1, 0); the state after ``offset``
    tokens of the same recurrence (None at offset 0)."""
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, t + offset, h, dk, generator=gen, dtype=dtype) for _ in range(3))
    x = dict(w=0.1 * torch.randn(h, dk, dk, generator=gen, dtype=dtype), b=0.1 * torch.randn(h, dk, generator=gen,
                                                                                               dtype=dtype),
             eta=0.5 * torch.rand(b, t + offset, h, generator=gen, dtype=dtype),
             ln_weight=1 + 0.1 * torch.randn(h, dk, generator=gen, dtype=dtype),
             ln_bias=0.1 * torch.randn(h, dk, generator=gen, dtype=dtype))
    state = None
    if offset:
        _, state = ttt_linear(q[:, :offset], k[:, :offset], v[:, :offset], x["w"], x["b"], x["eta"][:, :offset],
                              x["ln_weight"], x["ln_bias"], mini_batch_size=m, output_final_state=True,
                              mode="recurrent")
    return dict(q=q[:, offset:], k=k[:, offset:], v=v[:, offset:], **{**x, "eta": x["eta"][:, offset:]},
                initial_state=state)


@settings(max_examples=8, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 70), h=st.integers(1, 2), dk=st.sampled_from([4, 8]),
       m=st.sampled_from([1, 3, 4, 16]), offset=st.integers(0, 20), seed=st.integers(0, 99))
def test_dual_matches_recurrent_float64(b, t, h, dk, m, offset, seed):
    """float64: the inputs' gradients pass through LayerNorm's backward twice (the inner gradient is differentiated),
    where float32's different summation orders reach ~1e-4 of the gradient's scale (measured); the float32 forward is
    checked below."""
    assert_modes_agree(ttt_linear, make(b, t, h, dk, seed, dtype=torch.float64, m=m, offset=offset), 1e-10,
                       mode="dual", mini_batch_size=m, offset=offset)


@pytest.mark.parametrize("m,offset", [(1, 0), (4, 3), (16, 0)])
def test_dual_matches_recurrent_forward_float32(m, offset):
    x = make(2, 45, 2, 8, m=m, offset=offset)
    for mode in ("recurrent", "dual"):
        x[mode] = ttt_linear(**{n: x[n] for n in x if n not in ("recurrent", "dual")}, mini_batch_size=m,
                             offset=offset, mode=mode, output_final_state=True)
    torch.testing.assert_close(x["dual"][0], x["recurrent"][0], atol=1e-5, rtol=1e-5)
    for a, b in zip(x["dual"][1], x["recurrent"][1]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("t,m,offset", [(1, 16, 0), (1, 4, 2), (17, 16, 0), (33, 8, 5), (32, 16, 16)])
def test_dual_matches_recurrent_t1_odd_and_offsets(t, m, offset):
    assert_modes_agree(ttt_linear, make(2, t, 2, 8, dtype=torch.float64, m=m, offset=offset), 1e-10, mode="dual",
                       mini_batch_size=m, offset=offset)


@pytest.mark.parametrize("mode", ["recurrent", "dual"])
def test_mini_batch_one_is_per_token_gradient_descent(mode):
    """W_t = W_{t-1} - eta_t dl_t/dW (autograd's gradient of 0.5 ||LN(k W + b) - (v - k)||^2), o_t = q_t + LN(q_t W_t + b_t)."""
    x = make(2, 23, 2, 4, dtype=torch.float64)
    o, _ = ttt_linear(**x, mini_batch_size=1, mode=mode)
    q, k, v, eta, lnw, lnb = (x[n] for n in ("q", "k", "v", "eta", "ln_weight", "ln_bias"))
    w, b = x["w"].expand(2, -1, -1, -1), x["b"].expand(2, -1, -1)
    for t in range(23):
        wl, bl = w.detach().requires_grad_(), b.detach().requires_grad_()
        z = torch.einsum("bhk,bhkj->bhj", k[:, t], wl) + bl
        gw, gb = torch.autograd.grad(0.5 * ((layer_norm(z, lnw, lnb) - (v[:, t] - k[:, t])) ** 2).sum(), [wl, bl])
        w, b = w - eta[:, t, :, None, None] * gw, b - eta[:, t, :, None] * gb
        o_ref = q[:, t] + layer_norm(torch.einsum("bhk,bhkj->bhj", q[:, t], w) + b, lnw, lnb)
        torch.testing.assert_close(o[:, t], o_ref, atol=1e-12, rtol=1e-12)


def test_mini_batch_shares_the_start_weights():
    """With m = T every gradient is taken at the initial weights: token i reads W_0 - (1/(i+1)) sum_j eta_j grad_j."""
    x = make(1, 6, 1, 4, dtype=torch.float64)
    o, _ = ttt_linear(**x, mini_batch_size=6, mode="recurrent")
    q, k, v, eta, lnw, lnb, w, b = (x[n] for n in ("q", "k", "v", "eta", "ln_weight", "ln_bias", "w", "b"))
    z = torch.einsum("bthk,hkj->bthj", k, w) + b
    g = layer_norm_l2_grad(z, v - k, lnw, lnb)
    for i in range(6):
        gw = torch.einsum("bt,btk,btj->kj", eta[:, :i + 1, 0], k[:, :i + 1, 0], g[:, :i + 1, 0])
        gb = torch.einsum("bt,btj->j", eta[:, :i + 1, 0], g[:, :i + 1, 0])
        wi, bi = w[0] - gw / (i + 1), b[0] - gb / (i + 1)
        torch.testing.assert_close(o[0, i, 0], q[0, i, 0] + layer_norm(q[0, i, 0] @ wi + bi, lnw[0], lnb[0]),
                                   atol=1e-12, rtol=1e-12)


def test_closed_form_inner_gradient_is_autograds():
    gen = torch.Generator().manual_seed(1)
    z, target = (torch.randn(3, 5, 2, 6, generator=gen, dtype=torch.float64) for _ in range(2))
    w, b = torch.randn(2, 6, generator=gen, dtype=torch.float64), torch.randn(2, 6, generator=gen, dtype=torch.float64)
    zl = z.clone().requires_grad_()
    (g,) = torch.autograd.grad(0.5 * ((layer_norm(zl, w, b) - target) ** 2).sum(), zl)
    torch.testing.assert_close(layer_norm_l2_grad(z, target, w, b), g, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("mode", ["recurrent", "dual"])
def test_gradcheck_float64(mode):
    assert gradcheck(ttt_linear, make(1, 5, 1, 3, dtype=torch.float64, m=2, offset=1), mode=mode,
                     output_final_state=True, mini_batch_size=2, offset=1)


def test_bad_arguments_raise():
    x = make(1, 4, 2, 4)
    with pytest.raises(ValueError, match="eta must be"):
        ttt_linear(**{**x, "eta": x["eta"][..., 0]})
    with pytest.raises(ValueError, match="w must be"):
        ttt_linear(**{**x, "w": x["w"][0]})
    with pytest.raises(ValueError, match="token_scale"):
        ttt_linear(**x, token_scale=torch.ones(3))
    with pytest.raises(ValueError, match="mode"):
        ttt_linear(**x, mode="chunk")
