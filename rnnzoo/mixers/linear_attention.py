"""``linear_attention``: multi-head linear attention with a positive feature map (Katharopoulos et al.
2020, Transformers are RNNs, eq. 4-6), laid out as flash-linear-attention's ``LinearAttention`` layer:

    q, k = phi(W_q x), phi(W_k x),  v = W_v x;   S_t = S_{t-1} + k_t v_tᵀ;   o_t = S_tᵀ q_t / sqrt(K)
    y = W_o RMSNorm_head(o)

phi = elu+1 by default (the paper's choice and fla's default); ``normalize=True`` divides by the
running normaliser q_tᵀ z_t (eq. 6; fla leaves it off and relies on the output RMSNorm instead).
Also defines ``LinearMixer``, the shared body of every mixer here whose memory is one of the
``linear_attention`` / ``simple_gla`` / ``gla`` ops: chunk form for sequences, recurrent form for ``step``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.ops.linear_attention import linear_attention

FEATURE_MAPS = {"elu": lambda x: F.elu(x) + 1, "relu": F.relu, "identity": lambda x: x}


@dataclass
class HeadsConfig(MixerConfig):
    num_heads: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1 or self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")


class LinearMixer(Mixer):
    """Shared body: ``_mix(x, state, mode)`` runs the whole layer with the op in ``mode``."""

    def _mix(self, x: torch.Tensor, state: State, mode: str) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def _forward(self, x, state):
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        return self._mix(x, state, "chunk")

    def _step(self, x_t, state):
        y, state = self._mix(x_t.unsqueeze(1), state, "recurrent")
        return y[:, 0], state

    def _heads(self, x: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """[B, T, H*D] -> [B, T, H, D]."""
        return x.view(*x.shape[:2], n or self.num_heads, -1)


@dataclass
class LinearAttentionConfig(HeadsConfig):
    feature_map: str = "elu"
    normalize: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.feature_map not in FEATURE_MAPS:
            raise ValueError(f"feature_map must be one of {sorted(FEATURE_MAPS)}, got {self.feature_map!r}")


@register("linear_attention")
class LinearAttention(LinearMixer):
    """Linear attention (elu+1 features); state S [B, H, D, D] (plus z [B, H, D] when normalize)."""

    config_class = LinearAttentionConfig
    paper = "Katharopoulos et al. 2020, Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention"
    state_formula = "d_model * d_model / num_heads (+ d_model with normalize)"
    fast_path = "chunkwise linear attention (simple_gla with g=0)"

    def __init__(self, config: LinearAttentionConfig):
        super().__init__(config)
        d = config.d_model
        self.num_heads, self.head_dim = config.num_heads, d // config.num_heads
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.norm = GatedRMSNorm(d, group_size=self.head_dim, eps=1e-5)
        self.phi = FEATURE_MAPS[config.feature_map]

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        s = torch.zeros(batch_size, self.num_heads, self.head_dim, self.head_dim, device=device, dtype=dtype)
        return (s, s[..., 0].clone()) if self.config.normalize else (s,)

    def _mix(self, x, state, mode):
        q, k = (self._heads(self.phi(p(x))) for p in (self.q_proj, self.k_proj))
        v = self._heads(self.v_proj(x))
        normalize = self.config.normalize
        o, s = linear_attention(q, k, v, initial_state=state if normalize else state[0], output_final_state=True,
                                normalize=normalize, mode=mode)
        y = self.o_proj(self.norm(o.reshape(x.shape)))
        return y, tuple(t.to(x.dtype) for t in (s if normalize else (s,)))
