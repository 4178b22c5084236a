"""Test-time-learned memory mixers: ``titans``, ``titans_mac``, ``atlas``, ``moneta``, ``yaad``, ``memora``.

All share one body (the Miras recipe, Behrouz et al. 2025, It's All Connected, Sec. 5.4, which is also
Titans' memory layer): q, k, v projections, a causal short convolution with SiLU on each, L2-normalised
q and k per head, per-head data-dependent gates from linear projections of x, the memory op
``rnnzoo.ops.memory.memory_update`` and an output RMSNorm * SiLU(W_g x) gate and projection.

    theta_t = max_lr * sigmoid(W_theta x_t)   learning rate          (Titans eq. 13-14)
    alpha_t = sigmoid(W_alpha x_t)            forget gate, log a_t = log(1 - alpha_t) = logsigmoid(-W_alpha x_t)
    eta_t   = sigmoid(W_eta x_t)              momentum (``momentum=True``)
    gamma_t = sigmoid(W_gamma x_t)            Omega-rule weight of token t's loss (``omega_window > 1``)
    delta_t = softplus(W_delta x_t)           Huber threshold (``attentional_bias="huber"``)

The memory is trained with mini-batch gradient descent inside chunks of ``chunk_size`` tokens aligned
to absolute positions; ``step`` reproduces the chunked forward exactly (its state carries the
chunk-start weights, where gradients are taken). The memory's initial weights are learned parameters.

Persistent memory (Titans Sec. 4.1): for ``titans`` (memory as a layer) the ``num_persistent`` learned
tokens are a prefix that the layer reads before the sequence, so they shape the initial state
(``init_state`` runs them through the layer; their outputs are dropped) and the mixer stays a causal,
O(1)-per-token recurrence. ``titans_mac`` uses them as always-visible key/value pairs of its attention.

State: (memory weights A, chunk-start weights, [momentum], [Omega window k, v, gamma(, delta)], pos
[B] int64, conv windows of q, k, v).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.parts import l2norm
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.short_conv import ShortConvolution
from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.memory import MemoryRule, MemoryState, init_memory_state, memory_update
from rnnzoo.ops.rotary import apply_rotary


@dataclass
class MemoryMixerConfig(MixerConfig):
    num_heads: int = 4
    head_dim: int | None = None  # K = V; None: d_model // num_heads
    memory: str = "mlp"  # "linear" (matrix) or "mlp" (x + LN(GELU(x W1) W2))
    expansion: int = 2  # hidden width of the mlp memory = expansion * head_dim
    attentional_bias: str = "l2"  # "l2", "lp", "huber"
    p: float = 3.0  # lp exponent
    retention: str = "l2"  # "l2" (weight decay), "lq", "kl"
    q: float = 4.0  # lq exponent
    omega_window: int = 1  # ATLAS context c: each update sums the losses of the last c tokens
    poly_degree: int = 0  # ATLAS feature map phi(x) = sum_{i=1..p} a_i x^i on q, k (0: none)
    momentum: bool = True
    max_lr: float = 0.1  # theta_t = max_lr * sigmoid(.); a chunk sums chunk_size gradients taken at one point
    num_persistent: int = 4
    conv_size: int = 4
    chunk_size: int = 16
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1:
            raise ValueError(f"num_heads must be >= 1, got {self.num_heads}")
        if self.head_dim is None:
            if self.d_model % self.num_heads:
                raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")
            self.head_dim = self.d_model // self.num_heads
        for name in ("head_dim", "expansion", "conv_size", "chunk_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_lr < 0 or not math.isfinite(self.max_lr):
            raise ValueError(f"max_lr (the memory's learning-rate bound) must be >= 0, got {self.max_lr}")
        if self.num_persistent < 0 or self.poly_degree < 0:
            raise ValueError(f"num_persistent and poly_degree must be >= 0, got {self.num_persistent}, "
                             f"{self.poly_degree}")
        if self.p > 16 or self.q > 16:  # |r|^p of a residual of a few units overflows float32 beyond this
            raise ValueError(f"p and q (the lp / lq exponents) must be <= 16, got p={self.p}, q={self.q}")
        self.rule  # noqa: B018  (validates memory, attentional_bias, retention, omega_window, p, q)

    @property
    def rule(self) -> MemoryRule:
        return MemoryRule(memory=self.memory, bias=self.attentional_bias, p=self.p, retention=self.retention,
                          q=self.q, window=self.omega_window)


@dataclass
class AtlasConfig(MemoryMixerConfig):
    omega_window: int = 4
    poly_degree: int = 2


@dataclass
class MonetaConfig(MemoryMixerConfig):
    attentional_bias: str = "lp"
    retention: str = "lq"
    momentum: bool = False
    expansion: int = 4


@dataclass
class YaadConfig(MemoryMixerConfig):
    attentional_bias: str = "huber"
    momentum: bool = False
    expansion: int = 4


@dataclass
class MemoraConfig(MemoryMixerConfig):
    retention: str = "kl"
    momentum: bool = False
    expansion: int = 4


@dataclass
class TitansMACConfig(MemoryMixerConfig):
    window: int = 64  # sliding-window attention over the last ``window`` tokens (itself included)
    rotary_base: float = 10000.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if self.d_model % self.num_heads or (self.d_model // self.num_heads) % 2:
            raise ValueError(f"attention head dim d_model/num_heads must be an even integer, got "
                             f"{self.d_model}/{self.num_heads}")


class _MemoryMixer(Mixer):
    """Shared body; subclasses set ``config_class`` and, for MAC, add the attention branch."""

    persistent_prefix = True
    fast_mode = "chunk"

    def __init__(self, config: MemoryMixerConfig):
        super().__init__(config)
        d, h, dk = config.d_model, config.num_heads, config.head_dim
        self.rule, self.num_heads, self.head_dim = config.rule, h, dk
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(d, h * dk, bias=False) for _ in range(3))
        self.q_conv, self.k_conv, self.v_conv = (ShortConvolution(h * dk, config.conv_size, bias=False)
                                                 for _ in range(3))
        self.gate_names = ["theta", "alpha"] + ["eta"] * config.momentum + ["gamma"] * (config.omega_window > 1)
        self.gate_names += ["delta"] * (config.attentional_bias == "huber")
        self.gate_proj = nn.Linear(d, h * len(self.gate_names))
        with torch.no_grad():  # forget little at init (alpha ~ 3e-4: 0.9 of a write survives 256 tokens);
            self.gate_proj.bias.zero_().view(len(self.gate_names), h)[1] = -8.0  # the rest start at sigmoid(0)
        e = config.expansion * dk
        if config.memory == "linear":
            shapes = [(h, dk, dk)]
        else:
            shapes = [(h, dk, e), (h, e, dk)]
        # Learned initial memory (meta-learned M_0, Titans Sec. 3.1); the mlp starts as the identity plus
        # a small random hidden path so its gradients are not all zero.
        self.memory_init = nn.ParameterList(
            nn.Parameter(torch.randn(s) * (s[1] ** -0.5 if config.memory == "mlp" and i == 0 else 0.0))
            for i, s in enumerate(shapes))
        if config.memory == "mlp":
            nn.init.normal_(self.memory_init[1], std=0.02)
        if config.poly_degree:
            coeffs = torch.tensor([1 / math.factorial(i) for i in range(1, config.poly_degree + 1)])
            self.poly = nn.Parameter(coeffs.repeat(h, 1))  # [H, degree], a_i = 1/i! (Taylor of exp)
        self.o_norm = GatedRMSNorm(dk, eps=config.norm_eps)
        self.g_proj = nn.Linear(d, h * dk, bias=False)
        self.o_proj = nn.Linear(h * dk, d, bias=False)
        if config.num_persistent:
            self.persistent = nn.Parameter(torch.randn(config.num_persistent, d) * 0.02)

    # -- state --------------------------------------------------------------------------------
    def _n_memory(self) -> int:
        return 1 if self.config.memory == "linear" else 2

    def _raw_state(self, batch_size, device, dtype) -> State:
        params = tuple(p.to(device=device, dtype=dtype).expand(batch_size, *p.shape) for p in self.memory_init)
        mem = init_memory_state(params, self.rule, self.config.momentum, self.config.attentional_bias == "huber")
        convs = tuple(c.init_state(batch_size, device=device, dtype=dtype)
                      for c in (self.q_conv, self.k_conv, self.v_conv))
        return (*mem.params, *mem.anchor, *mem.momentum, *mem.window, mem.pos, *convs)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        state = self._raw_state(batch_size, device, dtype)
        if not (self.persistent_prefix and self.config.num_persistent) or torch.device(device or "cpu").type == "meta":
            return state
        prefix = self.persistent.to(device=device, dtype=dtype).expand(batch_size, *self.persistent.shape)
        return self._mix(prefix, state, self.fast_mode)[1]

    def _unpack(self, state: State) -> tuple[MemoryState, tuple]:
        n = self._n_memory()
        n_mom = n if self.config.momentum else 0
        n_win = 0 if self.config.omega_window == 1 else 3 + (self.config.attentional_bias == "huber")
        parts, i = [], 0
        for size in (n, n, n_mom, n_win):
            parts.append(tuple(state[i:i + size]))
            i += size
        return MemoryState(*parts, state[i]), tuple(state[i + 1:i + 4])

    @staticmethod
    def _pack(mem: MemoryState, convs) -> State:
        return (*mem.params, *mem.anchor, *mem.momentum, *mem.window, mem.pos, *convs)

    # -- forward ------------------------------------------------------------------------------
    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """ATLAS polynomial feature map, element-wise per head: sum_i a_i x^i. x: [B, T, H, K]."""
        if not self.config.poly_degree:
            return x
        powers = torch.stack([x ** i for i in range(1, self.config.poly_degree + 1)], -1)
        return (powers * self.poly.to(x.dtype)[:, None, :]).sum(-1)

    def _memory(self, x, state, mode):
        """Projections, gates and the memory op. x: [B, T, d] -> (o [B, T, H, K], new memory state, convs)."""
        b, t, _ = x.shape
        h, dk = self.num_heads, self.head_dim
        mem, convs = self._unpack(state)
        q, cq = self.q_conv(self.q_proj(x), convs[0])
        k, ck = self.k_conv(self.k_proj(x), convs[1])
        v, cv = self.v_conv(self.v_proj(x), convs[2])
        q = self._features(l2norm(q.view(b, t, h, dk)))
        k = self._features(l2norm(k.view(b, t, h, dk)))
        v = v.view(b, t, h, dk)
        raw = dict(zip(self.gate_names, self.gate_proj(x).float().view(b, t, len(self.gate_names), h).unbind(2)))
        lr = self.config.max_lr * torch.sigmoid(raw["theta"])
        log_decay = F.logsigmoid(-raw["alpha"])
        log_mom = F.logsigmoid(raw["eta"]) if "eta" in raw else None
        gamma = torch.sigmoid(raw["gamma"]) if "gamma" in raw else None
        delta = F.softplus(raw["delta"]) if "delta" in raw else None
        o, mem = memory_update(q, k, v, lr, log_decay, log_mom, gamma, delta, rule=self.rule, initial_state=mem,
                               chunk_size=self.config.chunk_size, output_final_state=True, mode=mode)
        dtype = state[0].dtype
        mem = MemoryState(*(tuple(a.to(dtype) for a in part) for part in mem[:4]), mem.pos)
        return o.to(x.dtype), mem, (cq, ck, cv)

    def _mix(self, x, state, mode):
        o, mem, convs = self._memory(x, state, mode)
        z = self.g_proj(x).view_as(o)
        return self.o_proj(self.o_norm(o, z).flatten(2)), self._pack(mem, convs)


_STATE = "P*(2+momentum) + 3*(conv_size-1)*H*K; P = H*K*K (linear) or 2*H*K*E (mlp, E = expansion*K)"
_STATE_MIRAS = "2*P + 3*(conv_size-1)*H*K; P = 2*H*K*E (E = expansion*K)"


@register("titans")
class Titans(_MemoryMixer):
    """Titans memory as a layer (MAL): M_t = (1 - alpha_t) M_{t-1} + S_t, S_t = eta_t S_{t-1} - theta_t grad
    ½||M(k_t) - v_t||² (Behrouz et al. 2025, Titans, eqs. 13-14), deep (mlp) memory, persistent-token prefix."""

    config_class = MemoryMixerConfig
    paper = "Behrouz, Zhong, Mirrokni 2025, Titans: Learning to Memorize at Test Time"
    state_formula = _STATE
    fast_path = "chunkwise mini-batch GD, dual form (ops.memory.memory_update, mode='chunk')"


@register("atlas")
class Atlas(_MemoryMixer):
    """ATLAS's Omega rule: each update descends sum_{i=t-c+1..t} gamma_i ||M(phi(k_i)) - v_i||², with the
    polynomial feature map phi on q and k and Titans' momentum (Behrouz et al. 2025, ATLAS, eqs. 9-10, Sec. 4)."""

    config_class = AtlasConfig
    paper = "Behrouz et al. 2025, ATLAS: Learning to Optimally Memorize the Context at Test Time"
    state_formula = "P*(2+momentum) + 3*(conv_size-1)*H*K + (c-1)*H*(2K+1); P = H*K*K or 2*H*K*E"
    fast_path = "chunkwise mini-batch GD with banded Omega window (ops.memory.memory_update, mode='chunk')"


@register("moneta")
class Moneta(_MemoryMixer):
    """Moneta (Miras): lp attentional bias (p=3), lq retention A_t = a_t A_{t-1} - theta_t grad, W_t =
    A_t / ||A_t||_q^{q-2} (q=4), 2-layer mlp memory (Behrouz et al. 2025, It's All Connected, eqs. 24-25)."""

    config_class = MonetaConfig
    paper = "Behrouz et al. 2025, It's All Connected: A Journey Through Test-Time Memorization (Moneta)"
    state_formula = _STATE_MIRAS
    fast_path = "chunkwise mini-batch GD, per-token weights formed for the lq normalisation"


@register("yaad")
class Yaad(_MemoryMixer):
    """Yaad (Miras): Huber attentional bias with data-dependent threshold delta_t, l2 retention (weight decay),
    2-layer mlp memory (Behrouz et al. 2025, It's All Connected, eq. 26)."""

    config_class = YaadConfig
    paper = "Behrouz et al. 2025, It's All Connected: A Journey Through Test-Time Memorization (Yaad)"
    state_formula = _STATE_MIRAS
    fast_path = "chunkwise mini-batch GD, dual form (ops.memory.memory_update, mode='chunk')"


@register("memora")
class Memora(_MemoryMixer):
    """Memora (Miras): l2 attentional bias, KL retention W_t = softmax(a_t log W_{t-1} - theta_t grad), rows of
    each weight matrix on the simplex, 2-layer mlp memory (Behrouz et al. 2025, It's All Connected, eq. 27)."""

    config_class = MemoraConfig
    paper = "Behrouz et al. 2025, It's All Connected: A Journey Through Test-Time Memorization (Memora)"
    state_formula = _STATE_MIRAS
    fast_path = "chunkwise mini-batch GD, per-token weights formed for the softmax"


@register("titans_mac")
class TitansMAC(_MemoryMixer):
    """Titans memory as context (MAC), per token: the memory's retrieval for token t becomes an extra
    key/value next to token t, and a sliding-window attention over [persistent k/v, (memory_i, x_i) for the
    last ``window`` tokens] gives the output (Behrouz et al. 2025, Titans, Sec. 4.1, with the
    segment attention replaced by a sliding window so the mixer is a bounded recurrence)."""

    config_class = TitansMACConfig
    paper = "Behrouz, Zhong, Mirrokni 2025, Titans: Learning to Memorize at Test Time (MAC variant)"
    state_formula = "P*(2+momentum) + 3*(conv_size-1)*H*K + 4*(window-1)*d_model; P = H*K*K or 2*H*K*E"
    fast_path = "chunkwise memory + SDPA sliding-window attention (ops.attention.softmax_attention)"
    persistent_prefix = False

    def __init__(self, config: TitansMACConfig):
        super().__init__(config)
        d, h, dk = config.d_model, config.num_heads, config.head_dim
        self.attn_heads, self.attn_dim = h, d // h
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.mem_kv = nn.Linear(h * dk, 2 * d, bias=False)
        if config.num_persistent:
            del self.persistent
            self.persistent_kv = nn.Parameter(torch.randn(2, config.num_persistent, h, d // h) * 0.02)
        self.o_proj = nn.Linear(d, d, bias=False)
        del self.g_proj

    def _cache_len(self) -> int:
        return 2 * (self.config.window - 1)  # memory and token entries interleave

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        cache = torch.zeros(batch_size, self._cache_len(), self.attn_heads, self.attn_dim, device=device, dtype=dtype)
        return (*super().init_state(batch_size, device, dtype), cache, cache.clone())

    def _mix(self, x, state, mode):
        b, t, _ = x.shape
        *mem_state, k_cache, v_cache = state
        pos = self._unpack(mem_state)[0].pos
        o, mem, convs = self._memory(x, tuple(mem_state), mode)
        mk, mv = self.mem_kv(self.o_norm(o).flatten(2)).view(b, t, 2, self.attn_heads, self.attn_dim).unbind(2)
        q, k, v = self.qkv(x).view(b, t, 3, self.attn_heads, self.attn_dim).unbind(2)
        inter = lambda m, z: torch.stack((m, z), 2).flatten(1, 2)  # noqa: E731  [B, 2T, H, D]: m_1, x_1, m_2, ...
        positions = 2 * pos[:, None] + torch.arange(2 * t, device=x.device)
        qi = apply_rotary(inter(q, q), positions, self.config.rotary_base)
        ki = apply_rotary(inter(mk, k), positions, self.config.rotary_base)
        vi = inter(mv, v)
        n_p = self.config.num_persistent
        keys, values = torch.cat((k_cache, ki), 1), torch.cat((v_cache, vi), 1)
        cache_len = self._cache_len()
        slot = torch.arange(cache_len + 2 * t, device=x.device)
        valid = slot[None, :] >= (cache_len - (2 * pos).clamp(max=cache_len))[:, None]
        if n_p:
            pk, pv = (p.to(x.dtype).expand(b, *p.shape) for p in self.persistent_kv)
            keys, values = torch.cat((pk, keys), 1), torch.cat((pv, values), 1)
            valid = torch.cat((valid.new_ones(b, n_p), valid), 1)
        attn = softmax_attention(qi, keys, values, window=2 * self.config.window, k_valid=valid, sinks=n_p)
        y = self.o_proj(attn[:, 1::2].reshape(b, t, -1))
        new_cache = (keys[:, keys.shape[1] - cache_len:], values[:, values.shape[1] - cache_len:])
        return y, (*self._pack(mem, convs), *new_cache)
