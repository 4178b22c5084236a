"""Mamba's selective scan (S6; Gu & Dao 2023, Mamba, Algorithm 2 and eqs. 2a-2b with ZOH-discretised A and
the simplified Euler B), with the argument names, layouts and semantics of ``mamba_ssm``'s
``selective_scan_ref``, so code written against mamba_ssm runs unchanged:

    delta <- softplus(delta + delta_bias)                        (each optional)
    h_t = exp(delta_t A) * h_{t-1} + delta_t B_t u_t             h: [B, D, N] per token
    y_t = C_t . h_t + D u_t,   out = y * silu(z)                 (D, z optional)

Shapes: ``u, delta, z: [B, D, L]``; ``A: [D, N]`` (real); ``B, C: [D, N]`` (time-invariant), ``[B, N, L]``
(shared by all channels) or ``[B, G, N, L]`` (grouped: channel d uses group d // (D/G)); ``D, delta_bias: [D]``.
Returns ``out [B, D, L]`` or, with ``return_last_state=True``, ``(out, last_state [B, D, N])`` exactly like
mamba_ssm. One extension: ``initial_state: [B, D, N]`` (mamba_ssm always starts from zero), which a mixer
needs to continue a sequence across calls.

Modes: ``"recurrent"`` is mamba_ssm's reference loop over L; ``"chunk"`` (default) runs the chunked
diagonal scan of ``rnnzoo.ops.scan`` on ``[B, L, D, N]``, no loop over tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnzoo.ops.scan import _DiagScan

MODES = ("recurrent", "chunk")


def _check(u, delta, A, B, C, D, z, delta_bias, initial_state, mode):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if u.dim() != 3 or delta.shape != u.shape:
        raise ValueError(f"u and delta must be [B, D, L] with equal shapes, got u {tuple(u.shape)}, "
                         f"delta {tuple(delta.shape)}")
    batch, dim, length = u.shape
    if A.is_complex() or A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be real [D, N] with D={dim}, got {tuple(A.shape)} {A.dtype}")
    n = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        ok = (t.shape == (dim, n) or t.shape == (batch, n, length)
              or (t.dim() == 4 and t.shape[0] == batch and t.shape[2:] == (n, length) and dim % t.shape[1] == 0))
        if not ok:
            raise ValueError(f"{name} must be [D, N]=[{dim}, {n}], [B, N, L]=[{batch}, {n}, {length}] or "
                             f"[B, G, N, L] with G dividing D, got {tuple(t.shape)}")
    for name, t, shape in (("D", D, (dim,)), ("delta_bias", delta_bias, (dim,)), ("z", z, tuple(u.shape)),
                           ("initial_state", initial_state, (batch, dim, n))):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")


def _per_channel(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[B, G, N, L] -> [B, D, N, L] (group g serves channels g*D/G .. (g+1)*D/G - 1)."""
    return t.repeat_interleave(dim // t.shape[1], dim=1)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, initial_state=None, mode="chunk"):
    """Selective scan, mamba_ssm semantics (see module docstring for shapes)."""
    _check(u, delta, A, B, C, D, z, delta_bias, initial_state, mode)
    dtype_in = u.dtype
    up = (lambda t: t if t.dtype == torch.float64 else t.float())
    u, delta, A, B, C = up(u), up(delta), up(A), up(B), up(C)
    if delta_bias is not None:
        delta = delta + up(delta_bias)[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    dim = u.shape[1]
    h0 = None if initial_state is None else up(initial_state)
    if mode == "recurrent":
        y, last = _reference(u, delta, A, B, C, h0)
    else:
        y, last = _chunked(u, delta, A, B, C, h0)
    out = y if D is None else y + u * up(D)[:, None]
    if z is not None:
        out = out * F.silu(up(z))
    out = out.to(dtype_in)
    return (out, last) if return_last_state else out


def _reference(u, delta, A, B, C, h0):
    """mamba_ssm's selective_scan_ref loop: one token at a time."""
    batch, dim, length = u.shape
    dA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    if B.dim() == 2:
        dBu = torch.einsum("bdl,dn,bdl->bdln", delta, B, u)
    elif B.dim() == 3:
        dBu = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    else:
        dBu = torch.einsum("bdl,bdnl,bdl->bdln", delta, _per_channel(B, dim), u)
    if C.dim() == 4:
        C = _per_channel(C, dim)
    h = u.new_zeros(batch, dim, A.shape[1]) if h0 is None else h0
    ys = []
    for i in range(length):
        h = dA[:, :, i] * h + dBu[:, :, i]
        if C.dim() == 2:
            ys.append(torch.einsum("bdn,dn->bd", h, C))
        elif C.dim() == 3:
            ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, i]))
        else:
            ys.append(torch.einsum("bdn,bdn->bd", h, C[:, :, :, i]))
    return torch.stack(ys, dim=2), h


def _chunked(u, delta, A, B, C, h0):
    batch, dim, length = u.shape
    n = A.shape[1]
    g = torch.einsum("bdl,dn->bldn", delta, A)  # log decay, [B, L, D, N]
    du = delta * u
    if B.dim() == 2:
        x = torch.einsum("bdl,dn->bldn", du, B)
    elif B.dim() == 3:
        x = torch.einsum("bdl,bnl->bldn", du, B)
    else:
        G = B.shape[1]
        x = torch.einsum("bghl,bgnl->blghn", du.view(batch, G, dim // G, length), B).reshape(batch, length, dim, n)
    h = _DiagScan.apply(x, g, None, h0)
    if C.dim() == 2:
        y = torch.einsum("bldn,dn->bdl", h, C)
    elif C.dim() == 3:
        y = torch.einsum("bldn,bnl->bdl", h, C)
    else:
        G = C.shape[1]
        y = torch.einsum("blghn,bgnl->bghl", h.view(batch, length, G, dim // G, n), C).reshape(batch, dim, length)
    return y, h[:, -1]
