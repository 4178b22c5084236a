"""The mixer contract every sequence mixer in rnnzoo follows.

```python
y, state = mixer(x, state=None)      # x: [B, T, d_model] -> y: [B, T, d_model]
y_t, state = mixer.step(x_t, state)  # x_t: [B, d_model];   exact, O(1) memory in T
y, state = mixer.prefill(x, state)   # a prompt fed in pieces [B, k, d_model] before stepping: forward with a state
y, state = mixer(x, cu_seqlens=cu)   # x: [1, T, d_model] packing N sequences at offsets cu [N+1]; state [N, ...]
y, state = mixer(x, mask=mask)       # mask: [B, T] bool, True = real token; y is 0 at padding
state = mixer.init_state(batch_size) # the zero state
mixer.state_size                     # floats carried per sequence (None: grows with T)
```

Packed and padded batches (``rnnzoo.mixers.varlen``) compute every sequence exactly as if it were alone: states
start over at packed boundaries, padded positions neither write to nor decay the state and output exactly zero,
and a row's final state is the one after its last real token (a row without one keeps its initial state). They
cost one forward call per distinct sequence length. Chunked prefill is ``prefill`` (the same as ``forward`` with
a state, since any split of a sequence gives the whole's outputs); ``step`` stays one token.

A state is a tuple of tensors whose first dimension is the batch. Floating tensors are the
recurrent memory and are what ``state_size`` counts; integer tensors (e.g. the position counter
of an attention cache) are bookkeeping and are not counted.

Subclasses implement ``init_state`` and one hook: ``_mix(x, state, mode)``, the whole layer with its op in
``mode``, and a ``fast_mode`` class attribute naming the op mode ``forward`` runs (``"chunk"``, ``"auto"``,
``"fft"``, ...). ``step`` is then ``_mix`` in ``mode="recurrent"`` (the op's reference loop) on one token,
which is what makes full == step hold by construction of the op tests. Mixers with no exact mode switch
(attention, the fused classic RNNs, sLSTM, non-causal mixers) override ``_forward`` and ``_step`` instead.
The public ``forward`` and ``step`` check inputs once, at this boundary, so the ops below never have to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, NamedTuple

import torch
from torch import nn

from rnnzoo.mixers import varlen
from rnnzoo.validate import check_types

State = tuple[torch.Tensor, ...]


class MatrixParts(NamedTuple):
    """A mixer on one input as a matrix mixer: ``y = readout(einsum("bhts,bshd->bthd", matrix, values))``."""

    matrix: torch.Tensor  # [B, H, T, T]: how each output position mixes the value vectors (causal: zero above)
    values: torch.Tensor  # [B, T, H, V]: what is mixed (the value projection, after any short conv)
    readout: Callable[[torch.Tensor], torch.Tensor]  # mixed values [B, T, H, V] -> y [B, T, d_model]


@dataclass
class MixerConfig:
    """Fields shared by every mixer config; each mixer subclasses this with its own."""

    d_model: int = 64

    def __post_init__(self) -> None:
        check_types(self)
        if self.d_model < 1:
            raise ValueError(f"d_model must be >= 1, got {self.d_model}")


class Mixer(nn.Module):
    """Base class: input checks and the state bookkeeping shared by all mixers.

    Class attributes describe the mixer for the registry and ``rnnzoo list``:
    ``paper`` (citation), ``state_formula`` (state size in terms of the config),
    ``fast_path`` (name of the parallel/chunked training form, or "" if only a loop exists).
    """

    config_class: ClassVar[type[MixerConfig]] = MixerConfig
    causal: ClassVar[bool] = True
    paper: ClassVar[str] = ""
    state_formula: ClassVar[str] = ""
    fast_path: ClassVar[str] = ""
    fast_mode: ClassVar[str] = ""  # op mode of ``forward`` for mixers implementing ``_mix``
    log_space_state: ClassVar[tuple[int, ...]] = ()  # state slots in log space, which start at -inf
    # rows at different positions (integer counters [B] in the state, e.g. after a padded prefill) may share one
    # call; otherwise they are run in groups of equal position (``varlen.run_rows``)
    mixed_positions: ClassVar[bool] = False
    # the closed form of ``materialize`` (e.g. "scalar decay"); "" when the map from values to outputs is not
    # linear given the input (nonlinear RNNs), and ``materialize`` refuses
    matrix_form: ClassVar[str] = ""

    def __init__(self, config: MixerConfig):
        super().__init__()
        self.config = config
        self.d_model = config.d_model

    # -- the contract -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, state: State | None = None, *, cu_seqlens: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """x: [B, T, d_model]; state from ``init_state``/a previous call or None -> (y [B, T, d_model], state).

        cu_seqlens: [N+1] int offsets of N sequences packed in x [1, T, d_model]; state and the returned state are
        then [N, ...]. mask: [B, T] bool, True = real token (left, right or interior padding); outputs at padding
        are exactly zero and padding leaves the state untouched. At most one of the two."""
        self._check_input(x, rank=3, what="x", expected="[B, T, d_model]")
        if x.shape[1] == 0:
            raise ValueError(f"x has an empty time dimension: shape {tuple(x.shape)}; need T >= 1")
        if cu_seqlens is not None and mask is not None:
            raise ValueError(f"{type(self).__name__}: give cu_seqlens (packed) or mask (padded), not both")
        if cu_seqlens is not None:
            return varlen.forward_packed(self, x, state, cu_seqlens)
        if mask is not None:
            return varlen.forward_masked(self, x, state, mask)
        self._check_state(state, x.shape[0], x)
        if state and not self.mixed_positions and varlen.positions_differ(state):
            return varlen.forward_at_positions(self, x, state)
        return self._forward(x, self._unpad_state(state) if state else state)

    def step(self, x_t: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One token. x_t: [B, d_model] -> (y_t [B, d_model], state)."""
        if not self.causal:
            raise ValueError(f"{type(self).__name__} is not causal and has no recurrent step")
        self._check_input(x_t, rank=2, what="x_t", expected="[B, d_model]")
        self._check_state(state, x_t.shape[0], x_t)
        if state is None:
            state = self.init_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        if not self.mixed_positions and varlen.positions_differ(state):
            y, state = varlen.forward_at_positions(self, x_t.unsqueeze(1), state)
            return y[:, 0], state
        return self._step(x_t, self._unpad_state(state) if state else state)

    def prefill(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """A chunk of a prompt, x: [B, k, d_model], continuing ``state`` -> (y [B, k, d_model], state) to continue
        with ``prefill`` or ``step``: serving feeds a long prompt in pieces, then decodes. The same as
        ``forward(x, state)`` (any split of a sequence gives the whole's outputs); attention's cache grows by k."""
        if not self.causal:
            raise ValueError(f"{type(self).__name__} is not causal: it cannot be fed in pieces")
        return self(x, state)

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:
        """The zero state for ``batch_size`` sequences."""
        raise NotImplementedError

    def materialize(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, T, d_model] -> the implicit attention matrix [B, H, T, T] of this mixer on x from the zero state:
        the values [B, T, H, V] it mixes reach the outputs through it (gates and decays read from x included),
        ``o_t = sum_s M[t, s] v_s``, before the readout (output gate, norm, projection) that ``matrix_parts`` names.
        Raises ValueError for mixers with no such form (``matrix_form`` empty)."""
        return self.matrix_parts(x).matrix

    def matrix_parts(self, x: torch.Tensor) -> MatrixParts:
        """x: [B, T, d_model] -> (matrix [B, H, T, T], values [B, T, H, V], readout): ``forward(x)[0]`` is
        ``readout(einsum("bhts,bshd->bthd", matrix, values))``."""
        if not self.matrix_form:
            raise ValueError(f"{type(self).__name__} has no implicit attention matrix: its map from values to "
                             f"outputs is not linear given the input")
        self._check_input(x, rank=3, what="x", expected="[B, T, d_model]")
        if x.shape[1] == 0:
            raise ValueError(f"x has an empty time dimension: shape {tuple(x.shape)}; need T >= 1")
        return self._matrix_parts(x)

    def _matrix_parts(self, x: torch.Tensor) -> MatrixParts:
        raise NotImplementedError(f"{type(self).__name__} declares matrix_form but implements no _matrix_parts")

    @property
    def state_size(self) -> int | None:
        """Floats of recurrent state carried per sequence; None when it grows with T (attention)."""
        state = self.init_state(1, device="meta")
        return sum(t.numel() for t in state if t.is_floating_point())

    # -- to implement -------------------------------------------------------------------------
    def _mix(self, x: torch.Tensor, state: State, mode: str) -> tuple[torch.Tensor, State]:
        """x: [B, T, d_model], state (never None) -> (y [B, T, d_model], state), the op run in ``mode``."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _mix nor _forward/_step")

    def _forward(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        return self._mix(x, state, self.fast_mode)

    def _step(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        y, state = self._mix(x_t.unsqueeze(1), state, "recurrent")
        return y[:, 0], state

    def _unpad_state(self, state: State) -> State:
        """``state`` of rows at one position with the left padding removed that stacking rows of different lengths
        put in front of a cache growing with T (``varlen``); mixers with such a cache override it."""
        return state

    # -- checks -------------------------------------------------------------------------------
    def _param_dtype(self) -> torch.dtype:
        p = next(self.parameters(), None)
        return p.dtype if p is not None else torch.get_default_dtype()

    def _check_input(self, x, rank: int, what: str, expected: str) -> None:
        name = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name}: {what} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != rank:
            raise ValueError(f"{name}: {what} must have rank {rank} {expected}, got shape {tuple(x.shape)}")
        if x.shape[-1] != self.d_model:
            raise ValueError(
                f"{name}: {what} last dimension must be d_model={self.d_model}, got shape {tuple(x.shape)}"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{name}: {what} has an empty batch: shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"{name}: {what} must be floating point, got {x.dtype}")
        p = next((p for p in self.parameters() if p.is_floating_point()), None)
        if p is not None and x.device != p.device and p.device.type != "meta":
            raise ValueError(f"{name}: {what} is on {x.device} but the mixer's parameters are on {p.device}: "
                             f"move one of them (mixer.to({str(x.device)!r}) or {what}.to({str(p.device)!r}))")
        # Like nn.Linear, a mixer computes in its parameters' dtype; under torch.autocast the layers cast.
        if p is not None and x.dtype != p.dtype and not torch.is_autocast_enabled(x.device.type):
            raise ValueError(f"{name}: {what} is {x.dtype} but the mixer's parameters are {p.dtype}: convert one "
                             f"(mixer.to({p.dtype}) or {what}.to({p.dtype}))")
        if x.device.type != "meta" and not _all_finite(x):
            raise ValueError(f"{name}: {what} contains NaN or Inf")

    def _check_state(self, state: State | None, batch_size: int, x: torch.Tensor | None = None) -> None:
        if state is None:
            return
        name = type(self).__name__
        if not isinstance(state, tuple) or not all(isinstance(t, torch.Tensor) for t in state):
            raise ValueError(f"{name}: state must be a tuple of tensors as returned by init_state/forward")
        expected = self.init_state(1, device="meta", dtype=None if x is None else x.dtype)
        if len(state) != len(expected):
            raise ValueError(f"{name}: state has {len(state)} tensors, expected {len(expected)}")
        for i, (got, ref) in enumerate(zip(state, expected)):
            if got.dim() == 0 or got.shape[0] != batch_size:
                raise ValueError(
                    f"{name}: state[{i}] has batch {got.shape[0] if got.dim() else 'none'} (shape {tuple(got.shape)}) "
                    f"but the input has batch {batch_size}"
                )
            if got.dim() != ref.dim() or _fixed_dims(got) != _fixed_dims(ref, like=got):
                raise ValueError(
                    f"{name}: state[{i}] has shape {tuple(got.shape)}, expected {(batch_size, *ref.shape[1:])}"
                )
            if got.is_floating_point() != ref.is_floating_point():
                raise ValueError(f"{name}: state[{i}] is {got.dtype}, expected {ref.dtype}")
            if x is None:
                continue
            if got.device != x.device:
                raise ValueError(f"{name}: state[{i}] is on {got.device} but the input is on {x.device}")
            if got.is_floating_point() and got.dtype != ref.dtype and not torch.is_autocast_enabled(x.device.type):
                raise ValueError(f"{name}: state[{i}] is {got.dtype} but a state for {x.dtype} input is {ref.dtype}: "
                                 f"convert it (rnnzoo keeps states in the input's dtype)")
            # -inf only in the log-space slots, which start there ("nothing seen yet": a running max, a log normaliser)
            if got.is_floating_point() and got.device.type != "meta" and got.numel():
                # one pass, no temporaries (a decoding attention cache is checked at every step): min and max
                # propagate NaN, and are finite exactly when every entry is
                low, high = torch.aminmax(got.detach())
                log_space = i in self.log_space_state
                if high.isnan() or high == float("inf") or (not log_space and low == float("-inf")):
                    allowed = "" if log_space else " or -Inf"
                    raise ValueError(f"{name}: state[{i}] contains NaN or +Inf{allowed}")


class NonCausalMixer(Mixer):
    """A mixer whose every output may read the whole sequence (bidirectional): no ``step``, no state to carry,
    ``state_size`` None. Subclasses implement ``_forward`` only; it returns ``(y, ())``."""

    causal = False

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        return ()

    @property
    def state_size(self) -> int | None:
        return None

    def forward(self, x: torch.Tensor, state: State | None = None, *, cu_seqlens: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        if state:
            raise ValueError(f"{type(self).__name__} is not causal: it cannot continue from a state")
        return super().forward(x, None, cu_seqlens=cu_seqlens, mask=mask)


def reverse_time(x: torch.Tensor) -> torch.Tensor:
    """x: [B, T, ...] reversed along T: what a right-to-left pass reads, and how its output is put back in order."""
    return x.flip(1)

def _fixed_dims(t: torch.Tensor, like: torch.Tensor | None = None) -> tuple[int, ...]:
    """Shape without the batch dim, with zero-size dims (growing caches) compared loosely."""
    shape = tuple(t.shape[1:])
    if like is None:
        return shape
    return tuple(g if r == 0 else r for r, g in zip(t.shape[1:], like.shape[1:]))


def _all_finite(x: torch.Tensor) -> bool:
    """Whether x has no NaN or Inf: a finite sum says so in one read-only pass (a NaN or Inf anywhere makes the sum
    NaN or Inf); only a sum that overflowed or hit one needs the elementwise check (four passes on the CPU)."""
    with torch.no_grad():
        return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())
