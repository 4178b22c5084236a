"""Liger linearisation (Lan et al. 2025, Liger: Linearizing Large Language Models to Gated Recurrent Structures):
an ``attention`` mixer turned into a gated linear recurrence that reuses its q/k/v/out projections and adds no
parameter.

Per head (q, k, v: the attention's own projections, [B, T, H, D]):

    gate    g_t = logsigmoid(pool(k_t)) / 16                       (log decay <= 0; pool: mean over the head's
                                                                    D key channels -> one gate per head, or the
                                                                    identity -> one gate per key channel, GLA)
    feature φ(x) = softmax(x) over the head's D channels          (no learned feature map)
    state   S_t = exp(g_t) S_{t-1} + φ(k_t) v_tᵀ,   o_t = S_tᵀ φ(q_t)   (scale 1)

Liger Attention (the intra-layer hybrid): o_t = 0.5 o_t(gated recurrence) + 0.5 o_t(sliding-window softmax
attention over the last ``window`` tokens, with the teacher's rotary q, k). The divisor 16 and the 0.5 / 0.5 mix
are the constants of the authors' code (``gate_logit_normalizer``; ``0.5 * y + 0.5 * o_``).

``LoRALinear`` adds a trainable low-rank update to a frozen linear map (Hu et al. 2021), the fine-tuning Liger
uses; the study can instead fine-tune every weight.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.attention import Attention
from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.gla import gla
from rnnzoo.ops.rotary import apply_rotary
from rnnzoo.ops.simple_gla import simple_gla

GATES = ("head", "channel")
GATE_NORMALIZER = 16.0


def liger_gate(k: torch.Tensor, gate: str) -> torch.Tensor:
    """k: [B, T, H, D] key projection -> log decay <= 0: [B, T, H] (``head``: mean-pooled over D) or [B, T, H, D]
    (``channel``)."""
    if gate not in GATES:
        raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
    pooled = k.mean(-1) if gate == "head" else k
    return F.logsigmoid(pooled.float()) / GATE_NORMALIZER


def liger_recurrence(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, gate: str = "head") -> torch.Tensor:
    """q, k, v: [B, T, H, D] -> o [B, T, H, D]: the gated linear recurrence above, from the zero state."""
    g = liger_gate(k, gate)
    fq, fk = q.float().softmax(-1), k.float().softmax(-1)
    fn = simple_gla if gate == "head" else gla
    o, _ = fn(fq, fk, v.float(), g, scale=1.0)
    return o.to(v.dtype)


class LigerMixer(nn.Module):
    """The linearised replacement of an ``Attention`` mixer: same ``qkv`` and ``out_proj`` modules (shared, not
    copied), gated recurrence, optionally mixed with sliding-window attention (``window``). Full sequences only
    (training and scoring): ``forward(x [B, T, d_model], state=None) -> (y, None)``."""

    def __init__(self, attention: Attention, gate: str = "head", window: int | None = None):
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        if window is not None and window < 1:
            raise ValueError(f"window must be >= 1 or None, got {window}")
        self.qkv, self.out_proj = attention.qkv, attention.out_proj
        self.num_heads, self.head_dim = attention.num_heads, attention.head_dim
        self.rotary_base, self.gate, self.window = attention.config.rotary_base, gate, window
        self.d_model = attention.d_model

    def forward(self, x: torch.Tensor, state=None):
        if state is not None:
            raise ValueError("LigerMixer runs whole sequences from the zero state; got a state")
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).unbind(2)
        o = liger_recurrence(q, k, v, self.gate)
        if self.window is not None:
            positions = torch.arange(t, device=x.device).expand(b, t)
            qr, kr = (apply_rotary(p, positions, self.rotary_base) for p in (q, k))
            o = 0.5 * o + 0.5 * softmax_attention(qr, kr, v, window=self.window)
        return self.out_proj(o.reshape(b, t, -1)), None


def linearise(model: nn.Module, gate: str = "head", window: int | None = None) -> nn.Module:
    """Replace every ``Attention`` mixer of ``model`` (a ``LanguageModel``) by its ``LigerMixer``, in place."""
    blocks = [blk for blk in model.blocks if isinstance(blk.mixer, Attention)]
    if not blocks:
        raise ValueError("linearise: the model has no attention mixer to convert")
    for blk in blocks:
        blk.mixer = LigerMixer(blk.mixer, gate, window)
    return model


class LoRALinear(nn.Module):
    """``base(x) + (alpha / rank) · x Aᵀ Bᵀ`` with ``base`` frozen, A [rank, in] Kaiming-uniform, B [out, rank]
    zero (so the wrapped map starts equal to ``base``)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        self.base, self.scaling = base, alpha / rank
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scaling


def add_lora(model: nn.Module, rank: int = 8, alpha: float = 16.0) -> list[nn.Parameter]:
    """Freeze every weight of ``model`` and wrap the ``qkv`` and ``out_proj`` of each ``LigerMixer`` in a
    ``LoRALinear``; returns the trainable (LoRA) parameters."""
    for p in model.parameters():
        p.requires_grad_(False)
    mixers = [m for m in model.modules() if isinstance(m, LigerMixer)]
    if not mixers:
        raise ValueError("add_lora: the model has no LigerMixer; call linearise first")
    for m in mixers:
        m.qkv, m.out_proj = LoRALinear(m.qkv, rank, alpha), LoRALinear(m.out_proj, rank, alpha)
    return [p for p in model.parameters() if p.requires_grad]
