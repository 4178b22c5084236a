"""``comba``: Comba (Hu et al. 2025, Comba: Improving Bilinear RNNs with Closed-loop Control), parameterised as
flash-linear-attention's ``Comba`` layer: Gated DeltaNet's body (q, k, v through a causal short conv + SiLU, q and k
L2-normalised per head, beta = sigmoid(W_b x), Mamba-2's decay log a_t = -exp(A_log) softplus(W_a x_t + dt_bias)) with

    p_t = sigmoid(d_h) k_t                                         (inner decay d_h per head, init 1)
    S_t = (a_t I - beta_t k_t p_tᵀ) S_{t-1} + beta_t k_t v_tᵀ        (scalar plus low-rank transition)
    o_t = S_tᵀ (q_t - D_h p_t) / sqrt(K)                           (output correction D_h per head, init 1)
    y = W_o (RMSNorm_head(o) * sigmoid(W_g x))

Inits as fla's layer: A ~ U(0, 16), dt log-uniform in [1e-3, 0.1] (``mamba2_decay_params``); D = ``correction_factor``
(fla: 1; it notes 0.02 sometimes works better for small models) without weight decay; linear layers keep torch's init;
expand_v = 2. fla L2-normalises q, k and p inside its kernel, after forming p and the corrected query, which turns p
back into the unit k (the inner decay then has no effect) and rescales q - D p; we normalise q and k first and form
p and q - D p from them, as the paper's equations read.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.mixers.deltanet import GatedDeltaNetConfig, _DeltaBase
from rnnzoo.mixers.registry import register
from rnnzoo.mixers.ssm_init import no_weight_decay
from rnnzoo.ops.comba import comba


@dataclass
class CombaConfig(GatedDeltaNetConfig):
    correction_factor: float = 1.0  # init of D, the output correction q - D p
    # decays of up to -16 nats a step leave dplr's one-matmul span in longer chunks (as kda)
    chunk_size: int = 16


@register("comba")
class Comba(_DeltaBase):
    """Comba: S_t = (a_t I - beta_t k_t p_tᵀ) S_{t-1} + beta_t k_t v_tᵀ, o_t = S_tᵀ (q_t - D p_t) / sqrt(K)."""

    config_class = CombaConfig
    paper = "Hu et al. 2025, Comba: Improving Bilinear RNNs with Closed-loop Control"
    state_formula = "num_heads * K * V + (conv_size - 1) * num_heads * (2K + V)"
    fast_path = "compiled CPU DPLR loop, else chunkwise WY form of the DPLR delta rule (ops.comba, mode='auto')"
    fast_mode = "auto"  # the compiled DPLR kernel where it fits, else the chunk form
    matrix_form = ""  # the erase reads the state with p, not k: ops.matrix has no closed form for it
    gated = True
    output_gate = True

    def __init__(self, config: CombaConfig):
        super().__init__(config)
        h = config.num_heads
        self.decay = nn.Parameter(torch.ones(h))
        self.D = nn.Parameter(torch.full((h,), float(config.correction_factor)))
        no_weight_decay(self.D)

    def _recurrence(self, q, k, v, beta, g, s, mode):
        p = k * self.decay.sigmoid()[:, None]
        return comba(q - self.D[:, None] * p, k, v, p, g, beta, initial_state=s, output_final_state=True, mode=mode,
                     chunk_size=self.config.chunk_size)

    def _readout(self, o, z):
        return self.o_proj((self.o_norm(o) * torch.sigmoid(z)).flatten(2))
