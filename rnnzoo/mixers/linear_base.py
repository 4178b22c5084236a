"""Shared parts of the linear-attention family: the mixers whose memory is one of the ``linear_attention`` /
``simple_gla`` / ``gla`` / ``mlstm`` ops (``linear_attention``, ``based``, ``retnet``, ``lightning``, ``gla``,
``lightnet``, ``hgrn``, ``mlstm``).

- ``FEATURE_MAPS``: the positive feature maps phi of linear attention (elu+1, relu, identity).
- ``HeadsConfig`` / ``ShortConvConfig``: ``num_heads``, and the ``use_short_conv`` / ``conv_size`` option
  (fla's layers: a causal short conv on each of the q, k, v projections, windows appended to the state).
- ``ExpandedConfig``: ``expand_k`` / ``expand_v``, key and value widths as multiples of d_model (``gla``, ``gsa``).
- ``LinearMixer``: the family's body on ``Mixer._mix``; short-conv plumbing.
- ``SquareHeadsMixer``: q, k, v projections d_model -> d_model in H heads, shared by ``linear_attention``,
  ``lightning`` and ``lightnet``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.short_conv import QKVShortConv

FEATURE_MAPS = {"elu": lambda x: F.elu(x) + 1, "relu": F.relu, "identity": lambda x: x}


@dataclass
class HeadsConfig(MixerConfig):
    num_heads: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1 or self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")


@dataclass
class ShortConvConfig(HeadsConfig):
    use_short_conv: bool = False  # causal conv (window conv_size) on the q, k, v projections, as in fla's layers
    conv_size: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.conv_size < 1:
            raise ValueError(f"conv_size must be >= 1, got {self.conv_size}")


@dataclass
class ExpandedConfig(ShortConvConfig):
    expand_k: float = 1.0
    expand_v: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("expand_k", "expand_v"):
            dim = getattr(self, name) * self.d_model
            if dim != int(dim) or int(dim) % self.num_heads or dim < self.num_heads:
                raise ValueError(f"{name} * d_model = {dim} must be a positive multiple of num_heads={self.num_heads}")


class LinearMixer(Mixer):
    """Shared body of the linear family (``_mix`` and ``fast_mode`` as in ``Mixer``).

    Mixers with a ``ShortConvConfig`` call ``_init_short_conv`` last in ``__init__`` (so the other weights
    are drawn exactly as without the conv), append ``_conv_state`` to ``init_state`` and, in ``_mix``,
    split the state with ``_split_conv_state`` and pass q, k, v through ``_short_conv``.

    ``fast_mode`` is the op mode of ``forward``: ``"auto"`` for the mixers on ``simple_gla`` and
    ``linear_attention`` (the compiled CPU kernel where there is one), ``"chunk"`` for the others.
    """

    fast_mode: ClassVar[str] = "chunk"

    def _init_short_conv(self, q_dim: int, k_dim: int, v_dim: int, activation: str | None = "silu") -> None:
        c = self.config
        self.short_conv = QKVShortConv(q_dim, k_dim, v_dim, c.conv_size, activation) if c.use_short_conv else None

    def _conv_state(self, batch_size, device=None, dtype=None) -> State:
        return () if self.short_conv is None else self.short_conv.init_state(batch_size, device=device, dtype=dtype)

    def _split_conv_state(self, state: State) -> tuple[State, State]:
        """state -> (the memory's own tensors, the three conv windows or ()); the windows come last."""
        n = len(state) - (0 if self.short_conv is None else 3)
        return state[:n], state[n:]

    def _short_conv(self, q, k, v, windows: State):
        """Projections q, k, v [B, T, *] -> (q, k, v, new windows), unchanged (and no windows) without the conv."""
        return (q, k, v, ()) if self.short_conv is None else self.short_conv(q, k, v, windows)

    def _heads(self, x: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """[B, T, H*D] -> [B, T, H, D]."""
        return x.view(*x.shape[:2], n or self.num_heads, -1)


class SquareHeadsMixer(LinearMixer):
    """Setup shared by ``linear_attention``, ``lightning`` and ``lightnet``: q, k, v projections
    d_model -> d_model in H heads of D = d_model / H (subclasses add their gate / output projections and
    then call ``_init_short_conv(d, d, d)``); the memory S is [B, H, D, D]."""

    def __init__(self, config: ShortConvConfig):
        super().__init__(config)
        d, h = config.d_model, config.num_heads
        self.num_heads, self.head_dim = h, d // h
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(d, d, bias=False) for _ in range(3))

    def _zero_memory(self, batch_size, device=None, dtype=None) -> torch.Tensor:
        dtype = dtype or self._param_dtype()
        return torch.zeros(batch_size, self.num_heads, self.head_dim, self.head_dim, device=device, dtype=dtype)

    def _qkv(self, x: torch.Tensor, windows: State):
        """x [B, T, d_model] -> q, k, v [B, T, H, D] (through the short conv if on) and the new windows."""
        q, k, v, windows = self._short_conv(self.q_proj(x), self.k_proj(x), self.v_proj(x), windows)
        return self._heads(q), self._heads(k), self._heads(v), windows
