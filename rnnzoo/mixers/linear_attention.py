"""``linear_attention``: multi-head linear attention with a positive feature map (Katharopoulos et al.
2020, Transformers are RNNs, eq. 4-6), laid out as flash-linear-attention's ``LinearAttention`` layer:

    q, k = phi(W_q x), phi(W_k x),  v = W_v x;   S_t = S_{t-1} + k_t v_tᵀ;   o_t = S_tᵀ q_t / sqrt(K)
    y = W_o RMSNorm_head(o)

phi = elu+1 by default (the paper's choice and fla's default); ``normalize=True`` divides by the
running normaliser q_tᵀ z_t (eq. 6; fla leaves it off and relies on the output RMSNorm instead).
The family's shared parts (``LinearMixer``, ``SquareHeadsMixer``, ``ShortConvConfig``, ``FEATURE_MAPS``)
live in ``rnnzoo.mixers.linear_base``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from rnnzoo.mixers.base import MatrixParts, State
from rnnzoo.mixers.linear_base import FEATURE_MAPS, ShortConvConfig, SquareHeadsMixer
from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.registry import register
from rnnzoo.ops.linear_attention import EPS, linear_attention
from rnnzoo.ops.matrix import scalar_decay_matrix


@dataclass
class LinearAttentionConfig(ShortConvConfig):
    feature_map: str = "elu"
    normalize: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.feature_map not in FEATURE_MAPS:
            raise ValueError(f"feature_map must be one of {sorted(FEATURE_MAPS)}, got {self.feature_map!r}")


@register("linear_attention")
class LinearAttention(SquareHeadsMixer):
    """Linear attention (elu+1 features); state S [B, H, D, D] (plus z [B, H, D] when normalize, plus the
    q, k, v conv windows with use_short_conv)."""

    config_class = LinearAttentionConfig
    paper = "Katharopoulos et al. 2020, Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention"
    state_formula = ("d_model * d_model / num_heads (+ d_model with normalize) "
                     "(+ 3 * (conv_size - 1) * d_model with use_short_conv)")
    fast_path = "compiled CPU loop or chunkwise linear attention (simple_gla with g=0, mode='auto')"
    fast_mode = "auto"
    matrix_form = "scalar decay (g = 0); rows divided by their sum with normalize"
    sequence_parallel = "diagonal"  # rnnzoo.distributed: the state crosses a chunk as T * S + b

    def __init__(self, config: LinearAttentionConfig):
        super().__init__(config)
        d = config.d_model
        self.o_proj = nn.Linear(d, d, bias=False)
        self.norm = GatedRMSNorm(d, group_size=self.head_dim, eps=1e-5)
        self.phi = FEATURE_MAPS[config.feature_map]
        self._init_short_conv(d, d, d)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        s = self._zero_memory(batch_size, device=device, dtype=dtype)
        memory = (s, s[..., 0].clone()) if self.config.normalize else (s,)
        return memory + self._conv_state(batch_size, device=device, dtype=s.dtype)

    def _mix(self, x, state, mode):
        state, windows = self._split_conv_state(state)
        q, k, v, windows = self._qkv(x, windows)
        normalize = self.config.normalize
        o, s = linear_attention(self.phi(q), self.phi(k), v, initial_state=state if normalize else state[0],
                                output_final_state=True, normalize=normalize, mode=mode)
        return self._readout(o, x), tuple(t.to(x.dtype) for t in (s if normalize else (s,))) + windows

    def _readout(self, o, x):
        return self.o_proj(self.norm(o.reshape(x.shape)))

    def _matrix_parts(self, x):
        q, k, v, _ = self._qkv(x, self._conv_state(x.shape[0], device=x.device, dtype=x.dtype))
        m = scalar_decay_matrix(self.phi(q), self.phi(k))
        if self.config.normalize:  # o_t = S_tᵀ q_t / z_tᵀ q_t, and z_tᵀ q_t is row t's sum
            m = m / (m.sum(-1, keepdim=True) + EPS)
        return MatrixParts(m, v, lambda o: self._readout(o, x))
