"""Log-linear attention (Guo et al. 2025, Log-Linear Attention): ``log_linear_attention`` (log-linear Mamba-2, scalar
decay) and ``log_linear_gated_delta_rule`` (log-linear Gated DeltaNet, a delta-rule transition per level).

The prefix of query t is split by a Fenwick tree into O(log t) buckets: key s is in level

    level(t, s) = 0 if s = t, else bit_length(t XOR s)      (absolute positions, 0-based)

(level l >= 1 holds the keys that agree with t on bits >= l and have bit l-1 clear where t has it set). The output
weights each level's contribution by a data-dependent level scale lambda_t^(l) >= 0 (sec. 3, eq. 3-4):

    o_t = scale sum_s lambda_t^(level(t, s)) q_tᵀ P_{t,s} k_s v_sᵀ          O = (Q Kᵀ ⊙ M^S ⊙ M^H) V

with P_{t,s} the transitions between s and t: exp(g_{s+1} + ... + g_t) (Mamba-2) or the product of
exp(g_r)(I - beta_r k_r k_rᵀ) (Gated DeltaNet, whose writes are beta_s k_s v_sᵀ). ``hierarchical_mask`` is M^H.

Recurrent form (sec. 3.1, the reference, ``mode="recurrent"``): one state S^(l) [K, V] per level. At token t > 0
the levels 0..z (z = trailing zeros of t) merge into level z+1 (the Fenwick tree advances), every level takes the
transition, level 0 becomes the new write, and o_t = scale sum_l lambda_t^(l) S^(l)ᵀ q_t. After n tokens the state
has ``num_levels(n)`` = ceil(log2 n) + 1 levels (levels with the bit of t clear are zero).

``mode="chunk"`` (sec. 3.2's chunkwise algorithm, on the CPU): chunks of C = 2^c tokens aligned to absolute
positions, so a pair within a chunk has level <= c (an intra-chunk C x C masked matrix M^S ⊙ M^H) and a pair across
chunks has level c + bit_length(chunk_t XOR chunk_s): a Fenwick tree over chunks whose level states are passed by a
loop over chunks (one K x K transition per chunk and level). The chunk's transition, its write and its readout of
the incoming states come from the UT transform W = (I + L)^{-1} diag(beta), L = strictly lower beta_i exp(b_i - b_j)
k_i·k_j (W = I without beta); the last chunk is padded with tokens that neither decay nor write, and its writes are
split by their level relative to the last real token, so the final state has the recurrent form's exact layout.
Tokens before the first aligned position (a call continuing at an unaligned offset) run the recurrent form.
"""

from __future__ import annotations

import torch

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_mode, upcast
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk")


def num_levels(n: int) -> int:
    """Levels of the Fenwick state after n tokens: 0 for n = 0, else ceil(log2 n) + 1."""
    return 0 if n == 0 else (n - 1).bit_length() + 1


def level_index(t: int, offset: int = 0, device=None) -> torch.Tensor:
    """[t, t] int64: level(offset + i, offset + j) for j <= i, -1 above the diagonal."""
    pos = torch.arange(offset, offset + t, device=device)
    x = pos[:, None] ^ pos[None, :]
    lev = torch.zeros_like(x)
    nz = x > 0
    lev[nz] = torch.floor(torch.log2(x[nz].double())).long() + 1
    return torch.where(pos[:, None] >= pos[None, :], lev, torch.full_like(lev, -1))


def hierarchical_mask(level_scales: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """level_scales: [B, T, H, L] -> M^H [B, H, T, T] with M^H[t, s] = lambda_t^(level(t, s)) for s <= t, 0 above
    (positions offset + t; needs L >= num_levels(offset + T))."""
    b, t, h, n = level_scales.shape
    lev = level_index(t, offset, level_scales.device)
    lam = level_scales.permute(0, 2, 1, 3)  # [B, H, T, L]
    m = lam.gather(-1, lev.clamp(min=0).expand(b, h, t, t))
    return m * (lev >= 0)


def _check(op, q, k, v, g, beta, level_scales, initial_state, offset, mode, chunk_size):
    check_mode(op, mode, MODES)
    check_chunk_size(op, chunk_size)
    if chunk_size & (chunk_size - 1):
        raise ValueError(f"{op}: chunk_size must be a power of two, got {chunk_size}")
    if q.dim() != 4 or v.dim() != 4 or q.shape[1] == 0 or k.shape != q.shape or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"{op}: q, k must be [B, T, H, K] and v [B, T, H, V] with T >= 1, got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    bt, t, h, dk = q.shape
    if g.shape != q.shape[:3] or (beta is not None and beta.shape != q.shape[:3]):
        raise ValueError(f"{op}: g and beta must be [B, T, H]={list(q.shape[:3])}, got g {tuple(g.shape)}"
                         + ("" if beta is None else f", beta {tuple(beta.shape)}"))
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"{op}: offset must be an int >= 0 (tokens before q[:, 0]), got {offset!r}")
    need = num_levels(offset + t)
    if level_scales.dim() != 4 or level_scales.shape[:3] != q.shape[:3] or level_scales.shape[3] < need:
        raise ValueError(f"{op}: level_scales must be [B, T, H, L] with L >= num_levels(offset + T)={need}, "
                         f"got {tuple(level_scales.shape)} for q {tuple(q.shape)}, offset {offset}")
    want = (bt, num_levels(offset), h, dk, v.shape[-1])
    if initial_state is not None and tuple(initial_state.shape) != want:
        raise ValueError(f"{op}: initial_state must be [B, num_levels(offset), H, K, V]={list(want)}, "
                         f"got {tuple(initial_state.shape)}")


def _merge(s: torch.Tensor, t: int) -> torch.Tensor:
    """Levels 0..z of state s [B, L, ...] merged into level z+1 (z = trailing zeros of t > 0), levels 0..z zeroed."""
    z = (t & -t).bit_length() - 1
    if s.shape[1] < z + 2:
        s = torch.cat((s, s.new_zeros(s.shape[0], z + 2 - s.shape[1], *s.shape[2:])), 1)
    return torch.cat((torch.zeros_like(s[:, :z + 1]), s[:, :z + 2].sum(1, keepdim=True), s[:, z + 2:]), 1)


def _recurrent(q, k, v, g, beta, lam, s, offset):
    """The recurrent form, token by token; s: [B, L, H, K, V] after ``offset`` tokens."""
    out = []
    steps = zip(q.unbind(1), k.unbind(1), v.unbind(1), g.unbind(1), (g if beta is None else beta).unbind(1),
                lam.unbind(1))
    for i, (q_t, k_t, v_t, g_t, b_t, lam_t) in enumerate(steps):
        if offset + i > 0:
            s = _merge(s, offset + i)
        if beta is not None:  # each level's own delta step: S - beta k (kᵀ S)
            s = s - (b_t[:, None, :, None, None] * k_t[:, None, :, :, None]
                     * torch.einsum("bhk,blhkv->blhv", k_t, s)[:, :, :, None, :])
            k_t = b_t[..., None] * k_t
        s = g_t.exp()[:, None, :, None, None] * s
        s = torch.cat(((k_t[..., None] * v_t[..., None, :])[:, None], s[:, 1:]), 1)
        out.append(torch.einsum("bhk,blhkv,bhl->bhv", q_t, s, lam_t[..., :s.shape[1]]))
    return torch.stack(out, 1), s


def _chunk_terms(q, k, g, beta, c):
    """Per chunk of c tokens: the intra-chunk matrix M^S [B, N, H, C, C], the readout Qeff [B, N, C, H, K] of the
    incoming state (o_i = Qeff_i S), the chunk's transition of a state ([B, N, H, 1, 1] scalar decay or [B, N, H, K, K])
    and R [B, N, H, K, C], the map from the chunk's values to its write at the chunk end (write = R V)."""
    b, t, h, dk = q.shape
    n = t // c
    q, k = (x.reshape(b, n, c, h, -1) for x in (q, k))
    cum = g.reshape(b, n, c, h).cumsum(2).transpose(2, 3)  # [B, N, H, C] in-chunk log decay to token i
    causal = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
    decay = torch.where(causal, cum[..., :, None] - cum[..., None, :], float("-inf")).exp()  # exp(b_i - b_j) <= 1
    m = torch.einsum("bnihk,bnjhk->bnhij", q, k) * decay
    eb = cum.exp().transpose(2, 3)[..., None]  # [B, N, C, H, 1]
    kend = (k * (cum[..., -1:] - cum).exp().transpose(2, 3)[..., None]).permute(0, 1, 3, 4, 2)  # exp(b_C - b_j) k_j
    end = cum[..., -1].exp()[..., None, None]  # [B, N, H, 1, 1]
    if beta is None:
        return m, q * eb, end, kend
    bt = beta.reshape(b, n, c, h).transpose(2, 3)  # [B, N, H, C]
    lower = bt[..., :, None] * torch.einsum("bnihk,bnjhk->bnhij", k, k) * decay.tril(-1)
    eye = torch.eye(c, dtype=q.dtype, device=q.device)
    w = torch.linalg.solve_triangular(eye + lower, torch.diag_embed(bt), upper=False)  # (I + L)^{-1} diag(beta)
    m = m @ w
    ke = (k * eb).transpose(2, 3)  # [B, N, H, C, K]
    r = kend @ w
    trans = end * torch.eye(dk, dtype=q.dtype, device=q.device) - r @ ke
    return m, q * eb - (m @ ke).transpose(2, 3), trans, r


def _chunk(q, k, v, g, beta, lam, s, offset, c):
    """From position offset (a multiple of c) on, in chunks of c (the last one padded with tokens that neither
    decay nor write); s [B, L, H, K, V] after offset tokens."""
    b, t, h, dk = q.shape
    pad = -t % c
    if pad:
        q, k, v, g, lam = (torch.cat((x, x.new_zeros(b, pad, *x.shape[2:])), 1) for x in (q, k, v, g, lam))
        beta = None if beta is None else torch.cat((beta, beta.new_zeros(b, pad, h)), 1)
    bits, n = c.bit_length() - 1, (t + pad) // c
    if lam.shape[-1] <= bits:  # padded positions of a short sequence reach levels no real query has
        lam = torch.cat((lam, lam.new_zeros(*lam.shape[:3], bits + 1 - lam.shape[-1])), -1)
    m, qeff, trans, r = _chunk_terms(q, k, g, beta, c)
    v, lam = v.reshape(b, n, c, h, -1), lam.reshape(b, n, c, h, -1)
    write = r @ v.transpose(2, 3)  # [B, N, H, K, V]
    lev = level_index(c, 0, q.device)  # intra-chunk levels (positions mod c)
    mh = lam.permute(0, 1, 3, 2, 4).gather(-1, lev.clamp(min=0).expand(b, n, h, c, c)) * (lev >= 0)
    o = ((m * mh) @ v.transpose(2, 3)).transpose(2, 3)  # [B, N, C, H, V]
    # token levels 0..c of the last token before the chunk are one chunk level; level c + l is chunk level l
    cs = torch.cat((s[:, :bits + 1].sum(1, keepdim=True), s[:, bits + 1:]), 1) if s.shape[1] else s
    inter = []
    for i in range(n):
        if offset // c + i > 0:
            cs = _merge(cs, offset // c + i)
        # chunk level 0 of the incoming state is empty (just merged); chunk level l is token level c + l
        inter.append(torch.einsum("bchk,blhkv,bchl->bchv", qeff[:, i], cs[:, 1:],
                                  lam[:, i, :, :, bits + 1:bits + cs.shape[1]]))
        cs = trans[:, i, None] * cs if beta is None else trans[:, i, None] @ cs
        cs = torch.cat((write[:, i, None], cs[:, 1:]), 1) if cs.shape[1] else write[:, i, None]
    o = (o + torch.stack(inter, 1)).reshape(b, n * c, h, -1)[:, :t]
    # the last chunk's writes split by their level relative to the last real token
    last = lev[(t - 1) % c]
    onehot = torch.nn.functional.one_hot(last.clamp(min=0), bits + 1).to(q.dtype) * (last >= 0)[:, None]
    own = torch.einsum("bhkj,jl,bjhv->blhkv", r[:, -1], onehot, v[:, -1])
    return o, torch.cat((own, cs[:, 1:]), 1)[:, :num_levels(offset + t)]


def _run(op, q, k, v, g, beta, level_scales, scale, initial_state, output_final_state, offset, mode, chunk_size):
    dtype = q.dtype
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    q, k, v, g, beta, lam, s = upcast(q, k, v, g, beta, level_scales, initial_state, op=op)
    bt, t, h, dk = q.shape
    s = q.new_zeros(bt, num_levels(offset), h, dk, v.shape[-1]) if s is None else s
    q = q * scale
    parts = [(0, t)]
    if mode == "chunk":
        head = min(t, -offset % chunk_size)  # up to the first position aligned to the chunks
        parts = [(0, head), (head, t)]
    out = []
    for i, (lo, hi) in enumerate(parts):
        if hi == lo:
            continue
        x = [None if y is None else y[:, lo:hi] for y in (q, k, v, g, beta, lam)]
        o, s = (_chunk(*x, s, offset + lo, chunk_size) if i == 1 else _recurrent(*x, s, offset + lo))
        out.append(o)
    return torch.cat(out, 1).to(dtype), (s if output_final_state else None)


@packable("log_linear_attention")
@autocast_safe
def log_linear_attention(q, k, v, g, level_scales, scale=None, initial_state=None, output_final_state=False,
                         offset=0, mode="chunk", chunk_size=64):
    """Log-linear Mamba-2 / linear attention with scalar decay (Guo et al. 2025, eq. 3-4 with M^S = exp(segsum g)).

    q, k: [B, T, H, K]; v: [B, T, H, V]; g: [B, T, H] log decay (<= 0); level_scales: [B, T, H, L] (lambda_t^(l),
    L >= num_levels(offset + T)); offset: tokens before q[:, 0] (the Fenwick tree uses absolute positions);
    initial_state: [B, num_levels(offset), H, K, V] the level states after ``offset`` tokens (None: zero).
    chunk_size must be a power of two; scale=None means K**-0.5.
    Returns (o [B, T, H, V] in q's dtype, [B, num_levels(offset + T), H, K, V] float32 (float64 for float64 inputs)
    or None).
    """
    _check("log_linear_attention", q, k, v, g, None, level_scales, initial_state, offset, mode, chunk_size)
    return _run("log_linear_attention", q, k, v, g, None, level_scales, scale, initial_state, output_final_state,
                offset, mode, chunk_size)


@packable("log_linear_gated_delta_rule")
@autocast_safe
def log_linear_gated_delta_rule(q, k, v, g, beta, level_scales, scale=None, initial_state=None,
                                output_final_state=False, offset=0, mode="chunk", chunk_size=64):
    """Log-linear Gated DeltaNet (Guo et al. 2025, sec. 3.3): every level takes the transition
    exp(g_t)(I - beta_t k_t k_tᵀ); the write beta_t k_t v_tᵀ enters level 0.

    q, k: [B, T, H, K]; v: [B, T, H, V]; g (log decay, <= 0), beta: [B, T, H]; level_scales: [B, T, H, L] with
    L >= num_levels(offset + T); offset, initial_state, chunk_size, scale as ``log_linear_attention``.
    Returns (o [B, T, H, V] in q's dtype, [B, num_levels(offset + T), H, K, V] float32 (float64 for float64 inputs)
    or None).
    """
    _check("log_linear_gated_delta_rule", q, k, v, g, beta, level_scales, initial_state, offset, mode, chunk_size)
    return _run("log_linear_gated_delta_rule", q, k, v, g, beta, level_scales, scale, initial_state,
                output_final_state, offset, mode, chunk_size)
