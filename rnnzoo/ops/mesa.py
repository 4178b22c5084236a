"""``mesa_net``: the Mesa layer (von Oswald et al. 2025, MesaNet: Sequence Modeling by Locally Optimal Test-Time
Training, sec. 3): per token the output of the ridge regression of values on keys fit to the whole (gated) past.

    H_t = exp(g_t) H_{t-1} + beta_t k_t k_tᵀ          [K, K]
    G_t = exp(g_t) G_{t-1} + beta_t k_t v_tᵀ          [K, V]   (stored keys-first, as fla: o_t = G_tᵀ x_t)
    o_t = G_tᵀ (H_t + diag(lamb))^{-1} q_t

with g <= 0 (log space), beta in (0, 1) and lamb > 0 per key channel of each head. The two states are two gated
linear attentions, and so is the product with H_t: ``H_t x_t`` is simple GLA with queries x, keys beta k and values k.

Modes (how the two states are accumulated): ``"recurrent"`` is the loop above, the reference; ``"chunk"`` runs both
linear states through ``simple_gla`` (its compiled CPU loop or chunk form, ``mode="auto"``). Solver (``cg_steps``):
None solves (H_t + diag(lamb)) x_t = q_t exactly (``torch.linalg.solve``; in chunk mode H_t for all t is then built
as simple GLA read with the K unit queries, O(T K^2) memory: a mode for checking, not for speed); an int runs that
many conjugate-gradient iterations from x = 0 for all tokens at once (the paper's solver, sec. 3.2; fla's default 30),
each iteration one simple GLA call, and its gradient is the implicit one (``_ImplicitCG``: the adjoint system by CG
too, as fla's backward; the gradient of the exact solve once CG has converged). CG on a symmetric positive definite K x K system is exact after K iterations in
exact arithmetic, and after n its error is below 2 sqrt(kappa) ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^n |x| (kappa:
the condition number of H_t + diag(lamb)); tested. A step of CG stops moving once its residual is exactly zero.
"""

from __future__ import annotations

import torch

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.simple_gla import simple_gla
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk")


def conjugate_gradient(matvec, b: torch.Tensor, steps: int) -> torch.Tensor:
    """x ~ A^{-1} b by ``steps`` CG iterations from x = 0 on every row of b [..., K] at once; matvec(p) = A p for a
    symmetric positive definite A per row."""
    tiny = torch.finfo(b.dtype).tiny
    x, r = torch.zeros_like(b), b
    p, delta = r, (r * r).sum(-1, keepdim=True)
    for _ in range(steps):
        ap = matvec(p)
        alpha = delta / (p * ap).sum(-1, keepdim=True).clamp_min(tiny)  # 0 once the residual is exactly 0
        x, r = x + alpha * p, r - alpha * ap
        new = (r * r).sum(-1, keepdim=True)
        p, delta = r + new / delta.clamp_min(tiny) * p, new
    return x


class _ImplicitCG(torch.autograd.Function):
    """x = A^{-1} b by CG, differentiated implicitly: db = A^{-1} dx (A symmetric: CG again) and the parameters of A
    get the gradient of -yᵀ A(params) x at fixed x, y. Autograd through the iterations would differentiate their
    rounding noise once the residual is at float precision."""

    @staticmethod
    def forward(ctx, b, steps, matvec, *params):
        x = conjugate_gradient(lambda p: matvec(p, *params), b, steps)
        ctx.save_for_backward(x, *params)
        ctx.steps, ctx.matvec = steps, matvec
        return x

    @staticmethod
    def backward(ctx, dx):
        x, *params = ctx.saved_tensors
        y = conjugate_gradient(lambda p: ctx.matvec(p, *params), dx, ctx.steps)
        want = [i for i, need in enumerate(ctx.needs_input_grad[3:]) if need]
        grads = [None] * len(params)
        if want:
            with torch.enable_grad():
                leaves = [p.detach().requires_grad_(i in want) for i, p in enumerate(params)]
                surrogate = -(y * ctx.matvec(x, *leaves)).sum()
                for i, gr in zip(want, torch.autograd.grad(surrogate, [leaves[i] for i in want], allow_unused=True)):
                    grads[i] = gr
        return (y if ctx.needs_input_grad[0] else None, None, None, *grads)


def _read(p, a):
    """p [..., K], a [..., K, K] -> aᵀ p: H is read as simple GLA reads its state (the same value, H is symmetric;
    the same function of its entries, so both modes get the same gradient)."""
    return (p.unsqueeze(-2) @ a).squeeze(-2)


def _solve(a: torch.Tensor, b: torch.Tensor, cg_steps: int | None) -> torch.Tensor:
    """a [..., K, K] symmetric positive definite, b [..., K] -> x [..., K] with aᵀ x = b."""
    if cg_steps is None:
        return torch.linalg.solve(a.transpose(-1, -2), b.unsqueeze(-1)).squeeze(-1)
    return _ImplicitCG.apply(b, cg_steps, _read, a)


def _recurrent(q, k, v, g, lamb, beta, h, s, cg_steps):
    out = []
    for q_t, k_t, v_t, g_t, b_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), g.unbind(1), beta.unbind(1)):
        decay, bk = g_t.exp()[..., None, None], (b_t[..., None] * k_t)[..., None]
        h = decay * h + bk * k_t[..., None, :]
        s = decay * s + bk * v_t[..., None, :]
        x = _solve(h + torch.diag_embed(lamb), q_t, cg_steps)
        out.append(torch.einsum("bhk,bhkv->bhv", x, s))
    return torch.stack(out, 1), h, s


def _chunk(q, k, v, g, lamb, beta, h, s, cg_steps, chunk_size):
    bk = beta[..., None] * k

    def gla(x, values, state):
        return simple_gla(x, bk, values, g, scale=1.0, initial_state=state, output_final_state=True,
                          mode="auto", chunk_size=chunk_size)

    if cg_steps is None:
        b, t, nh, dk = q.shape
        eye = torch.eye(dk, dtype=q.dtype, device=q.device)
        rows, h_end = simple_gla(eye.expand(b, t, nh, dk, dk).reshape(b, t, nh * dk, dk),
                                 *(x.repeat_interleave(dk, 2) for x in (bk, k, g)), scale=1.0,
                                 initial_state=h.repeat_interleave(dk, 1), output_final_state=True,
                                 mode="auto", chunk_size=chunk_size)
        x = _solve(rows.view(b, t, nh, dk, dk) + torch.diag_embed(lamb), q, None)  # read c is row c of H_t
        h_end = h_end.view(b, nh, dk, dk, dk)[:, :, 0]
    else:
        def matvec(p, bk, k, g, h, lamb):
            return simple_gla(p, bk, k, g, scale=1.0, initial_state=h, mode="auto", chunk_size=chunk_size)[0] + lamb * p

        x = _ImplicitCG.apply(q, cg_steps, matvec, bk, k, g, h, lamb)
        _, h_end = gla(x, k, h)  # the final H does not depend on the queries
    o, s_end = gla(x, v, s)
    return o, h_end, s_end


@packable("mesa_net")
@autocast_safe
def mesa_net(q, k, v, g, lamb, beta, initial_state=None, output_final_state=False, mode="chunk", chunk_size=64,
             cg_steps=30):
    """The Mesa layer: o_t = G_tᵀ (H_t + diag(lamb))^{-1} q_t (von Oswald et al. 2025, eq. 5-7; the ops never
    normalise q, k: the mixer does).

    q, k: [B, T, H, K]; v: [B, T, H, V]; g (log decay, <= 0), beta: [B, T, H]; lamb: [H, K] (> 0);
    initial_state: (H_0 [B, H, K, K] symmetric, G_0 [B, H, K, V]) or None; cg_steps: CG iterations, or None for the exact
    solve. Returns (o [B, T, H, V] in q's dtype, (H_T, G_T) float32 (float64 for float64 inputs) or None).
    """
    check_mode("mesa_net", mode, MODES)
    check_chunk_size("mesa_net", chunk_size)
    if cg_steps is not None:
        check_chunk_size("mesa_net", cg_steps, name="cg_steps")
    if q.dim() != 4 or v.dim() != 4 or q.shape[1] == 0 or k.shape != q.shape or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"mesa_net: q, k must be [B, T, H, K] and v [B, T, H, V] with T >= 1, got q "
                         f"{tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    b, t, nh, dk = q.shape
    if g.shape != q.shape[:3] or beta.shape != q.shape[:3]:
        raise ValueError(f"mesa_net: g and beta must be [B, T, H]={list(q.shape[:3])}, got g {tuple(g.shape)}, "
                         f"beta {tuple(beta.shape)}")
    if lamb.shape != (nh, dk):
        raise ValueError(f"mesa_net: lamb must be [H, K]={[nh, dk]}, got {tuple(lamb.shape)}")
    shapes = ((b, nh, dk, dk), (b, nh, dk, v.shape[-1]))
    if initial_state is not None and (len(initial_state) != 2 or any(
            tuple(s.shape) != want for s, want in zip(initial_state, shapes))):
        raise ValueError(f"mesa_net: initial_state must be (H_0 {list(shapes[0])}, G_0 {list(shapes[1])}), got "
                         f"{[tuple(s.shape) for s in initial_state]}")
    dtype = q.dtype
    h0, s0 = initial_state if initial_state is not None else (None, None)
    q, k, v, g, lamb, beta, h0, s0 = upcast(q, k, v, g, lamb, beta, h0, s0, op="mesa_net")
    h0 = q.new_zeros(shapes[0]) if h0 is None else h0
    s0 = q.new_zeros(shapes[1]) if s0 is None else s0
    if mode == "recurrent":
        o, h, s = _recurrent(q, k, v, g, lamb, beta, h0, s0, cg_steps)
    else:
        o, h, s = _chunk(q, k, v, g, lamb, beta, h0, s0, cg_steps, chunk_size)
    return o.to(dtype), ((h, s) if output_final_state else None)
