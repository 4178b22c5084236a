"""The recurrent state of a language model along a sequence, and a layer's implicit attention matrix on it.

State collapse (Chen et al. 2024, Stuffed Mamba: State Collapse and State Capacity of RNN-Based Long-Context
Modeling) shows as a state norm that grows past the training length while the state's effective rank falls
(a few channels dominate). Effective rank is Roy & Vetterli's (2007): exp of the entropy of the normalised
singular values, from 1 (rank one) to min(rows, cols).
"""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo.mixers.base import State


def effective_rank(m: torch.Tensor) -> torch.Tensor:
    """m: [..., X, Y] -> [...]: exp(-sum p log p) with p the singular values divided by their sum (0 for m = 0)."""
    s = torch.linalg.svdvals(m.double())
    p = s / s.sum(-1, keepdim=True).clamp_min(1e-300)
    return torch.exp(-(p * p.clamp_min(1e-300).log()).sum(-1)).to(m.dtype)


def memory_tensor(state: State) -> torch.Tensor:
    """The recurrent memory of a mixer state: its largest floating tensor (conv windows and counters aside)."""
    floats = [t for t in state if t.is_floating_point()]
    if not floats:
        raise ValueError("the state holds no floating tensor: nothing to inspect")
    return max(floats, key=lambda t: t[0].numel())


def state_trajectory(model: nn.Module, tokens: torch.Tensor, every: int = 64) -> list[dict]:
    """tokens: [B, T] through a ``LanguageModel`` in pieces of ``every``; after each piece, per layer, the mean over
    rows of the memory's Frobenius norm and (for a memory of matrices, [B, ..., X, Y]) its effective rank averaged
    over heads. Returns one dict per layer: ``positions`` (tokens read), ``norm``, ``rank`` (lists; rank empty
    for vector states, e.g. an LSTM's)."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    rows = [{"layer": i, "positions": [], "norm": [], "rank": []} for i in range(len(model.blocks))]
    state = None
    with torch.no_grad():
        for start in range(0, tokens.shape[1], every):
            piece = tokens[:, start:start + every]
            _, state = model.forward_with_state(piece, state)
            for row, s in zip(rows, state):
                m = memory_tensor(s).float()
                row["positions"].append(start + piece.shape[1])
                row["norm"].append(m.flatten(1).norm(dim=1).mean().item())
                if m.dim() >= 3:
                    row["rank"].append(effective_rank(m).mean().item())
    return rows


def layer_matrix(model: nn.Module, tokens: torch.Tensor, layer: int) -> torch.Tensor:
    """tokens: [B, T] -> the implicit attention matrix [B, H, T, T] of block ``layer``'s mixer on the activations
    it reads from this text (its input captured by a forward pre-hook)."""
    if not 0 <= layer < len(model.blocks):
        raise ValueError(f"layer must be in [0, {len(model.blocks)}), got {layer}")
    mixer = model.blocks[layer].mixer
    seen = []
    hook = mixer.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        with torch.no_grad():
            model(tokens)
    finally:
        hook.remove()
    with torch.no_grad():
        return mixer.materialize(seen[0])
