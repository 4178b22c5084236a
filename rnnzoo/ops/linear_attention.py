"""``linear_attention`` (Katharopoulos et al. 2020, Transformers are RNNs, eq. 4-6 / 16-18).

    S_t = S_{t-1} + k_t v_tᵀ,   o_t = S_tᵀ q̃_t,   q̃_t = scale · q_t

With ``normalize=True`` the output is divided by the running normaliser (eq. 6 / 18):

    z_t = z_{t-1} + k_t,        o_t = S_tᵀ q̃_t / (z_tᵀ q̃_t + 1e-10)

(the scale cancels up to the 1e-10, as in flash-linear-attention's ``normalize``). The state is then the
pair ``(S [B, H, K, V], z [B, H, K])``, for ``initial_state`` and the returned final state alike;
without normalisation it is ``S`` alone. Feature maps (elu+1, Taylor, ...) are the mixer's business.

This is ``simple_gla`` with g = 0 (the structural duality), so both modes run simple_gla's code; the
normaliser rides along as one extra value column of ones, i.e. z is column V of an augmented state.
"""

from __future__ import annotations

import torch

from rnnzoo.ops._chunk import check_qkv
from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_float, check_mode
from rnnzoo.ops.simple_gla import KERNEL, MODES, simple_gla_core  # noqa: F401 (KERNEL: read by backend_report)
from rnnzoo.ops.varlen import packable

EPS = 1e-10


@packable("linear_attention")
@autocast_safe
def linear_attention(q, k, v, scale=None, initial_state=None, output_final_state=False, normalize=False,
                     mode="auto", chunk_size=64):
    """q, k: [B, T, H, K]; v: [B, T, H, V]; initial_state: S [B, H, K, V], or (S, z [B, H, K]) when
    normalize=True. Returns (o [B, T, H, V] in q's dtype, final state of the same form, float32 (float64 for
    float64 inputs), or None)."""
    check_mode("linear_attention", mode, MODES)
    check_chunk_size("linear_attention", chunk_size)
    check_float(q, k, v, *(initial_state if isinstance(initial_state, (tuple, list)) else (initial_state,)),
                op="linear_attention")
    if normalize and initial_state is not None:
        if not isinstance(initial_state, (tuple, list)) or len(initial_state) != 2:
            raise ValueError("linear_attention: with normalize=True, initial_state must be the pair (S, z)")
        s0, z0 = initial_state
        if z0.shape != s0.shape[:3]:
            raise ValueError(f"linear_attention: z must be [B, H, K]={list(s0.shape[:3])}, got {tuple(z0.shape)}")
        check_qkv(q, k, v, s0, "linear_attention")
        initial_state = torch.cat((s0, z0[..., None].to(s0.dtype)), -1)
    else:
        if isinstance(initial_state, (tuple, list)):
            raise ValueError("linear_attention: initial_state is the tensor S unless normalize=True")
        check_qkv(q, k, v, initial_state, "linear_attention")
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    if normalize:
        v = torch.cat((v, v.new_ones(*v.shape[:-1], 1)), -1)
    o, s = simple_gla_core(q, k, v, q.new_zeros(q.shape[:3]), scale, initial_state, mode, chunk_size,
                          op="linear_attention")
    if normalize:
        o = o[..., :-1] / (o[..., -1:] + EPS)
        s = (s[..., :-1], s[..., -1])
    return o.to(q.dtype), (s if output_final_state else None)
