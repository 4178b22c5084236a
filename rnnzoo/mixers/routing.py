"""Routing Transformer attention (Roy et al. 2021, Efficient Content-Based Sparse Attention with Routing
Transformers), causal: ``num_heads - num_local_heads`` routed heads, in which a query attends to the earlier keys
of its own k-means cluster (``rnnzoo.ops.routing``), beside ``num_local_heads`` sliding-window heads of width
``window`` (the paper's mix of local and routing heads).

Routing: q and k of each routed head are layer-normalised (no scale or bias), put on the unit sphere and sent
to the nearest of ``num_clusters`` centroids of that head. The centroids are a buffer, not parameters, learned by
online k-means with an exponential moving average (eq. 12, decay ``ema_decay``): the update runs at the end of
each ``forward`` in training mode, after the output was computed with the centroids as they were, from the
queries and keys of that call, deterministically (one-hot sums). ``step`` and eval mode never move them, so in eval
(or with ``ema_decay = 1``, a fixed set of centroids) full == split == step. Centroids start as random unit
vectors. Rotary positions (as ``attention``) on q and k after routing (clusters are by content) and before the
scores. State: a growing cache (keys, values, and as uncounted int64 bookkeeping the key cluster ids and the token
count), so ``state_size`` is None, as for ``attention``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.attention import AttentionConfig
from rnnzoo.mixers.base import Mixer, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.rotary import apply_rotary
from rnnzoo.ops.routing import ema_centroids, route, routing_attention


@dataclass
class RoutingAttentionConfig(AttentionConfig):
    """``attention``'s heads, rotary and bias options, and the routing."""

    num_local_heads: int = 2  # heads with sliding-window attention; the others are routed
    num_clusters: int = 4  # k-means centroids per routed head (the paper: about sqrt(T))
    window: int = 64  # keys a local head sees, itself included
    ema_decay: float = 0.999  # centroid EMA decay lambda; 1.0 freezes the centroids

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.num_local_heads < self.num_heads:
            raise ValueError(f"num_local_heads must be in [0, num_heads={self.num_heads}), got {self.num_local_heads}")
        if self.num_clusters < 1:
            raise ValueError(f"num_clusters must be >= 1, got {self.num_clusters}")
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if not 0 <= self.ema_decay <= 1:
            raise ValueError(f"ema_decay must be in [0, 1], got {self.ema_decay}")


@register("routing_attention")
class RoutingAttention(Mixer):
    """Causal routing attention: k-means-routed heads (EMA centroids) beside sliding-window heads."""

    config_class = RoutingAttentionConfig
    paper = "Roy et al. 2021, Efficient Content-Based Sparse Attention with Routing Transformers"
    state_formula = "grows: 2 * T * d_model (KV cache; cluster ids not counted)"
    fast_path = "masked softmax over query blocks (rnnzoo.ops.routing mode='parallel') + SDPA local heads"
    fast_mode = "parallel"

    def __init__(self, config: RoutingAttentionConfig):
        super().__init__(config)
        c = config
        self.num_heads, self.head_dim = c.num_heads, c.d_model // c.num_heads
        self.num_routed = c.num_heads - c.num_local_heads
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model, bias=c.bias)
        self.out_proj = nn.Linear(c.d_model, c.d_model, bias=c.bias)
        self.register_buffer("centroids", F.normalize(torch.randn(self.num_routed, c.num_clusters, self.head_dim), dim=-1))

    @property
    def state_size(self) -> int | None:
        return None

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        cache = torch.zeros(batch_size, 0, self.num_heads, self.head_dim, device=device, dtype=dtype)
        return (cache, cache.clone(), torch.zeros(batch_size, 0, self.num_routed, dtype=torch.long, device=device),
                torch.zeros(batch_size, dtype=torch.long, device=device))

    def _unpad_state(self, state):
        *cache, pos = state
        n = int(pos[0])
        return (*(c[:, c.shape[1] - n:] for c in cache), pos)

    def _mix(self, x, state, mode):
        b, t, _ = x.shape
        k_cache, v_cache, c_cache, pos = state
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).unbind(2)
        r = self.num_routed
        q_cluster, k_cluster = route(q[:, :, :r], self.centroids), route(k[:, :, :r], self.centroids)
        points = torch.cat((q[:, :, :r], k[:, :, :r]), 1).flatten(0, 1).detach()
        positions = pos[:, None] + torch.arange(t, device=x.device)
        q, k = apply_rotary(q, positions, self.config.rotary_base), apply_rotary(k, positions, self.config.rotary_base)
        keys, values = torch.cat((k_cache, k), 1), torch.cat((v_cache, v), 1)
        clusters = torch.cat((c_cache, k_cluster), 1)
        o = routing_attention(q[:, :, :r], keys[:, :, :r], values[:, :, :r], q_cluster, clusters, mode=mode)
        if r < self.num_heads:
            local = softmax_attention(q[:, :, r:], keys[:, :, r:], values[:, :, r:], window=self.config.window,
                                      mode=mode if mode == "recurrent" else "sdpa")
            o = torch.cat((o, local), 2)
        if self.training and mode == self.fast_mode:
            with torch.no_grad():
                self.centroids.copy_(ema_centroids(self.centroids, points, torch.cat((q_cluster, k_cluster), 1)
                                                   .flatten(0, 1), self.config.ema_decay))
        return self.out_proj(o.reshape(b, t, -1)), (keys, values, clusters, pos + t)
