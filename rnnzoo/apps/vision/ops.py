"""Recurrences over images: ConvS5's state scan over frames, pLSTM's source-transition-mark scan over a 2-D
grid and LightNet's additive-decay scan over a 2-D grid (``lightnet2d``, its docstring), each with its
reference loop beside the parallel form (tests/apps/vision/test_ops.py: equal forward and backward).

ConvS5 (Smith, De Mello, Kautz, Linderman & Byeon 2023, Convolutional State Space Models for Long-Range
Spatiotemporal Modeling, Eq. 6-7): with a pointwise (diagonal) state matrix the recurrence
X_t = A_bar * X_{t-1} + B_bar * U_t (B_bar * U_t: a convolution, done for all frames at once by the caller)
is an elementwise linear scan over time at every pixel and state channel, so training runs it as one
parallel scan (``rnnzoo.ops.scan.diagonal_scan``, chunked) and generation runs the same recurrence one frame
at a time (``convs5_step``).

pLSTM (Pöppel, ..., Hochreiter 2025, pLSTM: parallelizable Linear Source Transition Mark networks, Sec. 3)
on a 2-D grid read as a DAG whose cell (i, j) receives an edge from its left and its top neighbour and sends
one right and one down. Per head, with scalar gates:
  C^r_ij = T^{r,l}_ij C^r_{i,j-1} + T^{r,t}_ij C^d_{i-1,j} + S^r_ij k_ij v_ij^T     (edge state going right)
  C^d_ij = T^{d,l}_ij C^r_{i,j-1} + T^{d,t}_ij C^d_{i-1,j} + S^d_ij k_ij v_ij^T     (edge state going down)
  y_ij   = q_ij^T (M^l_ij C^r_{i,j-1} + M^t_ij C^d_{i-1,j} + D_ij k_ij v_ij^T)
``plstm2d_ref`` visits the cells in topological (raster) order carrying the matrix states C. ``plstm2d``
(the parallel form) never builds a state: it computes the gate matrix G[cell, source] = the sum over all
monotone paths from the source to the cell of the products of S, T and M along them, for all cells at once
in X + Y - 2 synchronous sweeps (each sweep extends every path by one edge; the longest path has X + Y - 2),
then y = (G * (q k^T)) v, as in the paper's attention-like parallel form.
"""

from __future__ import annotations

import torch

from rnnzoo.ops.scan import diagonal_scan


def convs5_scan(bu: torch.Tensor, log_a: torch.Tensor, state: torch.Tensor | None = None,
                mode: str = "chunk") -> tuple[torch.Tensor, torch.Tensor]:
    """X_t = exp(log_a) * X_{t-1} + bu_t for all frames. bu: [B, T, P, H, W] (B_bar * U_t, already convolved),
    log_a: [P] (<= 0, per state channel), state: [B, P, H, W] or None (zeros).
    Returns (X [B, T, P, H, W], X_T [B, P, H, W]). mode: "chunk" (parallel scan) or "recurrent"."""
    g = log_a[:, None, None].expand(bu.shape[2:]).expand_as(bu)
    x, last = diagonal_scan(bu, g, state, output_final_state=True, mode=mode)
    return x, last.to(bu.dtype)


def convs5_scan_ref(bu: torch.Tensor, log_a: torch.Tensor, state: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The loop over frames of ``convs5_scan`` (same arguments and returns), one ``convs5_step`` per frame."""
    x = bu.new_zeros(bu[:, 0].shape) if state is None else state
    out = []
    for t in range(bu.shape[1]):
        x = convs5_step(bu[:, t], log_a, x)
        out.append(x)
    return torch.stack(out, 1), x


def convs5_step(bu_t: torch.Tensor, log_a: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    """One frame: X_t = exp(log_a) * X_{t-1} + bu_t. bu_t, state: [B, P, H, W]; log_a: [P] -> [B, P, H, W]."""
    return log_a.exp()[:, None, None] * state + bu_t


def plstm2d(q, k, v, source, transition, mark, direct) -> torch.Tensor:
    """The parallel form (module docstring). q, k: [B, X, Y, H, Dk]; v: [B, X, Y, H, Dv];
    source: [B, X, Y, H, 2] (to the right, down); transition: [B, X, Y, H, 2, 2] (out: right, down; in: from
    the left, from the top); mark: [B, X, Y, H, 2] (from the left, from the top); direct: [B, X, Y, H].
    Returns y [B, X, Y, H, Dv]."""
    b, nx, ny, h, _ = q.shape
    n = nx * ny
    eye = torch.eye(n, dtype=q.dtype, device=q.device).view(nx, ny, n)  # [X, Y, source]
    # E[..., o, src]: path sums from each source cell to the edge leaving (i, j) in direction o
    src = source.permute(0, 3, 1, 2, 4)[..., None] * eye[None, None, :, :, None]  # [B, H, X, Y, 2, N]
    tr = transition.permute(0, 3, 1, 2, 4, 5)[..., None]  # [B, H, X, Y, 2, 2, 1]
    e = src
    for _ in range(nx + ny - 2):
        inc = _incoming(e)  # [B, H, X, Y, 2 (in), N]
        e = tr[..., 0, :] * inc[..., 0:1, :] + tr[..., 1, :] * inc[..., 1:2, :] + src  # elementwise: no 2x2 bmm
    inc = _incoming(e)
    m = mark.permute(0, 3, 1, 2, 4)[..., None]
    g = m[..., 0, :] * inc[..., 0, :] + m[..., 1, :] * inc[..., 1, :]
    g = g + direct.permute(0, 3, 1, 2)[..., None] * eye  # [B, H, X, Y, N]
    qk = torch.einsum("bxyhd,bnhd->bhxyn", q, k.reshape(b, n, h, -1))
    return torch.einsum("bhxyn,bnhd->bxyhd", g * qk, v.reshape(b, n, h, -1))


def _incoming(e: torch.Tensor) -> torch.Tensor:
    """[B, H, X, Y, 2, N] edge values leaving each cell -> those entering it: (from the left, from the top)."""
    left = torch.nn.functional.pad(e[:, :, :, :-1, 0], (0, 0, 1, 0))  # cell (i, j) gets (i, j-1)'s right edge
    top = torch.nn.functional.pad(e[:, :, :-1, :, 1], (0, 0, 0, 0, 1, 0))  # and (i-1, j)'s down edge
    return torch.stack([left, top], 4)


def plstm2d_ref(q, k, v, source, transition, mark, direct) -> torch.Tensor:
    """The recurrent form: cells in raster order, matrix states on the edges (module docstring). Same
    arguments and return as ``plstm2d``."""
    b, nx, ny, h, dk = q.shape
    zero = q.new_zeros(b, h, dk, v.shape[-1])
    right = [[zero] * ny for _ in range(nx)]
    down = [[zero] * ny for _ in range(nx)]
    y = []
    for i in range(nx):
        for j in range(ny):
            c_l = right[i][j - 1] if j > 0 else zero
            c_t = down[i - 1][j] if i > 0 else zero
            kv = k[:, i, j, :, :, None] * v[:, i, j, :, None, :]  # [B, H, Dk, Dv]

            def gate(x):
                return x[..., None, None]

            mem = gate(mark[:, i, j, :, 0]) * c_l + gate(mark[:, i, j, :, 1]) * c_t + gate(direct[:, i, j]) * kv
            y.append(torch.einsum("bhd,bhde->bhe", q[:, i, j], mem))
            t = transition[:, i, j]
            right[i][j] = gate(t[..., 0, 0]) * c_l + gate(t[..., 0, 1]) * c_t + gate(source[:, i, j, :, 0]) * kv
            down[i][j] = gate(t[..., 1, 0]) * c_l + gate(t[..., 1, 1]) * c_t + gate(source[:, i, j, :, 1]) * kv
    return torch.stack(y, 1).view(b, nx, ny, h, -1)


def lightnet2d(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """LightNet's additive decay over a 2-D grid (Qin et al. 2024, You Only Scan Once, eq. 5-8, with the
    prefix of cell (i, j) the rectangle of cells (i' <= i, j' <= j)): per key channel c,
      S_ij[c] = sum_{prefix} exp(k[c]) v / sum_{prefix} exp(k[c]),   o_ij = silu(q_ij)^T S_ij / sqrt(d_k).
    The parallel form: the unnormalised sums as one cumulative sum along each axis, shifted by the grid's
    largest key per channel (the normaliser cancels the shift). q, k: [B, X, Y, H, Dk]; v: [B, X, Y, H, Dv].
    Returns o [B, X, Y, H, Dv]."""
    # one shift for the whole grid (sums need a common one): a cell whose prefix holds only keys far below the
    # channel's largest would underflow to 0 / 0, so the sums run in float64 (~700 of headroom, not ~80)
    k64 = k.double()
    w = (k64 - k64.amax((1, 2), keepdim=True)).exp()
    num = (w[..., None] * v.double()[..., None, :]).cumsum(1).cumsum(2)  # [B, X, Y, H, Dk, Dv]
    den = w.cumsum(1).cumsum(2)
    s = (num / den[..., None]).to(q.dtype)
    return torch.einsum("bxyhc,bxyhcd->bxyhd", torch.nn.functional.silu(q) * k.shape[-1] ** -0.5, s)


def lightnet2d_ref(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The scan of ``lightnet2d``: cells in raster order, carrying the normalised state S [B, H, Dk, Dv] and
    the log normaliser z [B, H, Dk] of each cell. By inclusion-exclusion over the prefix rectangles,
      z_ij = log(e^{z_{i-1,j}} + e^{z_{i,j-1}} - e^{z_{i-1,j-1}} + e^{k_ij})
      S_ij = e^{z_{i-1,j} - z_ij} S_{i-1,j} + e^{z_{i,j-1} - z_ij} S_{i,j-1} - e^{z_{i-1,j-1} - z_ij} S_{i-1,j-1}
             + e^{k_ij - z_ij} v_ij (each key channel c its own row S[c])
    i.e. LightNet's decay gate exp(z_prev - z) applied along both axes. Same arguments and return."""
    b, nx, ny, h, dk = q.shape
    empty = (q.new_zeros(b, h, dk, v.shape[-1]), q.new_full((b, h, dk), float("-inf")))
    states = {}
    out = []
    for i in range(nx):
        for j in range(ny):
            (s_u, z_u), (s_l, z_l), (s_d, z_d) = (states.get(c, empty) for c in ((i - 1, j), (i, j - 1), (i - 1, j - 1)))
            kk = k[:, i, j]
            m = torch.maximum(torch.maximum(z_u, z_l), kk)  # finite: kk is
            z = m + ((z_u - m).exp() + (z_l - m).exp() - (z_d - m).exp() + (kk - m).exp()).log()

            def gate(zp):
                return (zp - z).exp()[..., None]

            s = gate(z_u) * s_u + gate(z_l) * s_l - gate(z_d) * s_d + gate(kk) * v[:, i, j, :, None, :]
            states[i, j] = (s, z)
            out.append(torch.einsum("bhc,bhcd->bhd", torch.nn.functional.silu(q[:, i, j]) * dk ** -0.5, s))
    return torch.stack(out, 1).view(b, nx, ny, h, -1)
