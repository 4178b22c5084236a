"""LASP-2 sequence parallelism for whole mixers and models (Sun et al. 2025, LASP-2: Rethinking Sequence
Parallelism for Linear Attention and Its Hybrid).

```python
with sequence_parallel(model, group):              # every supporting mixer in model runs on its chunk
    logits = model(local_chunk(tokens, group))     # this rank's tokens -> this rank's logits
```

A mixer declares support with the class attribute ``sequence_parallel``, naming how its state crosses a
chunk (its state transition must not depend on the state, which is why nonlinear RNNs cannot):

- ``"diagonal"``: every floating state tensor evolves as S_end = T ⊙ S_start + b (decayed linear
  attention, GLA, RetNet, Mamba's and Mamba-2's scans, RG-LRU; short-conv windows have T = 0);
- ``"matrix"``: the [B, H, K, V] memories evolve as S_end = A S_start + b with A [B, H, K, K] (the delta
  rules' products of (I - beta k k^T) and decays), the other tensors as ``"diagonal"``;
- ``"cache"``: a growing key/value cache (``attention``): LASP-2H, an all-gather of keys and values.

Each rank runs its own mixer on its chunk, so T and b come from the mixer itself: passes from
the zero state and from probe states (PROBE everywhere; for ``"matrix"`` columns of PROBE times the identity)
gives b = S_end(0) and T = (S_end(probe) - b) / PROBE. Tensors with T = 0 on every rank (short-conv windows)
get their starts first (one all-gather), and the pass is repeated from them, since the memories'
contributions depend on them through the conv. ``prefix_states`` (one all-gather) then gives the chunk's
true initial state, and a last pass computes the output from it. Integer state tensors (position counters)
start at the chunk's offset. Autograd differentiates through every pass; the collectives carry their own
backward. The zero-state and probe passes run one after another under activation checkpointing: they keep
only their inputs and end states, and each is recomputed alone in backward, after the last pass's
activations are freed, so a rank's peak memory is about one pass over its chunk (not 2 + probes of them). The
cost over one process on the chunk: compute, the probe passes twice (forward, and again in backward: about
(2 + 2 probes) forward passes and (2 + probes) backward; delta rules with K > V need K / V probes) and, for
``"cache"``, a second key/value projection.
"""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from rnnzoo.distributed.collectives import gather_chunks, prefix_states
from rnnzoo.distributed.group import chunk_lengths
from rnnzoo.mixers.base import Mixer, State

KINDS = ("diagonal", "matrix", "cache")
# T = (S_end(PROBE * I) - S_end(0)) / PROBE loses |S_end(0)| * eps / PROBE to cancellation: a power of two
# (exact to divide by) well above a state's usual entries
PROBE = 64.0


def support(mixer: Mixer) -> str:
    """The mixer's ``sequence_parallel`` kind; a ValueError naming the mixer when it has none."""
    kind = getattr(type(mixer), "sequence_parallel", None)
    name = getattr(type(mixer), "registry_name", type(mixer).__name__)
    if kind not in KINDS:
        raise ValueError(f"mixer {name!r} does not support sequence parallelism: its state transition is not "
                         f"linear in the state (supported: mixers with sequence_parallel in {KINDS})")
    return kind


def sequence_parallel_forward(mixer: Mixer, x: torch.Tensor, state: State | None = None,
                              group=None) -> tuple[torch.Tensor, State]:
    """x: this rank's chunk [B, T_r, d_model] of a sequence split over ``group`` in rank order; state: the
    sequence's initial state (the same on every rank) or None -> (y [B, T_r, d_model], the state at the end
    of this rank's chunk: on the last rank, the sequence's final state)."""
    kind = support(mixer)
    lengths = chunk_lengths(x.shape[1], group, x.device)
    offset = sum(lengths[:torch.distributed.get_rank(group)])
    init = state if state is not None else mixer.init_state(x.shape[0], device=x.device, dtype=x.dtype)
    forward = functools.partial(type(mixer).forward, mixer)  # the mixer's own, not the patched one
    if kind == "cache":
        return _cache_forward(forward, x, init, lengths, offset, group)
    c = mixer.config
    window = (getattr(c, "conv_size", None) or getattr(c, "d_conv", None) or 1) if getattr(c, "use_short_conv", True) else 1
    if min(lengths) < window - 1:  # a shorter chunk would shift the window, which is not T * S + b
        raise ValueError(f"{type(mixer).__name__}: chunks of {lengths} tokens; each must hold at least the "
                         f"short-conv window of {window - 1} tokens (conv size {window})")
    return _state_forward(forward, mixer, x, init, kind, offset, group)


def _state_forward(forward, mixer, x, init, kind, offset, group):
    zero = mixer.init_state(x.shape[0], device=x.device, dtype=x.dtype)
    floats = [i for i, t in enumerate(init) if t.is_floating_point()]
    kinds = ["matrix" if kind == "matrix" and init[i].dim() == 4 else "diagonal" for i in floats]
    counters = {i: t + offset for i, t in enumerate(init) if not t.is_floating_point()}
    transitions, contributions = _transitions(forward, x, zero, {}, counters, floats, kinds)
    # Input-only tensors (T = 0: short-conv windows, a memory decayed to exactly 0 over a long chunk) are
    # found first, on every rank alike, and their starts gathered: the other tensors' contributions depend
    # on them (through the conv), so every contribution is then recomputed from those starts.
    fixed = torch.tensor([int(bool((t == 0).all())) for t in transitions], device=x.device)
    torch.distributed.all_reduce(fixed, torch.distributed.ReduceOp.MIN, group=group)  # T = 0 on every rank
    if fixed.any() and not fixed.all():  # all input-only: nothing depends on the others' starts
        idx = [j for j in range(len(floats)) if fixed[j]]
        starts = prefix_states([init[floats[j]] for j in idx], [transitions[j] for j in idx],
                               [contributions[j] for j in idx], ["diagonal"] * len(idx), group)
        held = {floats[j]: w for j, w in zip(idx, starts)}  # their T is 0: held slots come out with T = 0
        transitions, contributions = _transitions(forward, x, zero, held, counters, floats, kinds)
    prefix = prefix_states([init[i] for i in floats], transitions, contributions, kinds, group)
    start = {**counters, **dict(zip(floats, prefix))}
    return forward(x, tuple(start[i] for i in range(len(init))))


def _transitions(forward, x, zero, windows, counters, floats, kinds):
    """Passes of the chunk from the zero state and the probes (``windows``: slots held at a given start), one
    after another, each recomputed in backward instead of keeping its activations (only its end state is used)
    -> per floating slot, (T, b) with S_end = T(S_start) + b."""
    n_probes = max([math.ceil(zero[i].shape[-2] / zero[i].shape[-1]) for i, k in zip(floats, kinds)
                    if k == "matrix"], default=1)
    ends = []
    for j in range(1 + n_probes):  # j = 0: from the zero state; j >= 1: from probe j - 1
        start = []
        for i, t in enumerate(zero):
            if i in windows or i in counters:
                start.append(windows.get(i, counters.get(i)))
            elif j == 0:
                start.append(t)
            else:
                start.append(_probe(t, j - 1) if kinds[floats.index(i)] == "matrix" else torch.full_like(t, PROBE))
        ends.append(checkpoint(_end_state, forward, x, *start, use_reentrant=False))
    transitions, contributions = [], []
    for i, slot_kind in zip(floats, kinds):
        parts = [e[i] for e in ends]
        contributions.append(parts[0])
        if slot_kind == "diagonal":
            transitions.append((parts[1] - parts[0]) / PROBE)
        else:  # probe j's column c is the identity's column j*V + c
            transitions.append(torch.cat([(p - parts[0]) / PROBE for p in parts[1:]], -1)[..., :zero[i].shape[-2]])
    return transitions, contributions


def _end_state(forward, x, *state):
    return forward(x, state)[1]


def _probe(zero: torch.Tensor, j: int) -> torch.Tensor:
    """Columns j*V .. j*V+V-1 of PROBE times the K x K identity, as a state [..., K, V]."""
    k, v = zero.shape[-2:]
    eye = PROBE * torch.eye(k, device=zero.device, dtype=zero.dtype)[:, j * v:(j + 1) * v]
    return torch.nn.functional.pad(eye, (0, v - eye.shape[1])).expand_as(zero).contiguous()


def _cache_forward(forward, x, init, lengths, offset, group):
    k0, v0, pos0 = init
    _, (k, v, _) = forward(x, (k0[:, :0], v0[:, :0], pos0 + offset))  # this chunk's keys and values
    kv = gather_chunks(torch.cat([k, v], -1), lengths, group)[:, :offset]
    k_prev, v_prev = kv.split(k.shape[-1], -1)
    return forward(x, (torch.cat([k0, k_prev], 1), torch.cat([v0, v_prev], 1), pos0 + offset))


@contextmanager
def sequence_parallel(model: nn.Module, group=None):
    """Within the block, every mixer in ``model`` runs ``sequence_parallel_forward`` over ``group``: the
    model's input is this rank's chunk. Raises (naming the mixer) before changing anything when one of
    them does not support it."""
    found = [m for m in model.modules() if isinstance(m, Mixer)]
    for m in found:
        support(m)
    for m in found:
        m.forward = functools.partial(sequence_parallel_forward, m, group=group)
    try:
        yield model
    finally:
        for m in found:
            del m.forward
