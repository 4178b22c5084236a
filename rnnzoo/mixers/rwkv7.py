"""``rwkv7``: the RWKV-7 "Goose" time mix (Peng et al. 2025, RWKV-7 "Goose" with Expressive Dynamic State Evolution,
the RWKV-7 time mixing); the channel mix is the block's MLP.

    xx_t = x_{t-1} - x_t;   x_* = x + xx ⊙ μ_*                                   (token shift, * in r, w, k, v, a, g)
    r, k, v = W_r x_r, W_k x_k, W_v x_v
    w_t = -e^{-1/2} sigmoid(w0 + tanh(x_w W1) W2)                                 (log decay in (-0.607, 0))
    a_t = sigmoid(a0 + x_a A1 A2)                                                 (in-context learning rate)
    g_t = sigmoid(x_g G1) G2                                                      (output gate)
    κ̂_t = normalize_head(k ⊙ ξ);   k̃_t = k ⊙ (1 + (a - 1) ⊙ α)                    (removal key; replacement key)
    S_t = (diag(exp(w_t)) - κ̂_t (a_t ⊙ κ̂_t)ᵀ) S_{t-1} + k̃_t v_tᵀ,  o_t = S_tᵀ r_t   (dplr with a = -κ̂, b = κ̂ ⊙ a)
    y = W_o ((GroupNorm_head(o) + ((r ⊙ k̃ ⊙ ρ)·1) v) ⊙ g)                          (bonus ρ per head and channel)

State [K, V] per head here, the transpose of the paper's [V, K]. Inits are the paper's code (BlinkDL/RWKV-LM,
RWKV-v7 train_temp) at layer position ``depth`` = r0 (r1 = 1 - r0), ramp_i = i / d, linear_n = n/(d-1) - 1/2,
zigzag_n from each head's position: μ_r, μ_g = 1 - ramp^(0.2 r1), μ_w, μ_a = 1 - ramp^(0.9 r1),
μ_k, μ_v = 1 - ramp^(0.7 r1); w0 = -6 + 6 (n/(d-1))^(1 + r0^0.3) + 0.5 + 2.5 zigzag (the paper's w passes
-softplus(-x) - 0.5, whose exp(-exp(.)) is our -e^{-1/2} sigmoid), a0 = -0.19 + 0.3 zigzag + 0.4 linear;
LoRA first factors 0, second factors orthogonal with gain 0.1; ξ = 0.71 - 0.1 linear, α = 1.02, ρ = -0.04;
W_r, W_v ~ U(±0.5/sqrt(d)), W_k ~ U(±0.05/sqrt(d)). Not here: the value residual from the first layer (v mixed
with layer 0's v), a connection between layers that a single mixer cannot see; W_o keeps torch's init (the paper
zeroes it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import State
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.rwkv_base import RWKVConfig, RWKVMixer, channel_ramp
from rnnzoo.mixers.ssm_init import no_weight_decay
from rnnzoo.ops.dplr import dplr_delta_rule

_SHIFTED = 6  # r, w, k, v, a, g


@dataclass
class RWKV7Config(RWKVConfig):
    decay_lora_dim: int = 0  # 0: the paper's rule max(32, round(1.8 sqrt(d_model) / 32) * 32)
    a_lora_dim: int = 0  # 0: max(32, round(2.5 sqrt(d_model) / 32) * 32)
    gate_lora_dim: int = 0  # 0: max(32, round(5 sqrt(d_model) / 32) * 32)
    chunk_size: int = 32  # decays >= -0.607 a step: 32 tokens stay within dplr's one-matmul span (20 nats)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("decay_lora_dim", "a_lora_dim", "gate_lora_dim"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0: the paper's rule), got {getattr(self, name)}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")

    def lora_dim(self, name: str, factor: float) -> int:
        """The rank of LoRA ``name``: the field, or the paper's rule max(32, round(factor sqrt(d) / 32) * 32)."""
        return getattr(self, name) or max(32, round(factor * math.sqrt(self.d_model) / 32) * 32)


def _ortho(rows: int, cols: int, scale: float) -> torch.Tensor:
    """Orthogonal [rows, cols] with RWKV's gain: scale * sqrt(rows / cols) when rows > cols, else scale."""
    gain = math.sqrt(rows / cols) if rows > cols else 1.0
    return nn.init.orthogonal_(torch.empty(rows, cols), gain=gain * scale)


@register("rwkv7")
class RWKV7(RWKVMixer):
    """RWKV-7 time mix: token shift, the DPLR delta rule with a = -κ̂, b = κ̂ ⊙ a_iclr, bonus, GroupNorm, gate."""

    config_class = RWKV7Config
    paper = "Peng et al. 2025, RWKV-7 \"Goose\" with Expressive Dynamic State Evolution"
    state_formula = "d_model + d_model^2 / num_heads"
    fast_path = "compiled CPU DPLR loop, else chunkwise WY form (ops.dplr.dplr_delta_rule, mode='auto')"
    fast_mode = "auto"  # the compiled DPLR kernel where it fits, else the chunk form

    def __init__(self, config: RWKV7Config):
        super().__init__(config)
        d, h, n_head, r0 = config.d_model, config.num_heads, self.head_dim, config.depth
        r1 = 1.0 - r0
        ramp = channel_ramp(d)
        self.mu = nn.Parameter(torch.stack([1 - ramp ** (p * r1) for p in (0.2, 0.9, 0.7, 0.7, 0.9, 0.2)]))  # [6, d]
        n = torch.arange(d, dtype=torch.float32)
        linear = n / max(d - 1, 1) - 0.5
        zigzag = ((n % n_head) - (n_head - 1) / 2) / max((n_head - 1) / 2, 1e-9)
        zigzag = zigzag * zigzag.abs()
        dw, da, dg = (config.lora_dim(*x) for x in (("decay_lora_dim", 1.8), ("a_lora_dim", 2.5),
                                                    ("gate_lora_dim", 5.0)))
        self.w0 = nn.Parameter(-6 + 6 * (n / max(d - 1, 1)) ** (1 + r0 ** 0.3) + 0.5 + 2.5 * zigzag)
        self.w1, self.w2 = nn.Parameter(torch.zeros(d, dw)), nn.Parameter(_ortho(dw, d, 0.1))
        self.a0 = nn.Parameter(-0.19 + 0.3 * zigzag + 0.4 * linear)
        self.a1, self.a2 = nn.Parameter(torch.zeros(d, da)), nn.Parameter(_ortho(da, d, 0.1))
        self.g1, self.g2 = nn.Parameter(torch.zeros(d, dg)), nn.Parameter(_ortho(dg, d, 0.1))
        self.k_k = nn.Parameter(0.71 - 0.1 * linear)
        self.k_a = nn.Parameter(torch.full((d,), 1.02))
        self.r_k = nn.Parameter(torch.full((h, n_head), -0.04))
        no_weight_decay(self.mu, self.w0, self.a0, self.k_k, self.k_a, self.r_k)
        self.receptance, self.key, self.value, self.output = (nn.Linear(d, d, bias=False) for _ in range(4))
        for layer, bound in ((self.receptance, 0.5), (self.key, 0.05), (self.value, 0.5)):
            nn.init.uniform_(layer.weight, -bound / math.sqrt(d), bound / math.sqrt(d))

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        d, h, k = self.d_model, self.num_heads, self.head_dim
        return (torch.zeros(batch_size, d, device=device, dtype=dtype),
                torch.zeros(batch_size, h, k, k, device=device, dtype=dtype))

    def _mix(self, x, state, mode):
        xx, x_last = self._shift(x, state[0])
        xr, xw, xk, xv, xa, xg = (x + xx * self.mu[i] for i in range(_SHIFTED))
        r, k, v = self.receptance(xr), self.key(xk), self.value(xv)
        z = self.w0 + torch.tanh(xw @ self.w1) @ self.w2
        gk = -math.exp(-0.5) * torch.sigmoid(z.to(torch.promote_types(z.dtype, torch.float32)))  # float32 at least
        a = torch.sigmoid(self.a0 + xa @ self.a1 @ self.a2)
        g = torch.sigmoid(xg @ self.g1) @ self.g2
        kk = F.normalize(self._heads(k * self.k_k), dim=-1)
        k = k * (1 + (a - 1) * self.k_a)
        r, k, v, a = self._heads(r), self._heads(k), self._heads(v), self._heads(a)
        o, s = dplr_delta_rule(r, k, v, -kk, kk * a, self._heads(gk), scale=1.0, initial_state=state[1],
                               output_final_state=True, mode=mode, chunk_size=self.config.chunk_size)
        bonus = (r * k * self.r_k).sum(-1, keepdim=True) * v
        y = self.output((self._norm(o) + bonus.flatten(2)) * g)
        return y, (x_last, s.to(x.dtype))
