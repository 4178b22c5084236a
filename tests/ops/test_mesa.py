"""mesa_net: chunk (simple GLA states) == the recurrent reference forward and backward, for the exact solve and for
CG with a fixed number of iterations; the exact solve == the closed form per token; CG against the exact solve within
its convergence bound for n iterations; gradcheck."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.ops.mesa import conjugate_gradient, mesa_net
from tests.ops.modes import assert_modes_agree, gradcheck


def make(b, t, h, dk, dv, seed=0, dtype=torch.float32, state=True):
    """Unit-norm q, k (as the mixer makes them), log decays logsigmoid(N(2, 1)), beta in (0, 1), lamb in (0.25, 1.25),
    a positive semi-definite H_0."""
    gen = torch.Generator().manual_seed(seed)
    q, k = (F.normalize(torch.randn(b, t, h, dk, generator=gen, dtype=dtype), dim=-1) for _ in range(2))
    v = torch.randn(b, t, h, dv, generator=gen, dtype=dtype)
    g = F.logsigmoid(torch.randn(b, t, h, generator=gen, dtype=dtype) + 2)
    lamb = torch.rand(h, dk, generator=gen, dtype=dtype) + 0.25
    beta = torch.rand(b, t, h, generator=gen, dtype=dtype)
    a = torch.randn(b, h, dk, dk, generator=gen, dtype=dtype)
    s0 = (a @ a.transpose(-1, -2) / dk, torch.randn(b, h, dk, dv, generator=gen, dtype=dtype)) if state else None
    return dict(q=q, k=k, v=v, g=g, lamb=lamb, beta=beta, initial_state=s0)


@settings(max_examples=6, deadline=None)
@given(b=st.integers(1, 2), t=st.integers(1, 70), h=st.integers(1, 2), dk=st.sampled_from([4, 8]),
       dv=st.sampled_from([3, 8]), chunk=st.sampled_from([8, 16, 64]), state=st.booleans(), seed=st.integers(0, 99),
       cg=st.sampled_from([None, 3, 10]))
def test_chunk_matches_recurrent_float32(b, t, h, dk, dv, chunk, state, seed, cg):
    assert_modes_agree(mesa_net, make(b, t, h, dk, dv, seed, state=state), 1e-5, chunk_size=chunk, cg_steps=cg)


@pytest.mark.parametrize("t,chunk", [(1, 64), (17, 16), (100, 7)])
@pytest.mark.parametrize("cg", [None, 30])
def test_chunk_matches_recurrent_t1_odd_and_uneven_chunks(t, chunk, cg):
    assert_modes_agree(mesa_net, make(2, t, 2, 8, 4), 1e-5, chunk_size=chunk, cg_steps=cg)


def test_exact_solve_is_the_closed_form():
    x = make(2, 9, 2, 5, 3, dtype=torch.float64)
    o, (h_end, g_end) = mesa_net(**x, output_final_state=True, mode="chunk", chunk_size=4, cg_steps=None)
    q, k, v, g, lamb, beta = (x[n] for n in ("q", "k", "v", "g", "lamb", "beta"))
    for i in range(2):
        for j in range(2):
            hh, gg = x["initial_state"][0][i, j], x["initial_state"][1][i, j]
            for n in range(9):
                hh = g[i, n, j].exp() * hh + beta[i, n, j] * torch.outer(k[i, n, j], k[i, n, j])
                gg = g[i, n, j].exp() * gg + beta[i, n, j] * torch.outer(k[i, n, j], v[i, n, j])
                o_ref = gg.T @ torch.linalg.inv(hh + lamb[j].diag()) @ q[i, n, j]
                torch.testing.assert_close(o[i, n, j], o_ref, atol=1e-10, rtol=1e-10)
            torch.testing.assert_close(h_end[i, j], hh, atol=1e-12, rtol=1e-12)
            torch.testing.assert_close(g_end[i, j], gg, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("steps", [1, 2, 4, 8, 16])
def test_cg_error_within_its_convergence_bound(steps):
    """|x_n - x*| <= 2 sqrt(kappa) ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^n |x*| per system (float64), and exact
    (to rounding) after K = 16 iterations."""
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(64, 16, 16, generator=gen, dtype=torch.float64)
    a = a @ a.transpose(-1, -2) / 16 + 0.25 * torch.eye(16, dtype=torch.float64)
    b = torch.randn(64, 16, generator=gen, dtype=torch.float64)
    exact = torch.linalg.solve(a, b)
    x = conjugate_gradient(lambda p: (a @ p[..., None])[..., 0], b, steps)
    ev = torch.linalg.eigvalsh(a)
    kappa = ev[:, -1] / ev[:, 0]
    rho = (kappa.sqrt() - 1) / (kappa.sqrt() + 1)
    bound = 2 * kappa.sqrt() * rho ** steps * exact.norm(dim=-1)
    err = (x - exact).norm(dim=-1)
    assert (err <= bound + 1e-12).all()
    if steps == 16:
        assert err.max() < 1e-8 * exact.norm(dim=-1).max()


def test_cg_in_the_op_approaches_the_solve():
    """The op's output error vs the exact solve falls with the CG iterations (fla's default 30 is exact here)."""
    x = make(2, 50, 2, 16, 4, dtype=torch.float64)
    exact, _ = mesa_net(**x, mode="chunk", cg_steps=None)
    errs = [(mesa_net(**x, mode="chunk", cg_steps=n)[0] - exact).abs().max().item() for n in (2, 5, 10, 30)]
    assert errs == sorted(errs, reverse=True)
    assert errs[-1] < 1e-10 and not math.isnan(errs[0])


def _symmetric_state(q, k, v, g, lamb, beta, initial_state, **kwargs):
    """mesa_net with H_0 symmetrised: CG solves symmetric systems only (as every H the op produces is), so a
    one-sided perturbation of H_0 is outside its domain."""
    h0, g0 = initial_state
    return mesa_net(q, k, v, g, lamb, beta, initial_state=((h0 + h0.transpose(-1, -2)) / 2, g0), **kwargs)


@pytest.mark.parametrize("mode", ["recurrent", "chunk"])
@pytest.mark.parametrize("cg", [None, 4])
def test_gradcheck_float64(mode, cg):
    """cg_steps=4 > K=3: CG has converged, where its implicit gradient is the gradient."""
    assert gradcheck(_symmetric_state, make(1, 4, 1, 3, 2, dtype=torch.float64), mode=mode, output_final_state=True,
                     chunk_size=2, cg_steps=cg)


def test_bad_arguments_raise():
    x = make(1, 4, 2, 4, 3)
    with pytest.raises(ValueError, match="lamb must be"):
        mesa_net(**{**x, "lamb": x["lamb"][0]})
    with pytest.raises(ValueError, match="initial_state must be"):
        mesa_net(**{**x, "initial_state": x["initial_state"][:1]})
    with pytest.raises(ValueError, match="cg_steps"):
        mesa_net(**x, cg_steps=0)
    with pytest.raises(ValueError, match="mode"):
        mesa_net(**x, mode="parallel")
