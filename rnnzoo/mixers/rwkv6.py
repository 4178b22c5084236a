"""``rwkv6``: the RWKV-6 "Finch" time mix (Peng et al. 2024, Eagle and Finch: RWKV with Matrix-Valued States and
Dynamic Recurrence, the Finch time mixing); the channel mix is the block's MLP.

    xx_t = x_{t-1} - x_t                                                         (token shift)
    m_* = (tanh((x + xx ⊙ μ_x) A) B_*)                                           (ddlerp's LoRA, rank 32, * in w,k,v,r,g)
    x_* = x + xx ⊙ (μ_* + m_*)                                                   (data-dependent linear interpolation)
    r, k, v = W_r x_r, W_k x_k, W_v x_v;   g = SiLU(W_g x_g)
    w_t = -exp(d + tanh(x_w A_w) B_w)                                           (log decay, LoRA rank 64)
    o_t = (S_{t-1} + diag(u) k_t v_tᵀ)ᵀ r_t,   S_t = diag(exp(w_t)) S_{t-1} + k_t v_tᵀ   (per head, no scaling)
    y = W_o (GroupNorm_head(o) ⊙ g)

Inits are the paper's code (BlinkDL/RWKV-LM, RWKV-v6) at the layer position ``depth`` = r0 (r1 = 1 - r0):
μ_x, μ_w, μ_k = 1 - ramp^r1, μ_v = 1 - (ramp^r1 + 0.3 r0), μ_r, μ_g = 1 - ramp^(r1 / 2) with ramp_i = i / d;
A = 0, B ~ U(-0.01, 0.01); d_n = -6 + 5 (n / (d-1))^(0.7 + 1.3 r0); u_n = r0 (1 - n / (d-1)) + 0.1 ((n+1) mod 3 - 1).
Linear layers keep torch's default init. State: (x_{T} [B, d], S [B, H, K, K]) with K = d / H.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import State
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.rwkv_base import RWKVConfig, RWKVMixer, channel_ramp
from rnnzoo.mixers.ssm_init import no_weight_decay
from rnnzoo.ops.rwkv6 import rwkv6

_MIXED = 5  # w, k, v, r, g


@dataclass
class RWKV6Config(RWKVConfig):
    mix_lora_dim: int = 32  # rank of ddlerp's LoRA
    decay_lora_dim: int = 64  # rank of the decay's LoRA

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mix_lora_dim < 1 or self.decay_lora_dim < 1:
            raise ValueError(f"mix_lora_dim and decay_lora_dim must be >= 1, got {self.mix_lora_dim}, "
                             f"{self.decay_lora_dim}")


@register("rwkv6")
class RWKV6(RWKVMixer):
    """RWKV-6 time mix: ddlerp token shift, LoRA data-dependent decay, bonus u, GroupNorm, SiLU gate."""

    config_class = RWKV6Config
    paper = "Peng et al. 2024, Eagle and Finch: RWKV with Matrix-Valued States and Dynamic Recurrence (RWKV-6)"
    state_formula = "d_model + d_model^2 / num_heads"
    fast_path = "gla's compiled CPU loop or chunk form on the queries one step earlier (ops.rwkv6, mode='auto')"
    fast_mode = "auto"

    def __init__(self, config: RWKV6Config):
        super().__init__(config)
        d, r0 = config.d_model, config.depth
        r1 = 1.0 - r0
        ramp = channel_ramp(d)
        self.mu_x = nn.Parameter(1 - ramp ** r1)
        self.mu = nn.Parameter(torch.stack([1 - ramp ** r1, 1 - ramp ** r1, 1 - (ramp ** r1 + 0.3 * r0),
                                            1 - ramp ** (0.5 * r1), 1 - ramp ** (0.5 * r1)]))  # [5, d]: w, k, v, r, g
        self.mix_a = nn.Parameter(torch.zeros(d, _MIXED * config.mix_lora_dim))
        self.mix_b = nn.Parameter(torch.empty(_MIXED, config.mix_lora_dim, d).uniform_(-0.01, 0.01))
        n = torch.arange(d, dtype=torch.float32) / max(d - 1, 1)
        self.decay = nn.Parameter(-6 + 5 * n ** (0.7 + 1.3 * r0))
        self.decay_a = nn.Parameter(torch.zeros(d, config.decay_lora_dim))
        self.decay_b = nn.Parameter(torch.empty(config.decay_lora_dim, d).uniform_(-0.01, 0.01))
        zigzag = ((torch.arange(d) + 1) % 3 - 1) * 0.1
        self.bonus = nn.Parameter((r0 * (1 - n) + zigzag).view(self.num_heads, self.head_dim))
        no_weight_decay(self.mu_x, self.mu, self.decay, self.bonus)
        self.receptance, self.key, self.value, self.gate = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.output = nn.Linear(d, d, bias=False)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        d, h, k = self.d_model, self.num_heads, self.head_dim
        return (torch.zeros(batch_size, d, device=device, dtype=dtype),
                torch.zeros(batch_size, h, k, k, device=device, dtype=dtype))

    def _mix(self, x, state, mode):
        xx, x_last = self._shift(x, state[0])
        b, t, d = x.shape
        lora = torch.tanh((x + xx * self.mu_x) @ self.mix_a).view(b, t, _MIXED, -1)
        m = torch.einsum("btir,ird->btid", lora, self.mix_b) + self.mu  # [B, T, 5, d]
        xw, xk, xv, xr, xg = (x + xx * m[:, :, i] for i in range(_MIXED))
        r, k, v = self._heads(self.receptance(xr)), self._heads(self.key(xk)), self._heads(self.value(xv))
        w = self.decay + torch.tanh(xw @ self.decay_a) @ self.decay_b
        w = -w.to(torch.promote_types(w.dtype, torch.float32)).exp()  # log decay in float32 at least
        o, s = rwkv6(r, k, v, self._heads(w), self.bonus, scale=1.0, initial_state=state[1], output_final_state=True,
                     mode=mode)
        y = self.output(self._norm(o) * F.silu(self.gate(xg)))
        return y, (x_last, s.to(x.dtype))
