"""Test-time-learned memory: the state is the weights of a small model trained online on (k, v) pairs.

One op, ``memory_update``, covers Titans (Behrouz et al. 2025, Titans: Learning to Memorize at Test Time,
eqs. 13-14), ATLAS's Omega rule (Behrouz et al. 2025, ATLAS: Learning to Optimally Memorize the Context at
Test Time, eq. 9) and the Miras family (Behrouz et al. 2025, It's All Connected, eqs. 24-27). Per token t,
with ``A`` the memory's raw parameters and ``W = R(A)`` the parameters the memory is read with:

    u_t = sum_{i=t-c+1..t} gamma_i grad_W l(W_anchor; k_i, v_i, delta_i)    (Omega window c; c=1: Titans)
    S_t = eta_t S_{t-1} - theta_t u_t            (momentum; without it S_t = -theta_t u_t)
    A_t = a_t A_{t-1} + S_t                      (a_t = exp(log_decay_t) = 1 - alpha_t, the forget gate)
    o_t = M(R(A_t); q_t)

- memory ``M``: "linear": M(x) = x W (W: [K, V]); "mlp": M(x) = x + LN(GELU(x W1) W2) (W1: [K, E], W2:
  [E, V]; the residual of Titans' deep memory and the output LayerNorm (no affine) of Miras Sec. 5.4 and
  TTT-MLP, which makes the update shrink as W2 grows, so the memory does not diverge; needs K == V).
- attentional bias ``l(W; k, v)`` on r = M(k) - v: "l2" ½||r||²; "lp" (1/p) sum_j (r_j² + eps)^{p/2}
  (Moneta; eps smooths |r| at 0 as Miras' approximation does); "huber" ½||r||² if ||r|| <= delta else
  delta sqrt(||r||² + eps) (Yaad; the l1 branch on the residual norm).
- retention ``R``: "l2" R(A) = A (weight decay through a_t: Titans, ATLAS, Yaad); "lq" R(A) =
  A / max(1, ||A||_q)^{q-2} per weight matrix (Moneta eq. 24, W = A / ||A||_q^{q-2}, kept from blowing up
  for small A); "kl" R(A) = softmax(A) over the last axis (Memora eq. 27: softmax(a log W_{t-1} - theta grad)
  equals softmax(a A_{t-1} - theta grad) because softmax ignores the per-row constant of the log).

Gradients are taken at the *anchor*: the memory at the start of the current chunk of ``chunk_size``
tokens (mini-batch gradient descent, as Titans Sec. 3.2 and TTT train in parallel; chunk_size=1 is the
per-token rule of the papers). Chunks are aligned to absolute positions (``state.pos``), so a sequence
split across calls or fed token by token gives exactly the same outputs.

``mode="recurrent"`` is the loop above with the gradient from autograd on the loss itself.
``mode="chunk"`` runs each chunk in parallel: all gradients at the anchor in closed form (batched over
the chunk, the MLP backward written out), then decay and momentum as one coefficient matrix
``Coef[t, i]`` (products of masked cumulative-decay matrices, every exponent <= 0) so that
``A_t = B_t A_0 + c_t S_0 - sum_i Coef[t, i] G_i`` with G_i the outer-product gradients. For ``R = id``
the readout never forms A_t (the dual form of TTT: ``x A_t = B_t x A_0 + c_t x S_0 - (Coef * x Lᵀ) Rgt``);
for the nonlinear retentions A_t is formed per token ([B, H, C, K, V] per chunk). Loop over chunks only.

Layout ``[B, T, H, D]``; gates ``[B, T, H]`` (one per head); ``log_decay`` and ``log_momentum`` are
log-space (<= 0), ``lr`` (theta) >= 0. There is no ``scale``: the memory reads ``q`` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from rnnzoo.ops._common import autocast_safe, check_chunk_size, check_float, check_mode, checking_values, compute_dtype
from rnnzoo.ops.varlen import packable

MODES = ("recurrent", "chunk")
MEMORIES = ("linear", "mlp")
BIASES = ("l2", "lp", "huber")
RETENTIONS = ("l2", "lq", "kl")
_EPS = 1e-6


@dataclass(frozen=True)
class MemoryRule:
    """What the memory is and how it learns: architecture, attentional bias, retention, Omega window."""

    memory: str = "linear"
    bias: str = "l2"
    p: float = 3.0  # exponent of the "lp" bias
    retention: str = "l2"
    q: float = 4.0  # exponent of the "lq" retention
    window: int = 1  # Omega rule context c: tokens whose loss each update sums

    def __post_init__(self) -> None:
        for name, value, valid in (("memory", self.memory, MEMORIES), ("attentional bias", self.bias, BIASES),
                                   ("retention", self.retention, RETENTIONS)):
            if value not in valid:
                raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
        if self.window < 1:
            raise ValueError(f"Omega window c must be >= 1, got {self.window}")
        if self.p < 1:
            raise ValueError(f"lp bias needs p >= 1, got {self.p}")
        if self.q < 2:
            raise ValueError(f"lq retention needs q >= 2, got {self.q}")


class MemoryState(NamedTuple):
    """params: A, ([B,H,K,V],) or ([B,H,K,E], [B,H,E,V]); anchor: A at the current chunk's start;
    momentum: S like params, or () without momentum; window: the last c-1 tokens' (k [B,c-1,H,K],
    v [B,c-1,H,V], weight [B,c-1,H] (gamma, 0 = empty slot)[, delta [B,c-1,H]]), () when c = 1;
    pos: [B] int64 tokens seen (all equal: chunks are aligned to it)."""

    params: tuple
    anchor: tuple
    momentum: tuple
    window: tuple
    pos: torch.Tensor


def init_memory_state(params: tuple, rule: MemoryRule, momentum: bool, huber_delta: bool = False) -> MemoryState:
    """The state before any token: memory ``params`` (each [B, H, ...], e.g. a learned init expanded to
    the batch), zero momentum, an empty Omega window."""
    b, h, dk = params[0].shape[:3]
    dv = params[-1].shape[-1]
    win = ()
    if rule.window > 1:
        z = params[0].new_zeros
        win = (z(b, rule.window - 1, h, dk), z(b, rule.window - 1, h, dv), z(b, rule.window - 1, h))
        win = win + ((z(b, rule.window - 1, h),) if huber_delta else ())
    mom = tuple(torch.zeros_like(a) for a in params) if momentum else ()
    pos = torch.zeros(b, dtype=torch.long, device=params[0].device)
    return MemoryState(tuple(params), tuple(params), mom, win, pos)


# -- the memory, its loss and its gradient -------------------------------------------------------
def retain(rule: MemoryRule, a: torch.Tensor) -> torch.Tensor:
    """W = R(A) for one weight matrix A [..., m, n]."""
    if rule.retention == "l2":
        return a
    if rule.retention == "kl":
        return a.softmax(-1)
    norm = (a.abs().pow(rule.q).sum((-2, -1), keepdim=True) + _EPS).pow(1 / rule.q)
    return a / norm.clamp(min=1).pow(rule.q - 2)


def predict(rule: MemoryRule, ws, x: torch.Tensor) -> torch.Tensor:
    """M(W; x): x [..., N, K] with weights [..., K, V] (or W1 [..., K, E], W2 [..., E, V]) -> [..., N, V]."""
    if rule.memory == "linear":
        return x @ ws[0]
    return x + _layer_norm(F.gelu(x @ ws[0]) @ ws[1])


def _layer_norm(y: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(y, y.shape[-1:], eps=_EPS)


def bias_loss(rule: MemoryRule, r: torch.Tensor, delta: torch.Tensor | None) -> torch.Tensor:
    """l(r) per token, r: [..., V] -> [...]."""
    if rule.bias == "l2":
        return 0.5 * r.pow(2).sum(-1)
    if rule.bias == "lp":
        return (r.pow(2) + _EPS).pow(rule.p / 2).sum(-1) / rule.p
    sq = r.pow(2).sum(-1)
    return torch.where(sq <= delta.pow(2), 0.5 * sq, delta * (sq + _EPS).sqrt())


def bias_grad(rule: MemoryRule, r: torch.Tensor, delta: torch.Tensor | None) -> torch.Tensor:
    """dl/dr in closed form (what ``bias_loss`` differentiates to)."""
    if rule.bias == "l2":
        return r
    if rule.bias == "lp":
        return r * (r.pow(2) + _EPS).pow(rule.p / 2 - 1)
    sq = r.pow(2).sum(-1, keepdim=True)
    return torch.where(sq <= delta[..., None].pow(2), r, delta[..., None] * r * (sq + _EPS).rsqrt())


def _gelu_grad(z: torch.Tensor) -> torch.Tensor:
    cdf = 0.5 * (1 + torch.erf(z * 0.5 ** 0.5))
    return cdf + z * torch.exp(-0.5 * z * z) * (2 * torch.pi) ** -0.5


def grad_factors(rule: MemoryRule, ws, k, v, delta):
    """Per-token gradients of l(M(W; k_i), v_i) as outer products: [(left_i, right_i) per weight matrix],
    grad_W = left_iᵀ right_i. k [..., N, K], v [..., N, V], delta [..., N] or None."""
    if rule.memory == "linear":
        e = bias_grad(rule, k @ ws[0] - v, delta)
        return [(k, e)]
    z = k @ ws[0]
    h = F.gelu(z)
    y = h @ ws[1]
    mu, rstd = y.mean(-1, keepdim=True), (y.var(-1, unbiased=False, keepdim=True) + _EPS).rsqrt()
    y_hat = (y - mu) * rstd
    e = bias_grad(rule, k + y_hat - v, delta)
    dy = rstd * (e - e.mean(-1, keepdim=True) - y_hat * (e * y_hat).mean(-1, keepdim=True))  # LayerNorm backward
    dz = (dy @ ws[1].transpose(-1, -2)) * _gelu_grad(z)
    return [(k, dz), (h, dy)]


# -- public op -----------------------------------------------------------------------------------
@packable("memory_update")
@autocast_safe
def memory_update(q, k, v, lr, log_decay, log_momentum=None, gamma=None, delta=None, *, rule: MemoryRule,
                  initial_state: MemoryState, output_final_state: bool = False, mode: str = "chunk",
                  chunk_size: int = 16):
    """q, k: [B, T, H, K]; v: [B, T, H, V]; lr, log_decay, log_momentum, gamma (Omega weights), delta
    (Huber threshold): [B, T, H]; initial_state from ``init_memory_state`` or a previous call (it carries
    the memory's initial weights, so it is required). ``chunk_size`` is the mini-batch of the test-time
    gradient descent, part of the model (16 tokens, not the 64 of the other ops' chunked forms, which only
    cut the work).

    Returns (o [B, T, H, V] in q's dtype, MemoryState in float32 (float64 for float64 inputs or weights) or None).
    """
    _check(q, k, v, lr, log_decay, log_momentum, gamma, delta, rule, initial_state, chunk_size, mode)
    in_dtype = q.dtype
    dtype = compute_dtype(q, *initial_state.params, op="memory_update")
    b, t, h, _ = q.shape
    gates = [torch.ones_like(lr) if gamma is None else gamma, lr, log_decay, log_momentum, delta]
    q, k, v, *gates = (None if x is None else x.to(dtype).movedim(1, 2) for x in (q, k, v, *gates))
    st = initial_state
    st = MemoryState(*(tuple(a.to(dtype) for a in part) for part in st[:4]), st.pos)
    st = st._replace(window=tuple(w.to(dtype).movedim(1, 2) for w in st.window))  # [B, H, c-1, ...]
    pos = int(st.pos[0])
    if mode == "chunk" and torch.isneginf(log_decay).any():  # the chunk form's decay differences would be NaN
        raise ValueError('memory_update: mode="chunk" needs a finite log_decay (got -inf); mode="recurrent" takes it')
    run = _recurrent if mode == "recurrent" else _chunk
    outs, start = [], 0
    while start < t:  # segments end on chunk boundaries of the absolute position
        n = min(chunk_size - (pos + start) % chunk_size, t - start)
        if (pos + start) % chunk_size == 0:
            st = st._replace(anchor=st.params)
        seg = [None if x is None else x[:, :, start:start + n] for x in (q, k, v, *gates)]
        o, st = run(rule, *seg, st)
        outs.append(o)
        start += n
    o = torch.cat(outs, 2).movedim(1, 2).to(in_dtype)
    if not output_final_state:
        return o, None
    st = st._replace(window=tuple(w.movedim(1, 2) for w in st.window), pos=st.pos + t)
    return o, st


def _check(q, k, v, lr, log_decay, log_momentum, gamma, delta, rule, st, chunk_size, mode):
    check_mode("memory_update", mode, MODES)
    check_chunk_size("memory_update", chunk_size)
    check_float(q, k, v, lr, log_decay, log_momentum, gamma, delta, op="memory_update")
    if q.dim() != 4 or k.shape != q.shape or v.dim() != 4 or v.shape[:3] != q.shape[:3] or q.shape[1] == 0:
        raise ValueError(f"q, k must be [B, T, H, K] and v [B, T, H, V] with T >= 1; got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    b, t, h, dk = q.shape
    for name, g in (("lr", lr), ("log_decay", log_decay), ("log_momentum", log_momentum), ("gamma", gamma),
                    ("delta", delta)):
        if g is not None and tuple(g.shape) != (b, t, h):
            raise ValueError(f"{name} must be [B, T, H]={[b, t, h]}, got {tuple(g.shape)}")
    if checking_values() and (lr < 0).any():
        raise ValueError(f"lr (theta) must be >= 0, got min {lr.min().item():.3g}")
    if (rule.bias == "huber") != (delta is not None):
        raise ValueError("delta (the Huber threshold) is required with bias='huber' and only then")
    if rule.memory == "mlp" and dk != v.shape[-1]:
        raise ValueError(f"the mlp memory's residual needs K == V, got K={dk}, V={v.shape[-1]}")
    if not isinstance(st, MemoryState):
        raise ValueError("initial_state must be a MemoryState (see init_memory_state)")
    n_w = 1 if rule.memory == "linear" else 2
    if len(st.params) != n_w or len(st.anchor) != n_w or len(st.momentum) not in (0, n_w):
        raise ValueError(f"initial_state holds {len(st.params)} weight matrices, the {rule.memory} memory has {n_w}")
    if (len(st.momentum) > 0) != (log_momentum is not None):
        raise ValueError("initial_state has momentum iff log_momentum is given")
    first, last = st.params[0].shape, st.params[-1].shape
    if first[:3] != (b, h, dk) or last[0] != b or last[1] != h or last[-1] != v.shape[-1]:
        raise ValueError(f"initial_state weights {[tuple(a.shape) for a in st.params]} do not fit "
                         f"B={b}, H={h}, K={dk}, V={v.shape[-1]}")
    want_win = 0 if rule.window == 1 else 3 + (delta is not None)
    if len(st.window) != want_win or any(w.shape[1] != rule.window - 1 for w in st.window):
        raise ValueError(f"initial_state window must hold {want_win} tensors of {rule.window - 1} tokens")
    if checking_values() and (st.pos != st.pos[0]).any():
        raise ValueError(f"all sequences of a batch must be at the same position, got pos {st.pos.tolist()}")


# -- reference -----------------------------------------------------------------------------------
def _gradient(rule, w0, k, v, weight, delta):
    """sum_i weight_i grad_W l(M(W; k_i), v_i) at W = w0, by autograd on the loss. k: [B, H, N, K]."""
    if torch.is_inference_mode_enabled():  # inference tensors cannot enter autograd: the closed form (tested equal)
        return [(left * weight[..., None]).transpose(-1, -2) @ right
                for left, right in grad_factors(rule, w0, k, v, delta)]
    outer = torch.is_grad_enabled()
    with torch.enable_grad():
        # without an outer graph, fresh leaves: a w0 that requires grad may still lie outside this graph
        ws = [w if outer and w.requires_grad else w.detach().requires_grad_() for w in w0]
        loss = (weight * bias_loss(rule, predict(rule, ws, k) - v, delta)).sum()
        return torch.autograd.grad(loss, ws, create_graph=outer)


def _recurrent(rule, q, k, v, weight, lr, log_decay, log_momentum, delta, st):
    """The equations token by token, for tokens that all lie in the chunk of ``st.anchor``."""
    c = rule.window
    win = st.window
    outs = []
    for i in range(q.shape[2]):
        cur = [k[:, :, i:i + 1], v[:, :, i:i + 1], weight[:, :, i:i + 1]]
        cur += [delta[:, :, i:i + 1]] if delta is not None else []
        ctx = [torch.cat((w, x), 2) for w, x in zip(win, cur)] if c > 1 else cur
        w0 = [retain(rule, a) for a in st.anchor]
        g = _gradient(rule, w0, ctx[0], ctx[1], ctx[2], ctx[3] if delta is not None else None)
        theta = lr[:, :, i, None, None]
        if log_momentum is None:
            s = [-theta * gi for gi in g]
        else:
            s = [log_momentum[:, :, i, None, None].exp() * si - theta * gi for si, gi in zip(st.momentum, g)]
        a = log_decay[:, :, i, None, None].exp()
        params = [a * p + si for p, si in zip(st.params, s)]
        outs.append(predict(rule, [retain(rule, p) for p in params], q[:, :, i:i + 1]))
        win = tuple(x[:, :, 1:] for x in ctx) if c > 1 else ()
        st = st._replace(params=tuple(params), momentum=tuple(s) if log_momentum is not None else (), window=win)
    return torch.cat(outs, 2), st


# -- chunk form ----------------------------------------------------------------------------------
def _decay_matrix(log_a: torch.Tensor) -> torch.Tensor:
    """D[t, j] = prod_{j < s <= t} a_s for j <= t, else 0. log_a: [B, H, n] -> [B, H, n, n]."""
    cs = log_a.cumsum(-1)
    diff = cs[..., :, None] - cs[..., None, :]
    n = log_a.shape[-1]
    mask = torch.ones(n, n, dtype=torch.bool, device=log_a.device).tril()
    return diff.masked_fill(~mask, float("-inf")).exp()


def _chunk(rule, q, k, v, weight, lr, log_decay, log_momentum, delta, st):
    """One chunk (or the tail of one) in parallel; all tokens share the gradient point R(st.anchor)."""
    n, c = q.shape[2], rule.window
    cur = [k, v, weight] + ([delta] if delta is not None else [])
    ext = [torch.cat((w, x), 2) for w, x in zip(st.window, cur)] if c > 1 else cur  # [B, H, c-1+n, ...]
    w0 = [retain(rule, a) for a in st.anchor]
    factors = grad_factors(rule, w0, ext[0], ext[1], ext[3] if delta is not None else None)
    # band[m, i] = 1 iff ext token i is in the window of chunk token m (ext index of m is m + c - 1).
    idx_m = torch.arange(n, device=q.device)[:, None]
    idx_i = torch.arange(n + c - 1, device=q.device)[None, :]
    band = ((idx_i >= idx_m) & (idx_i <= idx_m + c - 1)).to(q.dtype)
    d_a = _decay_matrix(log_decay)  # A_t = a_t A_{t-1} + S_t
    if log_momentum is None:
        dec, d_e, c_s = d_a, None, None
    else:  # S_t = eta_t S_{t-1} - theta_t u_t, so A collects D_a @ D_e of the updates and c_t of S_0
        d_e = _decay_matrix(log_momentum)
        dec = d_a @ d_e
        c_s = d_a @ log_momentum.cumsum(-1).exp()[..., None]  # [B, H, n, 1]
    coef = ((dec * lr[..., None, :]) @ band) * ext[2][..., None, :]  # [B, H, n, c-1+n]
    b_t = log_decay.cumsum(-1).exp()[..., None]  # [B, H, n, 1]

    def layer(x, j, rows=slice(None)):
        """x [B, H, n, d_in] read through the j-th weight matrix of A_t (t = each row)."""
        a0 = st.params[j]  # A at the segment start (the anchor is only where gradients are taken)
        (left, right), cf = factors[j], coef[..., rows, :]
        if rule.retention == "l2":  # dual form: A_t never formed
            y = b_t[..., rows, :] * (x @ a0) - (cf * (x @ left.transpose(-1, -2))) @ right
            return y if c_s is None else y + c_s[..., rows, :] * (x @ st.momentum[j])
        a_t = b_t[..., rows, :, None] * a0[..., None, :, :] - torch.einsum("bhti,bhik,bhiv->bhtkv", cf, left, right)
        if c_s is not None:
            a_t = a_t + c_s[..., rows, :, None] * st.momentum[j][..., None, :, :]
        return (x[..., None, :] @ retain(rule, a_t))[..., 0, :]

    if rule.memory == "linear":
        o = layer(q, 0)
    else:
        o = q + _layer_norm(layer(F.gelu(layer(q, 0)), 1))
    last = slice(n - 1, n)
    params = []
    for j, (left, right) in enumerate(factors):
        upd = (coef[..., last, :].transpose(-1, -2) * left).transpose(-1, -2) @ right
        a = b_t[..., last, :] * st.params[j] - upd
        params.append(a if c_s is None else a + c_s[..., last, :] * st.momentum[j])
    mom = ()
    if log_momentum is not None:
        coef_s = ((d_e[..., last, :] * lr[..., None, :]) @ band) * ext[2][..., None, :]  # [B, H, 1, c-1+n]
        e_n = log_momentum.sum(-1)[..., None, None].exp()
        mom = tuple(e_n * s0 - (coef_s.transpose(-1, -2) * left).transpose(-1, -2) @ right
                    for s0, (left, right) in zip(st.momentum, factors))
    win = tuple(x[:, :, x.shape[2] - (c - 1):] for x in ext) if c > 1 else ()
    return o, st._replace(params=tuple(params), momentum=mom, window=win)
