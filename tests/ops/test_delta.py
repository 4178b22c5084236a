"""Delta-rule ops: chunk (WY/UT transform) == recurrent reference, forward and backward, and both ==
an independent dense formulation (explicit products of the (I - b k kᵀ) transition matrices)."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.delta import delta_product, delta_rule, gated_delta_rule

OPS = ("delta_rule", "gated_delta_rule", "delta_product")


def make_inputs(op, b, t, h, dk, dv, n=2, seed=0, dtype=torch.float32, beta_max=2.0, decay=3.0):
    """Leaf tensors (name -> tensor) for ``op``; keys are unit vectors as DeltaNet's mixer makes them."""
    gen = torch.Generator().manual_seed(seed)
    rows = t * n if op == "delta_product" else t
    x = {
        "q": torch.randn(b, t, h, dk, generator=gen, dtype=dtype),
        "k": F.normalize(torch.randn(b, rows, h, dk, generator=gen, dtype=dtype), dim=-1),
        "v": torch.randn(b, rows, h, dv, generator=gen, dtype=dtype),
        "beta": torch.rand(b, rows, h, generator=gen, dtype=dtype) * beta_max,
        "initial_state": torch.randn(b, h, dk, dv, generator=gen, dtype=dtype),
    }
    if op != "delta_rule":
        x["g"] = -torch.rand(b, t, h, generator=gen, dtype=dtype) * decay
    return {name: z.requires_grad_() for name, z in x.items()}


def call(op, x, mode, chunk_size=64, n=2, with_state=True, **kw):
    s0 = x["initial_state"] if with_state else None
    common = dict(initial_state=s0, output_final_state=True, mode=mode, chunk_size=chunk_size, **kw)
    if op == "delta_rule":
        return delta_rule(x["q"], x["k"], x["v"], x["beta"], **common)
    if op == "gated_delta_rule":
        return gated_delta_rule(x["q"], x["k"], x["v"], x["g"], x["beta"], **common)
    return delta_product(x["q"], x["k"], x["v"], x.get("g"), x["beta"], num_householder=n, **common)


def forward_backward(op, x, mode, **kw):
    for z in x.values():
        z.grad = None
    o, s = call(op, x, mode, **kw)
    (o.sin().sum() + s.cos().sum()).backward()
    return o.detach(), s.detach(), {name: z.grad.clone() for name, z in x.items() if z.grad is not None}


def assert_rel_close(a, b, tol, what=""):
    """max |a - b| <= tol * max |b|: a relative error on the tensor's scale."""
    err = (a - b).abs().max().item()
    ref = b.abs().max().item()
    assert err <= tol * max(ref, 1e-30), f"{what}: max abs error {err:.3g} vs scale {ref:.3g} (rel {err / ref:.3g})"


def check_chunk_equals_recurrent(op, b, t, h, dk, dv, chunk_size, with_state, n=2, seed=0, tol=1e-5, **kw):
    x = make_inputs(op, b, t, h, dk, dv, n=n, seed=seed, **kw)
    o_r, s_r, g_r = forward_backward(op, x, "recurrent", n=n, with_state=with_state)
    o_c, s_c, g_c = forward_backward(op, x, "chunk", chunk_size=chunk_size, n=n, with_state=with_state)
    assert_rel_close(o_c, o_r, tol, "output")
    assert_rel_close(s_c, s_r, tol, "final state")
    assert set(g_c) == set(g_r) and len(g_r) == len(x) - (not with_state)
    for name in g_r:
        assert_rel_close(g_c[name], g_r[name], tol, f"grad {name}")


@settings(max_examples=6, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 150), h=st.integers(1, 2), dk=st.sampled_from([4, 8, 16, 32]),
       dv=st.sampled_from([4, 8, 16, 32]), chunk_size=st.sampled_from([16, 32, 64]), with_state=st.booleans(),
       seed=st.integers(0, 2**16))
@pytest.mark.parametrize("op", OPS)
def test_chunk_equals_recurrent_forward_and_grads(op, b, t, h, dk, dv, chunk_size, with_state, seed):
    check_chunk_equals_recurrent(op, b, t, h, dk, dv, chunk_size, with_state, seed=seed)


@pytest.mark.parametrize("op", OPS)
def test_chunk_equals_recurrent_long_wide(op):
    check_chunk_equals_recurrent(op, 1, 300, 1, 64, 64, 64, True)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("t", [1, 17])
def test_chunk_equals_recurrent_t1_and_uneven(op, t):
    check_chunk_equals_recurrent(op, 2, t, 2, 8, 4, 16, False)


@pytest.mark.parametrize("n", [1, 3])
def test_delta_product_householder_counts(n):
    check_chunk_equals_recurrent("delta_product", 2, 23, 2, 8, 8, 16, True, n=n)


def test_delta_product_without_gate():
    x = make_inputs("delta_product", 2, 21, 2, 8, 8)
    x.pop("g")
    o_r, s_r, g_r = forward_backward("delta_product", x, "recurrent")
    o_c, s_c, g_c = forward_backward("delta_product", x, "chunk", chunk_size=16)
    assert_rel_close(o_c, o_r, 1e-5)
    assert_rel_close(s_c, s_r, 1e-5)
    for name in g_r:
        assert_rel_close(g_c[name], g_r[name], 1e-5, name)


def test_strong_decay_is_finite_and_exact_in_float32():
    # Cumulative log decay reaches -60 * 200: exp of it (or its inverse) over/underflows unless every
    # exponent is a within-chunk difference <= 0.
    x = make_inputs("gated_delta_rule", 1, 200, 2, 16, 16, decay=60.0)
    o_r, s_r, g_r = forward_backward("gated_delta_rule", x, "recurrent")
    o_c, s_c, g_c = forward_backward("gated_delta_rule", x, "chunk", chunk_size=64)
    assert torch.isfinite(o_c).all() and all(torch.isfinite(z).all() for z in g_c.values())
    assert_rel_close(o_c, o_r, 1e-5)
    for name in g_r:
        assert_rel_close(g_c[name], g_r[name], 1e-5, name)


# -- independent dense formulation --------------------------------------------------------------
def dense_reference(x, n=1, gated=False):
    """S_t = exp(g_t) (prod_j (I - b k kᵀ)) S_{t-1} + sum_j (later transitions) b k vᵀ, with every transition
    matrix built explicitly (float64, per batch and head); o_t = S_tᵀ (q_t / sqrt(K))."""
    q, k, v, beta, s0 = (x[name].detach().double() for name in ("q", "k", "v", "beta", "initial_state"))
    b, t, h, dk = q.shape
    eye = torch.eye(dk, dtype=torch.float64)
    out = torch.zeros(b, t, h, v.shape[-1], dtype=torch.float64)
    final = torch.zeros_like(s0)
    for bi in range(b):
        for hi in range(h):
            s = s0[bi, hi]
            for ti in range(t):
                if gated:
                    s = x["g"][bi, ti, hi].detach().double().exp() * s
                for r in range(ti * n, (ti + 1) * n):
                    kr = k[bi, r, hi][:, None]
                    s = (eye - beta[bi, r, hi] * kr @ kr.T) @ s + beta[bi, r, hi] * kr @ v[bi, r, hi][None]
                out[bi, ti, hi] = s.T @ q[bi, ti, hi] * dk ** -0.5
            final[bi, hi] = s
    return out, final


@pytest.mark.parametrize("op,n,gated", [("delta_rule", 1, False), ("gated_delta_rule", 1, True),
                                        ("delta_product", 3, True)])
@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_matches_dense_transition_products(op, n, gated, mode):
    x = make_inputs(op, 2, 13, 2, 6, 5, n=n, dtype=torch.float64)
    o, s = call(op, x, mode, chunk_size=4, n=n)
    o_ref, s_ref = dense_reference(x, n=n, gated=gated)
    torch.testing.assert_close(o, o_ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(s, s_ref, atol=1e-10, rtol=1e-10)


def test_delta_rule_state_is_the_product_of_transitions_without_values():
    # With v = 0 the state after T steps is exactly prod_t (I - b_t k_t k_tᵀ) S_0.
    x = make_inputs("delta_rule", 1, 20, 1, 5, 3, dtype=torch.float64)
    with torch.no_grad():
        x["v"].zero_()
    _, s = call("delta_rule", x, "chunk", chunk_size=8)
    prod = torch.eye(5, dtype=torch.float64)
    for t in range(20):
        kt = x["k"][0, t, 0].detach()[:, None]
        prod = (torch.eye(5, dtype=torch.float64) - x["beta"][0, t, 0].detach() * kt @ kt.T) @ prod
    torch.testing.assert_close(s[0, 0], prod @ x["initial_state"][0, 0].detach(), atol=1e-12, rtol=1e-12)


def test_structural_identities():
    x = make_inputs("gated_delta_rule", 2, 19, 2, 8, 4)
    zero_g = dict(x, g=torch.zeros_like(x["g"]))
    torch.testing.assert_close(call("gated_delta_rule", zero_g, "chunk", 8)[0], call("delta_rule", x, "chunk", 8)[0])
    # DeltaProduct with one Householder step per token is the gated delta rule.
    torch.testing.assert_close(call("delta_product", x, "chunk", 8, n=1)[0], call("gated_delta_rule", x, "chunk", 8)[0])


# -- gradcheck, dtype, errors ------------------------------------------------------------------
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
def test_gradcheck_float64(op, mode):
    x = make_inputs(op, 1, 5, 1, 3, 2, dtype=torch.float64)
    names = list(x)

    def fn(*tensors):
        o, s = call(op, dict(zip(names, tensors)), mode, chunk_size=2)
        return o, s

    assert torch.autograd.gradcheck(fn, tuple(x.values()))


def test_half_precision_inputs_compute_in_float32_and_return_input_dtype():
    # the output in the input's dtype, the final state in float32 (the rule of every op)
    x = make_inputs("gated_delta_rule", 1, 10, 1, 8, 8)
    x16 = {name: z.detach().bfloat16() for name, z in x.items()}
    o, s = call("gated_delta_rule", x16, "chunk", 4)
    assert o.dtype == torch.bfloat16 and s.dtype == torch.float32
    o32, s32 = call("gated_delta_rule", {n: z.float() for n, z in x16.items()}, "recurrent")
    torch.testing.assert_close(o.float(), o32, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(s, s32, atol=2e-2, rtol=2e-2)


def test_final_state_is_none_unless_asked_and_scale_default():
    x = make_inputs("delta_rule", 1, 4, 1, 16, 4)
    args = (x["q"], x["k"], x["v"], x["beta"])
    o, s = delta_rule(*args)
    assert s is None
    torch.testing.assert_close(o, delta_rule(*args, scale=0.25)[0])


def test_bad_shapes_and_mode_raise():
    x = make_inputs("gated_delta_rule", 2, 6, 2, 4, 4)
    q, k, v, g, beta = x["q"], x["k"], x["v"], x["g"], x["beta"]
    with pytest.raises(ValueError, match="mode"):
        delta_rule(q, k, v, beta, mode="parallel")
    with pytest.raises(ValueError, match="beta"):
        delta_rule(q, k, v, beta[..., :1])
    with pytest.raises(ValueError, match="k and v"):
        delta_rule(q, k[:, :3], v, beta)
    with pytest.raises(ValueError, match="g must be"):
        gated_delta_rule(q, k, v, g[:, :2], beta)
    with pytest.raises(ValueError, match="initial_state"):
        delta_rule(q, k, v, beta, initial_state=torch.zeros(2, 2, 4, 5))
    with pytest.raises(ValueError, match=r"T\*2"):
        delta_product(q, k, v, g, beta, num_householder=2)


@pytest.mark.parametrize("op", ["gated_delta_rule", "delta_product"])
def test_chunk_form_with_a_minus_inf_gate_matches_the_reference(op):
    """A -inf log decay (exp(A_log) overflowing in the mixer) resets the state; the chunk form stays finite and
    equal to the recurrence: its decays are segment sums, never a difference of two -inf prefix sums."""
    x = make_inputs(op, 2, 11, 2, 8, 8, seed=5)
    g = x["g"].detach().clone()
    g[0, 3, 0] = g[1, 0, 1] = g[1, 9, 0] = float("-inf")
    inputs = {**{n: t.detach() for n, t in x.items()}, "g": g}
    fn = {"gated_delta_rule": gated_delta_rule, "delta_product": delta_product}[op]
    o_ref, s_ref = fn(**inputs, output_final_state=True, mode="recurrent")
    for chunk in (4, 6, 64):
        leaves = {n: t.clone().requires_grad_() for n, t in inputs.items()}
        o, s = fn(**leaves, output_final_state=True, mode="chunk", chunk_size=chunk)
        assert torch.isfinite(o).all() and torch.isfinite(s).all()
        torch.testing.assert_close(o, o_ref, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(s, s_ref, atol=1e-4, rtol=1e-4)
        grads = torch.autograd.grad(o.square().sum() + s.square().sum(), list(leaves.values()))
        assert all(torch.isfinite(gr).all() for gr in grads)
