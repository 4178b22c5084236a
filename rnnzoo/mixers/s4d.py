"""S4D layer (Gu et al. 2022, On the Parameterization and Initialization of Diagonal State Space Models; the
``S4D`` module of state-spaces/s4 ``s4d.py``): one diagonal complex SSM per channel, run as an FFT convolution
for sequences and as its recurrence for ``step``, then D skip, GELU and a GLU output projection.

Init: S4D-Lin (default) or S4D-Inv imaginary parts, real part -1/2, dt log-uniform in [1e-3, 1e-1], C ~ CN(0, 1).
log_dt, log_A_real and A_imag get S4's optimiser hint (its ``_optim = {"lr": 1e-3, "weight_decay": 0.0}``): no
weight decay and their own learning rate ``S4DConfig.lr`` (read by ``rnnzoo.train.optim.param_groups``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.s4d import s4d_conv, s4d_init


@dataclass
class S4DConfig(MixerConfig):
    d_state: int = 64  # N; N/2 complex modes per channel
    init: str = "lin"  # "lin" (S4D-Lin) or "inv" (S4D-Inv)
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    lr: float | None = 1e-3  # own learning rate of the SSM parameters (log_dt, A); None: the model's lr

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_state < 2 or self.d_state % 2:
            raise ValueError(f"d_state must be even and >= 2, got {self.d_state}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0 or None, got {self.lr}")
        if self.init not in ("lin", "inv"):
            raise ValueError(f"init must be 'lin' or 'inv', got {self.init!r}")


@register("s4d")
class S4D(Mixer):
    """S4D: per-channel diagonal SSM (kernel convolution for training, recurrence for step), GELU, GLU output."""

    config_class = S4DConfig
    paper = "Gu et al. 2022, On the Parameterization and Initialization of Diagonal State Space Models"
    state_formula = "d_model*d_state (d_state/2 complex modes per channel)"
    fast_path = "Vandermonde kernel + FFT convolution (rnnzoo.ops.s4d mode='fft')"
    fast_mode = "fft"

    def __init__(self, config: S4DConfig):
        super().__init__(config)
        c = config
        log_dt, log_A_real, A_imag, C = s4d_init(c.d_model, c.d_state // 2, c.init, c.dt_min, c.dt_max)
        self.log_dt, self.log_A_real, self.A_imag = nn.Parameter(log_dt), nn.Parameter(log_A_real), nn.Parameter(A_imag)
        self.C = nn.Parameter(torch.view_as_real(C).contiguous())  # [H, N2, 2]: real storage for any optimiser
        self.D = nn.Parameter(torch.randn(c.d_model))
        for p in (self.log_dt, self.log_A_real, self.A_imag):
            p._no_weight_decay = True
            p._lr = c.lr
        self.out_proj = nn.Linear(c.d_model, 2 * c.d_model)

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        dtype = dtype or self._param_dtype()
        return (torch.zeros(batch_size, self.d_model, self.config.d_state // 2, 2, device=device, dtype=dtype),)

    def _mix(self, x, state, mode):
        h0 = torch.view_as_complex(state[0].contiguous())
        C = torch.view_as_complex(self.C.contiguous())
        y, h = s4d_conv(x, self.log_dt, self.log_A_real, self.A_imag, C, self.D, h0, output_final_state=True, mode=mode)
        y = F.glu(self.out_proj(F.gelu(y)), dim=-1)
        return y, (torch.view_as_real(h).to(x.dtype),)
