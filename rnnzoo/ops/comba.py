"""``comba``: the Comba recurrence (Hu et al. 2025, Comba: Improving Bilinear RNNs with Closed-loop Control), a
delta rule whose transition is a scalar plus a low-rank term (SPLR) and whose erase reads the state with its own key
p_t (flash-linear-attention's ``comba`` ops). With the state S [K, V] per head (keys by rows, as every rnnzoo op):

    S_t = (exp(g_t) I - beta_t k_t p_tᵀ) S_{t-1} + beta_t k_t v_tᵀ  ==  exp(g_t) S_{t-1} + beta_t k_t (v_t - S_{t-1}ᵀ p_t)ᵀ
    o_t = S_tᵀ (scale q_t)

which is fla's S_t = S_{t-1}(α_t - β_t p_t k_tᵀ) + β_t v_t k_tᵀ for its transposed state [V, K]. The feedback read
S_{t-1}ᵀ p_t sees the state before this step's decay, unlike the gated delta rule's exp(g_t)(I - beta_t k_t k_tᵀ).
The paper's output correction o_t = S_t (q_t - d p_t) is the query the caller passes (Comba's layer subtracts
D p_t from q_t), and p_t = sigmoid(decay) ⊙ k_t there; the op takes any p.

``mode="chunk"`` is ``dplr_delta_rule``'s chunk form: Comba is the DPLR rule with a = p, b = -beta k, keys beta k and
the decay g on every key channel; ``"kernel"`` and ``"auto"`` (the default) are its compiled CPU kernel and its
choice between kernel and chunk form on the same arguments.
"""

from __future__ import annotations

import torch

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.dplr import KERNEL, MODES, dplr_delta_rule  # noqa: F401 (KERNEL: read by backend_report)
from rnnzoo.ops.varlen import packable


def _check(q, k, v, p, g, beta, initial_state, mode, chunk_size):
    check_mode("comba", mode, MODES)
    check_chunk_size("comba", chunk_size)
    if q.dim() != 4 or v.dim() != 4 or q.shape[1] == 0 or k.shape != q.shape or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"comba: q, k must be [B, T, H, K] and v [B, T, H, V] with T >= 1, got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    if p.shape != q.shape:
        raise ValueError(f"comba: p must be [B, T, H, K] like q {tuple(q.shape)}, got {tuple(p.shape)}")
    if g.shape != q.shape[:3] or beta.shape != q.shape[:3]:
        raise ValueError(f"comba: g and beta must be [B, T, H]={list(q.shape[:3])}, got g {tuple(g.shape)}, "
                         f"beta {tuple(beta.shape)}")
    b, _, h, dk = q.shape
    if initial_state is not None and tuple(initial_state.shape) != (b, h, dk, v.shape[-1]):
        raise ValueError(f"comba: initial_state must be [B, H, K, V]={[b, h, dk, v.shape[-1]]}, "
                         f"got {tuple(initial_state.shape)}")


def _recurrent(q, k, v, p, g, beta, s):
    """The loop of the equation (steps by unbind: indexing [:, t] makes backward O(T^2))."""
    out = []
    for q_t, k_t, v_t, p_t, g_t, b_t in zip(*(x.unbind(1) for x in (q, k, v, p, g, beta))):
        u = b_t[..., None] * (v_t - torch.einsum("bhkv,bhk->bhv", s, p_t))  # reads S_{t-1}, before the decay
        s = g_t.exp()[..., None, None] * s + k_t[..., None] * u[..., None, :]
        out.append(torch.einsum("bhk,bhkv->bhv", q_t, s))
    return torch.stack(out, 1), s


@packable("comba")
@autocast_safe
def comba(q, k, v, p, g, beta, scale=None, initial_state=None, output_final_state=False, mode="auto",
          chunk_size=64):
    """Comba: S_t = (exp(g_t) I - beta_t k_t p_tᵀ) S_{t-1} + beta_t k_t v_tᵀ, o_t = S_tᵀ (scale q_t) (see the module
    docstring).

    q, k, p: [B, T, H, K]; v: [B, T, H, V]; g (log decay, <= 0), beta: [B, T, H]; initial_state: [B, H, K, V].
    scale=None means K**-0.5. Returns (o [B, T, H, V] in q's dtype, S_T [B, H, K, V] float32 (float64 for float64
    inputs) or None).
    """
    _check(q, k, v, p, g, beta, initial_state, mode, chunk_size)
    dtype = q.dtype
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    q, k, v, p, g, beta, s0 = upcast(q, k, v, p, g, beta, initial_state, op="comba")
    if mode != "recurrent":  # chunk, kernel or auto: dplr_delta_rule's
        k_beta = beta[..., None] * k
        o, s = dplr_delta_rule(q, k_beta, v, p, -k_beta, g[..., None].expand_as(k), scale=scale, initial_state=s0,
                               output_final_state=True, mode=mode, chunk_size=chunk_size)
    else:
        b, _, h, dk = q.shape
        s0 = q.new_zeros(b, h, dk, v.shape[-1]) if s0 is None else s0
        o, s = _recurrent(q * scale, k, v, p, g, beta, s0)
    return o.to(dtype), (s if output_final_state else None)
