"""Chimera's 2-D linear recurrence over (time, variate), as a reference loop and an anti-diagonal parallel form.

Chimera (Behrouz et al. 2024, Chimera: Effectively Modeling Multivariate Time Series with 2-Dimensional State
Space Models) splits the state of cell (t, v) into a time-direction part h1 and a variate-direction
part h2, with diagonal transitions:

    h1[t, v] = a1[t, v] * h1[t-1, v] + a2[t, v] * h2[t-1, v] + u1[t, v]
    h2[t, v] = a3[t, v] * h1[t, v-1] + a4[t, v] * h2[t, v-1] + u2[t, v]

(states outside the grid are zero). Every tensor is [B, T, V, D]; both functions return (h1, h2), each
[B, T, V, D]. Cell (t, v) reads only cells of the anti-diagonal t + v - 1, so ``scan2d`` computes one
anti-diagonal at a time, all its cells at once: T + V - 1 sequential steps instead of T * V.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def _check(*xs: Tensor) -> None:
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) != 1 or xs[0].dim() != 4:
        raise ValueError(f"scan2d: u1, u2, a1, a2, a3, a4 must share one shape [B, T, V, D], got "
                         f"{[tuple(x.shape) for x in xs]}")


def scan2d_ref(u1: Tensor, u2: Tensor, a1: Tensor, a2: Tensor, a3: Tensor, a4: Tensor) -> tuple[Tensor, Tensor]:
    """The recurrence cell by cell, in time then variate order (the equations of the module docstring)."""
    _check(u1, u2, a1, a2, a3, a4)
    B, T, V, D = u1.shape
    zero = u1.new_zeros(B, D)
    h1 = [[zero] * V for _ in range(T)]
    h2 = [[zero] * V for _ in range(T)]
    for t in range(T):
        for v in range(V):
            p1, p2 = (h1[t - 1][v], h2[t - 1][v]) if t else (zero, zero)
            q1, q2 = (h1[t][v - 1], h2[t][v - 1]) if v else (zero, zero)
            h1[t][v] = a1[:, t, v] * p1 + a2[:, t, v] * p2 + u1[:, t, v]
            h2[t][v] = a3[:, t, v] * q1 + a4[:, t, v] * q2 + u2[:, t, v]
    return (torch.stack([torch.stack(row, 1) for row in h1], 1), torch.stack([torch.stack(row, 1) for row in h2], 1))


def _skew(x: Tensor) -> Tensor:
    """[B, V, T, D] -> [B, V, V + T - 1, D] with out[:, v, v + t] = x[:, v, t], zeros elsewhere."""
    B, V, T, D = x.shape
    padded = torch.nn.functional.pad(x, (0, 0, 0, V))  # [B, V, T + V, D]
    return padded.flatten(1, 2)[:, :V * (T + V - 1)].reshape(B, V, T + V - 1, D)


def _unskew(x: Tensor, T: int) -> Tensor:
    """The inverse of ``_skew``: [B, V, V + T - 1, D] -> [B, V, T, D]."""
    B, V, W, D = x.shape
    flat = torch.nn.functional.pad(x.flatten(1, 2), (0, 0, 0, V))  # rows of W + 1 after re-folding
    return flat.reshape(B, V, W + 1, D)[:, :, :T]


def scan2d(u1: Tensor, u2: Tensor, a1: Tensor, a2: Tensor, a3: Tensor, a4: Tensor) -> tuple[Tensor, Tensor]:
    """The same recurrence, one anti-diagonal d = t + v per step (all its cells at once): equal to
    ``scan2d_ref``. A diagonal is indexed by v, so a step costs O(V): series have few variates."""
    _check(u1, u2, a1, a2, a3, a4)
    T = u1.shape[1]
    # skewed coefficients are zero off the grid, so off-grid cells stay exactly zero; diagonal axis first,
    # contiguous, so that each step reads whole blocks
    skewed = torch.stack([_skew(x.transpose(1, 2)) for x in (u1, u2, a1, a2, a3, a4)])
    skewed = skewed.permute(3, 0, 1, 2, 4).contiguous()  # [W, 6, B, V, D]
    W, _, B, V, D = skewed.shape
    s1, s2 = u1.new_zeros(B, V, D), u1.new_zeros(B, V, D)
    out1, out2 = [], []
    for d in range(W):
        c1, c2, b1, b2, b3, b4 = skewed[d]
        # (t-1, v) sits at row v of the previous diagonal, (t, v-1) at row v-1
        q1 = torch.nn.functional.pad(s1[:, :-1], (0, 0, 1, 0))
        q2 = torch.nn.functional.pad(s2[:, :-1], (0, 0, 1, 0))
        s1, s2 = b1 * s1 + b2 * s2 + c1, b3 * q1 + b4 * q2 + c2
        out1.append(s1)
        out2.append(s2)
    h1, h2 = (_unskew(torch.stack(o, 2), T).transpose(1, 2) for o in (out1, out2))
    return h1, h2
