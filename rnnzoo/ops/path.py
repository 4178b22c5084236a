"""``path_attention``: PaTH attention (Yang et al. 2025, PaTH Attention: Position Encoding via Accumulating
Householder Transformations, eq. 2-4): softmax attention whose position transform between key j and query i is
the product of the data-dependent Householder-like matrices of the tokens in between,

    H_t = I - beta_t w_t w_tᵀ,    P_{j->i} = H_i H_{i-1} ... H_{j+1}
    o_i = sum_{j<=i} softmax_j(scale · q_iᵀ P_{j->i} k_j + F_i - F_j) v_j,    F_i = sum_{l<=i} g_l

(P_{i->i} = I; ``g`` = log forget gates, optional: FoX's forget gate on top, Lin et al. 2025). Layout
``[B, T, H, D]``. As in ``forgetting_attention`` the queries are the last ``Tq`` of the ``Tk`` keys: the first
``Tk - Tq`` are a cache whose keys are already transformed up to the last cached token (the decode cache of
PaTH), ``w, beta`` belong to the ``Tq`` new tokens, ``g`` to every key, ``k_valid`` [B, Tk] marks cache slots
that hold a real token. With ``output_final_state`` the op also returns every key transformed up to the last
token, ``P_{j->T} k_j`` [B, Tk, H, K]: the next call's cache.

Modes: ``"recurrent"`` (the reference) builds, per query, the explicit K x K products P_{j->i} (O(T^2 K^2):
tiny shapes only). ``"chunk"`` (default) is the UT form of the paper (Sec. 3.2): in a chunk of C tokens the
product of its Householders is I - Wᵀ diag(beta) M W with M = (I + L)^{-1}, L_ts = (w_t·w_s) beta_s for s < t,
and any contiguous run of tokens uses the same M restricted to that run (M is the inverse of a lower-triangular
matrix). In-chunk logits are q_i·k_j - sum_{j<s<=t<=i} (q_i·w_t) beta_t M_ts (w_s·k_j); across chunks the query
is carried back to the start of its chunk and then through each earlier chunk's dense K x K product, the key
forward to the end of its chunk: O(T^2 K + T C^2) work, one row of query chunks at a time; the cached keys are
updated by each chunk's low-rank form (O(L K) per decoded token).
"""

from __future__ import annotations

import torch

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.attention import attention_mask
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk")


def _check(q, k, v, w, beta, g, mode, chunk_size):
    check_mode("path_attention", mode, MODES)
    check_chunk_size("path_attention", chunk_size)
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4 or k.shape[:3] != v.shape[:3] or q.shape[0] != k.shape[0] \
            or q.shape[2:] != k.shape[2:] or q.shape[1] == 0:
        raise ValueError(f"path_attention: q must be [B, Tq, H, K] (Tq >= 1), k [B, Tk, H, K] and v [B, Tk, H, V]; "
                         f"got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if k.shape[1] < q.shape[1]:
        raise ValueError(f"path_attention: need at least as many keys as queries, got Tq={q.shape[1]}, "
                         f"Tk={k.shape[1]}")
    if w.shape != q.shape or beta.shape != q.shape[:3]:
        raise ValueError(f"path_attention: w must be [B, Tq, H, K]={tuple(q.shape)} and beta [B, Tq, H], got w "
                         f"{tuple(w.shape)}, beta {tuple(beta.shape)}")
    if g is not None and g.shape != k.shape[:3]:
        raise ValueError(f"path_attention: g must be [B, Tk, H]={tuple(k.shape[:3])}, got {tuple(g.shape)}")


@packable("path_attention")
@autocast_safe
def path_attention(q, k, v, w, beta, g=None, scale=None, k_valid=None, output_final_state=False, mode="chunk",
                   chunk_size=64):
    """q, w: [B, Tq, H, K]; k: [B, Tk, H, K]; v: [B, Tk, H, V]; beta: [B, Tq, H]; g: [B, Tk, H] log forget gates
    or None; k_valid: [B, Tk] bool or None. scale=None means K**-0.5.

    Returns (o [B, Tq, H, V] in q's dtype, keys transformed to the last token [B, Tk, H, K] in the compute dtype,
    or None)."""
    _check(q, k, v, w, beta, g, mode, chunk_size)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    dtype = q.dtype
    q, k, v, w, beta, g = upcast(q, k, v, w, beta, g, op="path_attention")
    q, k, v, w = (t.transpose(1, 2) for t in (q, k, v, w))  # [B, H, T, D]
    beta = beta.transpose(1, 2)
    bias = _forget_bias(g, q.shape[2], k.shape[2], k_valid, q)  # [B, H, Tq, Tk]
    run = _recurrent if mode == "recurrent" else _chunk
    o, keys = run(q * scale, k, v, w, beta, bias, chunk_size)
    return o.transpose(1, 2).to(dtype), (keys.transpose(1, 2) if output_final_state else None)


def _forget_bias(g, tq, tk, k_valid, like):
    """F_i - F_j (0 without gates) with -inf where key j is masked: [B, H, Tq, Tk] (or [Tq, Tk]); None when
    there is neither a gate nor a mask beyond causality."""
    if g is None and k_valid is None:
        return None
    mask = attention_mask(tq, tk, None, k_valid, like.device)
    bias = torch.zeros(mask.shape, dtype=like.dtype, device=like.device)
    if g is not None:
        g = g.transpose(1, 2)
        g64 = g.to(torch.float32 if g.device.type == "mps" else torch.float64)  # long sums: see forgetting_attention
        r = g64.flip(-1).cumsum(-1).flip(-1) - g64  # r_j = sum_{l>j} g_l
        bias = bias + (r[..., None, :] - r[..., tk - tq:, None]).to(like.dtype)
    return bias.masked_fill(~mask, float("-inf"))


def _householder(x, w_t, b_t):
    """H_t x = x - beta_t w_t (w_t·x) for x [..., n, K], w_t [..., K], b_t [...]."""
    return x - b_t[..., None, None] * w_t[..., None, :] * (x @ w_t[..., :, None])


def _recurrent(q, k, v, w, beta, bias, chunk_size):
    """Per query i: logits q_iᵀ P_{j->i} k_j with the products P built explicitly, right to left in j."""
    B, H, tq, K = q.shape
    tk = k.shape[2]
    eye = torch.eye(K, dtype=q.dtype, device=q.device).expand(B, H, K, K)
    out = []
    for i in range(tq):
        p = tk - tq + i  # this query's key index
        P, logits = eye, []
        for j in range(p, -1, -1):
            logits.append(torch.einsum("bhk,bhkl,bhl->bh", q[:, :, i], P, k[:, :, j]))
            if j >= tk - tq:  # a new token: its Householder joins the product for the keys before it
                n = j - (tk - tq)
                P = _householder(P, w[:, :, n], beta[:, :, n])  # P H_j (rows times the symmetric H_j)
        logits = torch.stack(logits[::-1], -1)
        if bias is not None:
            logits = logits + bias[..., i, : p + 1]
        out.append(torch.einsum("bhj,bhjd->bhd", logits.softmax(-1), v[:, :, : p + 1]))
    keys = k
    for n in range(tq):  # every key before new token n through H_n: keys transformed to the last token
        j = tk - tq + n
        keys = torch.cat((_householder(keys[:, :, :j], w[:, :, n], beta[:, :, n]), keys[:, :, j:]), 2)
    return torch.stack(out, 2), keys


def _chunk(q, k, v, w, beta, bias, chunk_size):
    B, H, tq, K = q.shape
    tk, c = k.shape[2], min(chunk_size, tq)
    cache = tk - tq
    kn = k[:, :, cache:]
    pad = -tq % c
    if pad:  # padding tokens: w = 0, beta = 0 (H = I), their queries and keys are dropped
        q, kn, w = (torch.nn.functional.pad(t, (0, 0, 0, pad)) for t in (q, kn, w))
        beta = torch.nn.functional.pad(beta, (0, pad))
    n = q.shape[2] // c
    qc, kc, wc = (t.reshape(B, H, n, c, K) for t in (q, kn, w))
    bc = beta.reshape(B, H, n, c)
    eye = torch.eye(c, dtype=q.dtype, device=q.device)
    lower = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
    strict = lower.tril(-1)
    ww = wc @ wc.transpose(-1, -2)  # [B, H, n, C, C]
    M = torch.linalg.solve_triangular(eye + (ww * bc[..., None, :]).masked_fill(~strict, 0),
                                      eye.expand_as(ww), upper=False, unitriangular=True)
    bM = bc[..., None] * M  # diag(beta) M
    qw = (qc @ wc.transpose(-1, -2)).masked_fill(~lower, 0)  # (q_i·w_t), t <= i
    wk = (wc @ kc.transpose(-1, -2)).masked_fill(~strict, 0)  # (w_s·k_j), s > j
    intra = qc @ kc.transpose(-1, -2) - qw @ bM @ wk  # [B, H, n, C, C]
    q_start = qc - qw @ bM @ wc  # queries carried back to the start of their chunk
    k_end = kc - (bM @ wk).transpose(-1, -2) @ wc  # keys carried forward to the end of their chunk
    P = torch.eye(K, dtype=q.dtype, device=q.device) - wc.transpose(-1, -2) @ bM @ wc  # chunk products [.., K, K]
    out = []
    for ci in range(n):
        blocks, qcur = [intra[:, :, ci].masked_fill(~lower, float("-inf"))], q_start[:, :, ci]
        for cj in range(ci - 1, -1, -1):
            blocks.append(qcur @ k_end[:, :, cj].transpose(-1, -2))
            qcur = qcur @ P[:, :, cj]
        blocks.append(qcur @ k[:, :, :cache].transpose(-1, -2))
        logits = torch.cat(blocks[::-1], -1)[..., : cache + (ci + 1) * c]  # [B, H, C, keys up to this chunk]
        rows = slice(ci * c, min((ci + 1) * c, tq))
        logits = logits[:, :, : rows.stop - rows.start, : cache + rows.stop]
        if bias is not None:
            logits = logits + bias[:, :, rows, : cache + rows.stop]
        out.append(logits.softmax(-1) @ v[:, :, : cache + rows.stop])
    return torch.cat(out, 2), _final_keys(k[:, :, :cache], k_end, P, wc, bM, tq)


def _final_keys(k_cache, k_end, P, wc, bM, tq):
    """Every key through the products of the chunks after its own: [B, H, Tk, K]. New keys by dense suffix products
    (O(T K^2)); cached keys by each chunk's low-rank form K - (K Wᵀ) (diag(beta) M)ᵀ W (O(L Tq K), which a decoding
    step of one token keeps at O(L K))."""
    S = torch.eye(P.shape[-1], dtype=P.dtype, device=P.device).expand(*P.shape[:2], -1, -1)
    parts = []
    for ci in range(P.shape[2] - 1, -1, -1):
        parts.append(k_end[:, :, ci] @ S.transpose(-1, -2))
        S = S @ P[:, :, ci]
    for ci in range(P.shape[2]):
        k_cache = k_cache - (k_cache @ wc[:, :, ci].transpose(-1, -2)) @ bM[:, :, ci].transpose(-1, -2) @ wc[:, :, ci]
    parts.append(k_cache)
    return torch.cat(parts[::-1], 2)[:, :, : k_cache.shape[2] + tq]
