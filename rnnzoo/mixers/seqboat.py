"""SeqBoat (Ren et al. 2023, Sparse Modular Activation for Efficient Sequence Modeling; the ``SeqBoatLayer`` of
renll/SeqBoat): a linear SSM reads every token, and its output decides per token, through a tempered-softmax gate,
whether a gated attention unit (GAU) with local attention over the activated tokens runs for it.

    m_t = SiLU(SSM(x)_t)                                   (S4D here, ``rnnzoo.ops.s4d``: D skip, ZOH, S4D-Lin init)
    [u_t, h^x_t] = W_h m_t + b_h;   p_t = softmax(u_t / tau)  (2 options, tau = exp(log_tau), init sqrt(d_model))
    a_t = [argmax p_t = 1]                                 (the module is activated)
    [z_t, r_t, v_t] = SiLU(W_m m_t + b_m);  q_t = z_t gamma_0 + beta_0;  k_t = z_t gamma_1 + beta_1
    o = SparseLocalAttention(q, k, v, a, window)           (``rnnzoo.ops.seqboat``: the last ``window`` activated tokens)
    y_t = h^x_t + a_t p_{t,1} W_o (o_t * r_t)

The activation is differentiable through its probability p_{t,1} (the paper's tempered softmax: the selected
option's probability scales the module output, so the gate gets the module's gradient; a_t itself is a hard
choice). ``last_activation_rate`` is the fraction of tokens activated by the latest forward or step. Defaults:
the paper's LM widths scaled to d_model (z = ``qk_dim``, r and v of 2 d_model), window 128 of its ``mem_size``,
init N(0, 0.02) for the projections and gamma, zero beta; softmax attention scaled by z^-1/2 (the paper's LM
setting; relu^2 is its LRA one). The residual and norm of the paper's layer are the model block's. State: the S4D
state ``[B, d_model, d_state/2, 2]`` and the window of the last ``window - 1`` activated keys and values
(``[B, window-1, qk_dim]``, ``[B, window-1, 2 d_model]``) with the activated-token count (int64, not counted):
fixed size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.ssm_init import no_weight_decay
from rnnzoo.ops.s4d import s4d_conv, s4d_init
from rnnzoo.ops.seqboat import sparse_local_attention


@dataclass
class SeqBoatConfig(MixerConfig):
    d_state: int = 16  # S4D state N per channel (N/2 complex modes)
    qk_dim: int = 64  # z, the shared query/key width of the GAU
    expand: int = 2  # r and v are expand * d_model wide
    window: int = 128  # activated tokens an activated query sees, itself included
    dt_min: float = 1e-3
    dt_max: float = 1e-1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_state < 2 or self.d_state % 2:
            raise ValueError(f"d_state must be even and >= 2, got {self.d_state}")
        for name in ("qk_dim", "expand", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}")


@register("seqboat")
class SeqBoat(Mixer):
    """SeqBoat: an S4D SSM whose output gates, per token, a GAU with local attention over the activated tokens."""

    config_class = SeqBoatConfig
    paper = "Ren et al. 2023, Sparse Modular Activation for Efficient Sequence Modeling"
    state_formula = "d_model*d_state + (window-1)*(qk_dim + expand*d_model)"
    fast_path = "S4D FFT convolution + compressed masked local attention (rnnzoo.ops.seqboat mode='parallel')"
    fast_mode = "parallel"

    def __init__(self, config: SeqBoatConfig):
        super().__init__(config)
        c = config
        d, self.hdim = c.d_model, c.expand * c.d_model
        log_dt, log_A_real, A_imag, C = s4d_init(d, c.d_state // 2, "lin", c.dt_min, c.dt_max)
        self.log_dt, self.log_A_real, self.A_imag = nn.Parameter(log_dt), nn.Parameter(log_A_real), nn.Parameter(A_imag)
        self.C = nn.Parameter(torch.view_as_real(C).contiguous())
        self.D = nn.Parameter(torch.randn(d))
        no_weight_decay(self.log_dt, self.log_A_real, self.A_imag)
        self.hx_proj = nn.Linear(d, 2 + d)
        self.log_tau = nn.Parameter(torch.tensor(math.log(d ** 0.5)))
        self.mx_proj = nn.Linear(d, c.qk_dim + 2 * self.hdim)
        self.gamma = nn.Parameter(torch.empty(2, c.qk_dim))
        self.beta = nn.Parameter(torch.zeros(2, c.qk_dim))
        self.h_proj = nn.Linear(self.hdim, d)
        for w in (self.hx_proj.weight, self.mx_proj.weight, self.h_proj.weight, self.gamma):
            nn.init.trunc_normal_(w, std=0.02, a=-0.04, b=0.04)
        for b in (self.hx_proj.bias, self.mx_proj.bias, self.h_proj.bias):
            nn.init.zeros_(b)
        self.last_activation_rate: float | None = None

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        c, w = self.config, self.config.window - 1
        return (torch.zeros(batch_size, self.d_model, c.d_state // 2, 2, device=device, dtype=dtype),
                torch.zeros(batch_size, w, c.qk_dim, device=device, dtype=dtype),
                torch.zeros(batch_size, w, self.hdim, device=device, dtype=dtype),
                torch.zeros(batch_size, dtype=torch.long, device=device))

    def _mix(self, x, state, mode):
        ssm_state, k_win, v_win, count = state
        C = torch.view_as_complex(self.C.contiguous())
        m, h = s4d_conv(x, self.log_dt, self.log_A_real, self.A_imag, C, self.D,
                        torch.view_as_complex(ssm_state.contiguous()), output_final_state=True,
                        mode="fft" if mode == self.fast_mode else "recurrent")
        m = F.silu(m)
        u, hx = self.hx_proj(m).split([2, self.d_model], -1)
        p = (u / self.log_tau.exp()).softmax(-1)
        active = p[..., 1] > p[..., 0]  # argmax picks option 1 (ties go to option 0, as torch.max would)
        self.last_activation_rate = float(active.float().mean())
        z, r, v = F.silu(self.mx_proj(m)).split([self.config.qk_dim, self.hdim, self.hdim], -1)
        q, k = z * self.gamma[0] + self.beta[0], z * self.gamma[1] + self.beta[1]
        o, (k_win, v_win, count) = sparse_local_attention(q, k, v, active, self.config.window,
                                                          initial_state=(k_win, v_win, count),
                                                          output_final_state=True, mode=mode)
        y = hx + self.h_proj(o * r) * (p[..., 1] * active)[..., None]
        return y, (torch.view_as_real(h).to(x.dtype), k_win.to(x.dtype), v_win.to(x.dtype), count)
