"""Causal Combiner attention (Ren et al. 2021, Combiner: Full Attention Transformer with Sparse Computation Cost,
eqs. 3-6: p(j|i) factorised as p(Omega|i) q(j|Omega) over a partition of the keys).

The sequence is cut into regions of ``block_size`` (s) tokens. Query i in region g attends directly to the keys
of its own region up to itself (Omega_i^0) and to one summary per earlier group of regions (Omega_i^r):

    o_i = [ sum_{j in Omega_i^0} e^{q_i.k_j} v_j + sum_r e^{q_i.kbar_r} vbar_r ] / Z_i               (eq. 6)
    Z_i = sum_{j in Omega_i^0} e^{q_i.k_j} + sum_r e^{q_i.kbar_r}
    region summary (the conditional expectation E_{q(j|Omega)}[.]): q(j|Omega) = softmax_{j in Omega}(w.k_j),
    kbar = sum_j q(j|Omega) k_j,  vbar = sum_j q(j|Omega) v_j,  log z = logsumexp_{j in Omega}(w.k_j)

(all dot products scaled by ``scale``, default D^-1/2). ``w: [H, D]`` is a learned per-head summary query, so the
summary of a union of regions is the mix of its parts' summaries weighted by softmax(log z): one region summary
serves every grouping. Partitions of the regions before g:

- ``"fixed"`` (Combiner-Fixed): one summary per earlier region, g summaries; O(L^2/s + L s), O(L sqrt L) at s = sqrt L.
- ``"logsparse"`` (Combiner-Logsparse): the Fenwick decomposition of regions [0, g): for each set bit b of g, the
  aligned group of 2^b regions [((g >> b) - 1) 2^b, (g >> b) 2^b); at most log2(g) + 1 summaries, nearer
  groups finer; O(L s + L log(L/s)).

Layout ``[B, T, H, D]``. The state is a growing cache, (k_buf, v_buf [B, n, H, D]: the n < s tokens of the open
region; k_sum, v_sum [B, R, H, D], log_z [B, R, H]: the summaries of the R closed regions). Modes:
``"recurrent"`` (token by token: attend, append, close a full region into its summary) and ``"chunk"`` (all
regions at once: per-region summaries, the partition's summaries gathered per region, one masked softmax).
"""

from __future__ import annotations

import torch

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk")
PARTITIONS = ("fixed", "logsparse")


def summarize(k, v, w, scale):
    """Region summaries. k, v: [B, R, s, H, D]; w: [H, D] -> (kbar, vbar [B, R, H, D], log_z [B, R, H])."""
    logits = torch.einsum("brshd,hd->brsh", k, w) * scale
    log_z = logits.logsumexp(2)
    p = (logits - log_z[:, :, None]).exp()
    return torch.einsum("brsh,brshd->brhd", p, k), torch.einsum("brsh,brshd->brhd", p, v), log_z


def merge(k_sum, v_sum, log_z):
    """Summaries of unions of regions. k_sum, v_sum: [B, G, n, H, D]; log_z: [B, G, n, H] -> each union's
    (kbar, vbar [B, G, H, D], log_z [B, G, H])."""
    z = log_z.logsumexp(2)
    p = (log_z - z[:, :, None]).exp()
    return torch.einsum("bgnh,bgnhd->bghd", p, k_sum), torch.einsum("bgnh,bgnhd->bghd", p, v_sum), z


def fenwick_groups(g: int) -> list[tuple[int, int]]:
    """The logsparse partition of regions [0, g): [(start, size)] from the farthest group to the nearest."""
    return [(((g >> b) - 1) << b, 1 << b) for b in reversed(range(g.bit_length())) if g >> b & 1]


def _check(q, k, v, w, block_size, partition, initial_state, mode):
    check_mode("combiner_attention", mode, MODES)
    if partition not in PARTITIONS:
        raise ValueError(f"combiner_attention: partition must be one of {PARTITIONS}, got {partition!r}")
    check_chunk_size("combiner_attention", block_size, name="block_size")
    if q.dim() != 4 or q.shape != k.shape or q.shape != v.shape:
        raise ValueError(f"q, k, v must be [B, T, H, D] of one shape, got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if w.shape != q.shape[2:]:
        raise ValueError(f"w must be [H, D]={tuple(q.shape[2:])}, got {tuple(w.shape)}")
    if initial_state is not None:
        k_buf, v_buf, k_sum, v_sum, log_z = initial_state
        b, _, h, d = q.shape
        if (k_buf.shape != v_buf.shape or k_buf.shape[0] != b or k_buf.shape[2:] != (h, d)
                or k_buf.shape[1] >= block_size or k_sum.shape != v_sum.shape or k_sum.shape[0] != b
                or k_sum.shape[2:] != (h, d) or log_z.shape != k_sum.shape[:3]):
            raise ValueError(f"initial_state must be (k_buf, v_buf [B, n<{block_size}, H, D], k_sum, v_sum "
                             f"[B, R, H, D], log_z [B, R, H]) with B, H, D = {b}, {h}, {d}; got "
                             f"{[tuple(t.shape) for t in initial_state]}")


def _empty_state(q):
    b, _, h, d = q.shape
    empty = q.new_zeros(b, 0, h, d)
    return empty, empty, empty, empty, q.new_zeros(b, 0, h)


@packable("combiner_attention")
@autocast_safe
def combiner_attention(q, k, v, w, block_size, partition="fixed", scale=None, initial_state=None,
                       output_final_state=False, mode="chunk"):
    """q, k, v: [B, T, H, D]; w: [H, D] summary query; initial_state as in the module docstring or None.

    Returns (o [B, T, H, D] in q's dtype, final state (k_buf, v_buf, k_sum, v_sum, log_z) float32 (float64 for
    float64 inputs) or None).
    """
    _check(q, k, v, w, block_size, partition, initial_state, mode)
    dtype = q.dtype
    q, k, v, w, *state = upcast(q, k, v, w, *(initial_state or ()), op="combiner_attention")
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    state = _empty_state(q) if initial_state is None else tuple(state)
    run = _recurrent if mode == "recurrent" else _chunk
    o, state = run(q, k, v, w, block_size, partition, scale, state)
    return o.to(dtype), (state if output_final_state else None)


def _group_summaries(k_sum, v_sum, log_z, partition):
    """The summaries query region g = R sees: [B, S, H, D] x2 (fixed: every region; logsparse: Fenwick groups)."""
    if partition == "fixed":
        return k_sum, v_sum
    parts = [merge(k_sum[:, None, a:a + n], v_sum[:, None, a:a + n], log_z[:, None, a:a + n])
             for a, n in fenwick_groups(k_sum.shape[1])]
    if not parts:
        return k_sum[:, :0], v_sum[:, :0]
    return torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1)


def _recurrent(q, k, v, w, s, partition, scale, state):
    k_buf, v_buf, k_sum, v_sum, log_z = state
    outs = []
    for q_t, k_t, v_t in zip(q.unbind(1), k.unbind(1), v.unbind(1)):
        k_buf, v_buf = torch.cat((k_buf, k_t[:, None]), 1), torch.cat((v_buf, v_t[:, None]), 1)
        sk, sv = _group_summaries(k_sum, v_sum, log_z, partition)
        keys, values = torch.cat((k_buf, sk), 1), torch.cat((v_buf, sv), 1)  # Omega^0 then the summaries
        p = (torch.einsum("bhd,bjhd->bhj", q_t, keys) * scale).softmax(-1)
        outs.append(torch.einsum("bhj,bjhd->bhd", p, values))
        if k_buf.shape[1] == s:  # the region is complete: keep its summary, drop its tokens
            kb, vb, lz = summarize(k_buf[:, None], v_buf[:, None], w, scale)
            k_sum, v_sum, log_z = torch.cat((k_sum, kb), 1), torch.cat((v_sum, vb), 1), torch.cat((log_z, lz), 1)
            k_buf, v_buf = k_buf[:, :0], v_buf[:, :0]
    return torch.stack(outs, 1), (k_buf, v_buf, k_sum, v_sum, log_z)


def _chunk(q, k, v, w, s, partition, scale, state):
    k_buf, v_buf, k_sum, v_sum, log_z = state
    b, t, h, d = q.shape
    n0, r0 = k_buf.shape[1], k_sum.shape[1]
    n = n0 + t
    n_regions, n_closed = -(-n // s), n // s
    pad = n_regions * s - n
    # the open region's cached tokens come first (their queries are dummies whose outputs are dropped)
    qr = torch.cat((q.new_zeros(b, n0, h, d), q, q.new_zeros(b, pad, h, d)), 1).view(b, n_regions, s, h, d)
    keys, values = torch.cat((k_buf, k), 1), torch.cat((v_buf, v), 1)
    kr = torch.cat((keys, k.new_zeros(b, pad, h, d)), 1).view(b, n_regions, s, h, d)
    vr = torch.cat((values, v.new_zeros(b, pad, h, d)), 1).view(b, n_regions, s, h, d)
    kb, vb, lz = summarize(kr[:, :n_closed], vr[:, :n_closed], w, scale)
    k_sum, v_sum, log_z = torch.cat((k_sum, kb), 1), torch.cat((v_sum, vb), 1), torch.cat((log_z, lz), 1)
    g = torch.arange(r0, r0 + n_regions, device=q.device)  # global region index of each local region
    direct = torch.einsum("brihd,brjhd->brhij", qr, kr) * scale
    direct = direct.masked_fill(~torch.ones(s, s, dtype=torch.bool, device=q.device).tril(), float("-inf"))
    if partition == "fixed":
        sk, sv = k_sum, v_sum
        summary = torch.einsum("brihd,bjhd->brhij", qr, sk) * scale
        seen = torch.arange(k_sum.shape[1], device=q.device)[None, :] < g[:, None]  # [regions, summaries]
    else:
        sk, sv, seen = _fenwick_summaries(k_sum, v_sum, log_z, g, r0 + n_regions - 1)
        summary = torch.einsum("brihd,brjhd->brhij", qr, sk) * scale
    summary = summary.masked_fill(~seen[None, :, None, None, :], float("-inf"))
    p = torch.cat((direct, summary), -1).softmax(-1)
    o = torch.einsum("brhij,brjhd->brihd", p[..., :s], vr)
    o = o + torch.einsum("brhij," + ("bjhd" if partition == "fixed" else "brjhd") + "->brihd", p[..., s:], sv)
    o = o.reshape(b, n_regions * s, h, d)[:, n0:n]
    return o, (keys[:, n_closed * s:], values[:, n_closed * s:], k_sum, v_sum, log_z)


def _fenwick_summaries(k_sum, v_sum, log_z, g, g_max: int):
    """Per query region g: the Fenwick groups' summaries, one slot per level b (valid where bit b of g is set).
    -> (sk, sv [B, regions, levels, H, D], seen [regions, levels] bool)."""
    b, r, h, d = k_sum.shape
    sks, svs, seen = [], [], []
    for level in range(g_max.bit_length()):
        size, groups = 1 << level, r >> level
        if groups:
            gk, gv, _ = merge(k_sum[:, :groups * size].view(b, groups, size, h, d),
                              v_sum[:, :groups * size].view(b, groups, size, h, d),
                              log_z[:, :groups * size].view(b, groups, size, h))
        else:
            gk = gv = k_sum.new_zeros(b, 1, h, d)
        idx = ((g >> level) - 1).clamp(0, max(groups - 1, 0))
        sks.append(gk[:, idx])
        svs.append(gv[:, idx])
        seen.append((g >> level) & 1 == 1)
    if not sks:
        return k_sum.new_zeros(b, len(g), 0, h, d), k_sum.new_zeros(b, len(g), 0, h, d), \
            torch.zeros(len(g), 0, dtype=torch.bool, device=g.device)
    return torch.stack(sks, 2), torch.stack(svs, 2), torch.stack(seen, 1)
