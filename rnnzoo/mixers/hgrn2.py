"""``hgrn2``: HGRN2 with the paper's depth-dependent forget-gate lower bound (Qin et al. 2024, HGRN2: Gated
Linear RNNs with State Expansion, eq. 5-7; the lower bound of HGRN, Qin et al. 2023, sec. 3.2).

    γ_l = l / L                            (layer l = ``layer_idx`` of L = ``num_layers``; 0 for the first layer)
    f_t = γ_l + (1 - γ_l) sigmoid(W_f x_t)
    S_t = diag(f_t) S_{t-1} + (1 - f_t) i_tᵀ,   i_t = W_i x_t     (outer-product state expansion)
    o_t = S_tᵀ silu(W_q x_t) / sqrt(d_f);   y = W_o RMSNorm(o)

The recurrence is ``hgrn``'s (the ``gla`` op with the key tied to the forget gate, k_t = 1 - f_t, log decay
log f_t); this mixer adds the bound that grows with depth, so upper layers keep longer memories. HGRN learns
the bounds as a cumulative softmax over layers, γ = cumsum(softmax(Γ)) - softmax(Γ)_0, shared by the whole
stack; a mixer holds no cross-layer parameter, so γ_l is that schedule's value at its initialisation (Γ = 0),
fixed. An explicit ``lower_bound`` replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnzoo.mixers.hgrn import HGRN, HGRNConfig
from rnnzoo.mixers.registry import register


@dataclass
class HGRN2Config(HGRNConfig):
    lower_bound: float | None = None  # None: layer_idx / num_layers
    layer_idx: int = 0
    num_layers: int = 2

    @property
    def effective_lower_bound(self) -> float:
        """``lower_bound`` if given, else γ = layer_idx / num_layers (checked here: the config's checks read it)."""
        if not 0 <= self.layer_idx < self.num_layers:
            raise ValueError(f"need 0 <= layer_idx < num_layers, got {self.layer_idx}, {self.num_layers}")
        return self.layer_idx / self.num_layers if self.lower_bound is None else self.lower_bound


@register("hgrn2")
class HGRN2(HGRN):
    """HGRN2 with a forget-gate lower bound growing with depth; state S [B, H, expand_ratio, d_model / num_heads]."""

    config_class = HGRN2Config
    paper = "Qin et al. 2024, HGRN2: Gated Linear RNNs with State Expansion (depth-wise lower bound of HGRN)"
    matrix_form = "decay per forget channel (gla with k = 1 - f, f >= layer_idx / num_layers)"
