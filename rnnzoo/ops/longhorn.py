"""``longhorn``: the Longhorn recurrence (Liu et al. 2024, Longhorn: State Space Models are Amortized Online Learners,
its closed-form online update with the diagonal approximation; the step of the official Cranial-XIX/longhorn layer).

The state S_t [D, N] per sequence solves, in closed form, one online regression step per token: it stays near
S_{t-1} while fitting S k_t to x_t, argmin_S ||S - S_{t-1}||² + β_t ||S k_t - x_t||². Keeping the diagonal of the
exact update (I - ε_t k_t k_tᵀ) gives, channel d by state n:

    ε_t = β_t / (1 + β_t k_tᵀ k_t)                                 (per channel: β_t [D] in (0, 1))
    S_t = (1 - ε_t ⊗ k_t²) ⊙ S_{t-1} + (ε_t ⊙ x_t) ⊗ k_t               [D, N]
    y_t = S_t q_t                                                   [D]

No separate decay parameter (A): the forgetting comes from the key. Each transition 1 - ε_d k_n² lies in
(0, 1] (ε_d k_n² <= ε_d |k|² < 1), so the state is bounded.

Modes: ``"recurrent"`` is the loop above. ``"chunk"`` is ``signed_diagonal_scan``'s chunked scan over the D*N state
elements (the transitions are multiplied in as they are: no log, exact for any ε), run over time blocks of
``_BLOCK`` tokens so that the [B, T, D, N] inputs of the scan never exist whole. It is not ``selective_scan``: that
op's transition exp(delta_d A_dn) has a fixed A, and 1 - ε_d k_n² with a time-varying key cannot be written so.
"""

from __future__ import annotations

import torch

from rnnzoo.ops._common import autocast_safe, check_mode, upcast
from rnnzoo.ops.scan import signed_diagonal_scan
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk")
_BLOCK = 256  # tokens per scan call of the chunk form: [B, 256, D, N] inputs at a time


def _check(x, beta, k, q, initial_state, mode):
    check_mode("longhorn", mode, MODES)
    if x.dim() != 3 or beta.shape != x.shape or x.shape[1] == 0:
        raise ValueError(f"longhorn: x and beta must be [B, T, D] with T >= 1, got x {tuple(x.shape)}, "
                         f"beta {tuple(beta.shape)}")
    if k.dim() != 3 or k.shape[:2] != x.shape[:2] or q.shape != k.shape:
        raise ValueError(f"longhorn: k and q must both be [B, T, N] with x's [B, T] {tuple(x.shape[:2])}, "
                         f"got k {tuple(k.shape)}, q {tuple(q.shape)}")
    want = (x.shape[0], x.shape[2], k.shape[2])
    if initial_state is not None and tuple(initial_state.shape) != want:
        raise ValueError(f"longhorn: initial_state must be [B, D, N]={list(want)}, got {tuple(initial_state.shape)}")


def _recurrent(x, eps, k, q, s):
    """The loop of the equation (steps by unbind: indexing [:, t] makes backward O(T^2))."""
    out = []
    for x_t, e_t, k_t, q_t in zip(x.unbind(1), eps.unbind(1), k.unbind(1), q.unbind(1)):
        s = (1 - e_t[..., None] * k_t[:, None].square()) * s + (e_t * x_t)[..., None] * k_t[:, None]
        out.append(torch.einsum("bdn,bn->bd", s, q_t))
    return torch.stack(out, 1), s


def _chunk(x, eps, k, q, s):
    out = []
    for t0 in range(0, x.shape[1], _BLOCK):
        e, kb, xb, qb = (z[:, t0:t0 + _BLOCK] for z in (eps, k, x, q))
        h, s = signed_diagonal_scan((e * xb)[..., None] * kb[:, :, None], 1 - e[..., None] * kb[:, :, None].square(),
                                    initial_state=s, output_final_state=True)
        out.append(torch.einsum("btdn,btn->btd", h, qb))
    return torch.cat(out, 1), s


@packable("longhorn")
@autocast_safe
def longhorn(x, beta, k, q, initial_state=None, output_final_state=False, mode="chunk"):
    """S_t = (1 - ε_t ⊗ k_t²) ⊙ S_{t-1} + (ε_t ⊙ x_t) ⊗ k_t with ε_t = β_t / (1 + β_t |k_t|²), y_t = S_t q_t (see the
    module docstring).

    x (inputs), beta (step sizes, in (0, 1) in the layer): [B, T, D]; k, q: [B, T, N] (shared by the D channels);
    initial_state: [B, D, N]. Returns (y [B, T, D] in x's dtype, S_T [B, D, N] float32 (float64 for float64 inputs)
    or None).
    """
    _check(x, beta, k, q, initial_state, mode)
    dtype = x.dtype
    x, beta, k, q, s = upcast(x, beta, k, q, initial_state, op="longhorn")
    s = x.new_zeros(x.shape[0], x.shape[2], k.shape[2]) if s is None else s
    eps = beta / (1 + beta * k.square().sum(-1, keepdim=True))
    y, s = (_recurrent if mode == "recurrent" else _chunk)(x, eps, k, q, s)
    return y.to(dtype), (s if output_final_state else None)
