"""The mixer contract as checks: the registry's test suite and your own mixer run the same code.

```python
from rnnzoo.testing import check_mixer
report = check_mixer(MyMixer, d_model=16, options={"num_heads": 2})   # a Mixer subclass, or an instance
print(report)        # one line per clause: pass, FAIL with the error, or skip with the reason
assert report.ok     # report.failed: the names of the failed clauses
```

Each ``check_*`` function takes a built mixer and raises (``AssertionError`` or the error the mixer raised)
when the clause does not hold, or ``Unsupported`` when the mixer lacks what the clause exercises (packed or
padded batches, multi-token steps, a step at all). Tolerances: 1e-5 in float32, 1e-10 in float64.
``tests/mixers/test_contract.py`` runs them over every registered mixer; ``check_mixer`` runs them on one
(``rnnzoo verify module:Class`` from the shell).
"""

from __future__ import annotations

import copy
import inspect
import re
from dataclasses import dataclass, fields
from typing import Callable

import torch

from rnnzoo.mixers.base import Mixer, State
from rnnzoo.state import detach_state

F32, F64 = (torch.float32, 1e-5), (torch.float64, 1e-10)  # (dtype, tolerance)
SPLITS = [[3, 1, 7], [1] * 5, [6, 1], [2, 2, 2, 2]]  # piece lengths for check_split; hypothesis draws more in tests
GRAD_MODES = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode}
# (case, x for a mixer of width d, what the ValueError must say)
BAD_INPUTS = [
    ("rank", lambda d: torch.randn(2, d), "rank 3"),
    ("d_model", lambda d: torch.randn(2, 5, d + 1), "d_model={d}"),
    ("nan", lambda d: torch.full((2, 5, d), float("nan")), "NaN"),
    ("empty", lambda d: torch.randn(2, 0, d), "empty"),
    ("integer", lambda d: torch.ones(2, 5, d, dtype=torch.long), "floating"),
    ("dtype", lambda d: torch.randn(2, 5, d, dtype=torch.float64), "float64"),  # a float32 mixer's parameters
]


class Unsupported(Exception):
    """The mixer does not offer what a clause exercises; the clause is skipped, not failed."""


# -- running a sequence in pieces -------------------------------------------------------------------------------
def run_split(mixer: Mixer, x: torch.Tensor, sizes: list[int]) -> tuple[torch.Tensor, State]:
    """x: [B, T, d] fed in consecutive pieces of ``sizes`` (summing to T), passing the state -> (y [B, T, d], state)."""
    ys, state, start = [], None, 0
    for n in sizes:
        y, state = mixer(x[:, start:start + n], state)
        ys.append(y)
        start += n
    return torch.cat(ys, 1), state


def run_steps(mixer: Mixer, x: torch.Tensor) -> tuple[torch.Tensor, State]:
    """x: [B, T, d] fed one token at a time through ``step`` from ``init_state`` -> (y [B, T, d], state)."""
    state = mixer.init_state(x.shape[0], dtype=x.dtype)
    ys = []
    for t in range(x.shape[1]):
        y, state = mixer.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


def accepts(mixer: Mixer, keyword: str) -> bool:
    """Whether ``mixer.forward`` takes the keyword argument ``keyword`` (``cu_seqlens``, ``mask``)."""
    return keyword in inspect.signature(mixer.forward).parameters


def takes_chunks(mixer: Mixer) -> bool:
    """Whether the mixer reads a prompt in chunks of k tokens: a ``prefill`` method, or ``step`` on [B, k, d]
    (probed with two zero tokens: a ValueError about the rank means no)."""
    if callable(getattr(mixer, "prefill", None)):
        return True
    try:
        mixer.step(torch.zeros(1, 2, mixer.d_model, dtype=_dtype(mixer)), None)
    except ValueError as e:
        if "rank 2" in str(e):
            return False
        raise
    return True


# -- the clauses ------------------------------------------------------------------------------------------------
def check_full_split_step(mixer: Mixer, tol: float) -> None:
    """One call == pieces passing the state == token by token through ``step``, in outputs and final states."""
    _need_causal(mixer)
    x = torch.randn(2, 11, mixer.d_model, dtype=_dtype(mixer), generator=torch.Generator().manual_seed(1))
    y_full, state_full = mixer(x)
    assert y_full.shape == x.shape, f"output shape {tuple(y_full.shape)} != input shape {tuple(x.shape)}"
    y_split, state_split = run_split(mixer, x, [3, 1, 7])
    y_step, state_step = run_steps(mixer, x)
    torch.testing.assert_close(y_split, y_full, atol=tol, rtol=tol)
    torch.testing.assert_close(y_step, y_full, atol=tol, rtol=tol)
    for a, b, c in zip(state_full, state_split, state_step):
        torch.testing.assert_close(b, a, atol=tol, rtol=tol)
        torch.testing.assert_close(c, a, atol=tol, rtol=tol)


def check_split(mixer: Mixer, sizes: list[int], batch: int) -> None:
    """A float64 mixer fed in pieces of ``sizes`` == one call, to 1e-10."""
    _need_causal(mixer)
    x = torch.randn(batch, sum(sizes), mixer.d_model, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y_full, _ = mixer(x)
    y_split, _ = run_split(mixer, x, sizes)
    torch.testing.assert_close(y_split, y_full, atol=1e-10, rtol=1e-10)


def check_step_from_no_state(mixer: Mixer) -> None:
    """``step(x_t, None)`` starts from ``init_state``."""
    _need_causal(mixer)
    x = torch.randn(2, mixer.d_model, dtype=_dtype(mixer))
    y0, _ = mixer.step(x, None)
    y1, _ = mixer.step(x, mixer.init_state(2, dtype=x.dtype))
    torch.testing.assert_close(y0, y1)


def check_chunked_prefill(mixer: Mixer, tol: float) -> None:
    """A prompt fed in chunks of k tokens (``prefill``, or ``step`` on [B, k, d]), then token by token through
    ``step`` == one call, in outputs and final state."""
    _need_causal(mixer)
    feed = _chunk_feeder(mixer)
    x = torch.randn(2, 11, mixer.d_model, dtype=_dtype(mixer), generator=torch.Generator().manual_seed(5))
    y_full, state_full = mixer(x)
    ys, state, start = [], None, 0
    for n in (3, 1, 5):
        y, state = feed(x[:, start:start + n], state)
        assert y.shape == (2, n, mixer.d_model), f"a chunk of {n} tokens gave output shape {tuple(y.shape)}"
        ys.append(y)
        start += n
    for t in range(start, x.shape[1]):
        y, state = mixer.step(x[:, t], state)
        ys.append(y[:, None])
    torch.testing.assert_close(torch.cat(ys, 1), y_full, atol=tol, rtol=tol)
    for a, b in zip(state_full, state):
        torch.testing.assert_close(b, a, atol=tol, rtol=tol)


def check_packed(mixer: Mixer, tol: float) -> None:
    """Sequences of several lengths packed in one row (``cu_seqlens``), each from its own initial state ==
    each sequence alone: outputs, gradients (input and parameters), final states (compared directly when
    their size is fixed, and through one more token in every case, so growing caches are covered too)."""
    _need_causal(mixer)
    if not accepts(mixer, "cu_seqlens"):
        raise Unsupported("forward takes no cu_seqlens (packed sequences)")
    lengths = [3, 1, 6, 4]
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
    d, dtype, n = mixer.d_model, _dtype(mixer), len(lengths)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(1, sum(lengths), d, dtype=dtype, generator=gen)
    weight = torch.randn(1, sum(lengths), d, dtype=dtype, generator=gen)  # the loss sum(y * weight)
    state0 = detach_state(mixer(torch.randn(n, 2, d, dtype=dtype, generator=gen))[1])
    x_next = torch.randn(1, n, d, dtype=dtype, generator=gen)

    packed = _outputs_and_grads(mixer, x, weight, lambda x: mixer(x, state0, cu_seqlens=cu))
    alone = [_outputs_and_grads(mixer, x[:, a:b], weight[:, a:b], lambda x, i=i: mixer(x, _row(state0, i)))
             for i, (a, b) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist()))]
    _compare_rows(mixer, packed, alone, tol, select=lambda t: t[0], cat=lambda ts: torch.cat(ts, 1)[0])
    y_next, _ = mixer(x_next, packed[3], cu_seqlens=torch.arange(n + 1))
    for i, one in enumerate(alone):
        torch.testing.assert_close(y_next[:, i:i + 1], mixer(x_next[:, i:i + 1], one[3])[0], atol=tol, rtol=tol)


def check_padded(mixer: Mixer, tol: float) -> None:
    """A padded batch (``mask`` [B, T], True at real tokens; right, left and interior padding) == each row's
    real tokens alone: outputs (zero at padding), gradients, final states (directly when of fixed size, and
    through one more token)."""
    _need_causal(mixer)
    if not accepts(mixer, "mask"):
        raise Unsupported("forward takes no mask (padded batches)")
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1, 1, 1],
                         [1, 1, 0, 1, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    d, dtype, n = mixer.d_model, _dtype(mixer), mask.shape[0]
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(n, mask.shape[1], d, dtype=dtype, generator=gen)
    weight = torch.randn(n, mask.shape[1], d, dtype=dtype, generator=gen)
    state0 = detach_state(mixer(torch.randn(n, 2, d, dtype=dtype, generator=gen))[1])
    x_next = torch.randn(n, 1, d, dtype=dtype, generator=gen)

    padded = _outputs_and_grads(mixer, x, weight, lambda x: mixer(x, state0, mask=mask))
    assert torch.equal(padded[0][~mask], torch.zeros_like(padded[0][~mask])), "outputs at padded positions are not 0"
    assert torch.equal(padded[1][~mask], torch.zeros_like(padded[1][~mask])), "padded inputs get a gradient"
    alone = [_outputs_and_grads(mixer, x[i:i + 1, mask[i]], weight[i:i + 1, mask[i]],
                                lambda x, i=i: mixer(x, _row(state0, i))) for i in range(n)]
    _compare_rows(mixer, padded, alone, tol, select=lambda t: t[mask], cat=lambda ts: torch.cat([t[0] for t in ts]))
    y_next, _ = mixer(x_next, padded[3])
    for i, one in enumerate(alone):
        torch.testing.assert_close(y_next[i:i + 1], mixer(x_next[i:i + 1], one[3])[0], atol=tol, rtol=tol)


def check_gradients(mixer: Mixer) -> None:
    """Every parameter and the input get a finite gradient; the input's is not all zero."""
    x = torch.randn(2, 9, mixer.d_model, dtype=_dtype(mixer), requires_grad=True)
    y, _ = mixer(x)
    (y ** 2).mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0, "the input's gradient is zero or not finite"
    for pname, p in mixer.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"


def check_bad_input(mixer: Mixer, make_x: Callable[[int], torch.Tensor], message: str) -> None:
    """``mixer(make_x(d_model))`` raises a ValueError whose text matches the regular expression ``message``
    (``{d}`` in it stands for d_model)."""
    _expect_value_error(lambda: mixer(make_x(mixer.d_model)), message.format(d=mixer.d_model))


def check_state_batch_mismatch(mixer: Mixer) -> None:
    """A state for another batch size is refused by ``forward`` and ``step``, and so is a rank-3 ``x_t``."""
    _need_causal(mixer)
    d, dtype = mixer.d_model, _dtype(mixer)
    _, state = mixer(torch.randn(2, 4, d, dtype=dtype))
    _expect_value_error(lambda: mixer(torch.randn(3, 4, d, dtype=dtype), state), "batch")
    _expect_value_error(lambda: mixer.step(torch.randn(3, d, dtype=dtype), state), "batch")
    _expect_value_error(lambda: mixer.step(torch.randn(2, 1, d, dtype=dtype), state), "x_t")


def check_grad_modes(mixer: Mixer, grad_mode: str) -> None:
    """Under ``torch.no_grad`` or ``torch.inference_mode`` (``grad_mode``), one call, pieces and ``step`` all
    work and give the grad-mode numbers (serving runs without autograd)."""
    _need_causal(mixer)
    x = torch.randn(2, 7, mixer.d_model, dtype=_dtype(mixer), generator=torch.Generator().manual_seed(3))
    y_grad, state_grad = mixer(x)
    tol = 1e-10 if x.dtype == torch.float64 else 1e-5
    with GRAD_MODES[grad_mode]():
        y_full, state_full = mixer(x)
        y_split, _ = run_split(mixer, x, [4, 3])
        y_step, state_step = run_steps(mixer, x)
    for got in (y_full, y_split, y_step):
        torch.testing.assert_close(got, y_grad.detach(), atol=tol, rtol=tol)
    for a, b, c in zip(state_grad, state_full, state_step):
        torch.testing.assert_close(b, a.detach(), atol=tol, rtol=tol)
        torch.testing.assert_close(c, a.detach(), atol=tol, rtol=tol)


def check_state_size(mixer: Mixer) -> None:
    """``state_size`` counts the floats per sequence of ``init_state`` and of the state ``forward`` returns;
    None means the state grows with T (checked)."""
    _need_causal(mixer)
    dtype = _dtype(mixer)
    _, state = mixer(torch.randn(3, 20, mixer.d_model, dtype=dtype))
    carried = sum(t.numel() for t in state if t.is_floating_point()) // 3
    if mixer.state_size is None:
        _, longer = mixer(torch.randn(3, 25, mixer.d_model, dtype=dtype))
        assert sum(t.numel() for t in longer if t.is_floating_point()) // 3 > carried, \
            "state_size is None but the state does not grow with T"
    else:
        assert mixer.state_size == carried, f"state_size {mixer.state_size} != {carried} floats carried"
        assert all(t.shape[0] == 3 for t in state), "a state tensor's first dimension is not the batch"
        zero = sum(t.numel() for t in mixer.init_state(3, dtype=dtype) if t.is_floating_point()) // 3
        assert mixer.state_size == zero, f"state_size {mixer.state_size} != {zero} floats in init_state"


def check_materialize(mixer: Mixer, tol: float) -> None:
    """A mixer with an implicit attention matrix (``matrix_form``) gives its own output from it: ``forward(x)[0]`` ==
    ``readout(matrix @ values)`` of ``matrix_parts(x)``, the matrix [B, H, T, T] is causal (zero above the diagonal)
    and ``materialize`` returns it; a mixer without one refuses ``materialize`` with a ValueError."""
    x = torch.randn(2, 9, mixer.d_model, dtype=_dtype(mixer))
    if not mixer.matrix_form:
        _expect_value_error(lambda: mixer.materialize(x), "no implicit attention matrix")
        return
    matrix, values, readout = mixer.matrix_parts(x)
    if matrix.dim() != 4 or matrix.shape[0] != 2 or matrix.shape[2:] != (9, 9) or matrix.shape[1] != values.shape[2]:
        raise AssertionError(f"matrix must be [B, H, T, T] = [2, {values.shape[2]}, 9, 9], got {tuple(matrix.shape)}")
    torch.testing.assert_close(readout(torch.einsum("bhts,bshd->bthd", matrix, values)), mixer(x)[0], atol=tol, rtol=tol)
    above = torch.triu(torch.ones(9, 9, dtype=torch.bool), 1)
    if matrix[..., above].abs().max() != 0:
        raise AssertionError("the implicit attention matrix of a causal mixer must be zero above the diagonal")
    torch.testing.assert_close(mixer.materialize(x), matrix, atol=0, rtol=0)


def check_state_dtype_device(mixer: Mixer) -> None:
    """``init_state(B, device, dtype)`` honours both; ``forward`` and ``step`` return states of the input's
    dtype and device with the batch first; integer (bookkeeping) tensors stay integer."""
    _need_causal(mixer)
    dtype = _dtype(mixer)
    x = torch.randn(2, 3, mixer.d_model, dtype=dtype)
    zero = mixer.init_state(2, dtype=dtype)
    on_meta = mixer.init_state(2, device="meta", dtype=dtype)
    assert all(t.device.type == "meta" for t in on_meta), "init_state ignores its device argument"
    for what, state in (("init_state", zero), ("forward", mixer(x)[1]), ("step", mixer.step(x[:, 0], None)[1])):
        assert len(state) == len(zero), f"{what} returned {len(state)} state tensors, init_state {len(zero)}"
        for i, (t, ref) in enumerate(zip(state, zero)):
            assert t.shape[0] == 2, f"{what}: state[{i}] has shape {tuple(t.shape)}, batch 2 not first"
            assert t.device == x.device, f"{what}: state[{i}] is on {t.device}, the input on {x.device}"
            assert t.is_floating_point() == ref.is_floating_point(), f"{what}: state[{i}] is {t.dtype}"
            if t.is_floating_point():
                assert t.dtype == dtype, f"{what}: state[{i}] is {t.dtype} for {dtype} input"


# -- check_mixer ------------------------------------------------------------------------------------------------
@dataclass
class Clause:
    name: str
    status: str  # "pass", "fail" or "skip"
    detail: str = ""  # the error of a failed clause, the reason of a skipped one


@dataclass
class Report:
    """The result of ``check_mixer``: one ``Clause`` per contract clause, in order."""

    mixer: str
    clauses: list[Clause]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.clauses if c.status == "fail"]

    def __getitem__(self, name: str) -> Clause:
        for c in self.clauses:
            if c.name == name:
                return c
        raise KeyError(f"no clause {name!r}; the clauses are {[c.name for c in self.clauses]}")

    def __str__(self) -> str:
        width = max(len(c.name) for c in self.clauses)
        lines = [f"{self.mixer}: the mixer contract"]
        for c in self.clauses:
            mark = {"pass": "pass", "fail": "FAIL", "skip": "skip"}[c.status]
            lines.append(f"  {mark}  {c.name.ljust(width)}  {c.detail}".rstrip())
        counts = {s: sum(c.status == s for c in self.clauses) for s in ("pass", "fail", "skip")}
        lines.append(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
        return "\n".join(lines)


def _clauses(build: Callable[[torch.dtype], Mixer]) -> dict[str, Callable[[], None]]:
    """Clause name -> the checks it runs, each on a freshly built mixer (same weights) in the dtype it needs."""
    def f32() -> Mixer:
        return build(torch.float32)

    def f64() -> Mixer:
        return build(torch.float64)

    def full_split_step() -> None:
        check_full_split_step(f32(), F32[1])
        check_full_split_step(f64(), F64[1])
        for sizes in SPLITS:
            check_split(f64(), sizes, batch=2)

    def grad_modes() -> None:
        for mode in GRAD_MODES:
            check_grad_modes(f64(), mode)

    def state_dtype_device() -> None:
        check_state_dtype_device(f32())
        check_state_dtype_device(f64())

    return {
        "full == split == step": full_split_step,
        "step from no state": lambda: check_step_from_no_state(f32()),
        "chunked prefill": lambda: check_chunked_prefill(f64(), F64[1]),
        "packed == per-sequence": lambda: check_packed(f64(), F64[1]),
        "padded == unpadded": lambda: check_padded(f64(), F64[1]),
        "gradients": lambda: check_gradients(f32()),
        **{f"bad input: {case}": (lambda make_x=make_x, message=message: check_bad_input(f32(), make_x, message))
           for case, make_x, message in BAD_INPUTS},
        "bad state: batch": lambda: check_state_batch_mismatch(f32()),
        "no_grad and inference_mode": grad_modes,
        "state_size": lambda: check_state_size(f32()),
        "state dtype and device": state_dtype_device,
        "materialize": lambda: check_materialize(f32(), F32[1]),
    }


def check_mixer(mixer: type[Mixer] | Mixer, *, d_model: int | None = None, options: dict | None = None,
                seed: int = 0) -> Report:
    """Run every clause of the mixer contract on ``mixer`` and report which hold.

    ``mixer``: a ``Mixer`` subclass, built as ``cls(cls.config_class(d_model=d_model, **options))`` (d_model
    16 unless given) after ``torch.manual_seed(seed)``, or an instance (copied for each clause; ``d_model`` and ``options`` must then
    be left out). Clauses that need what the mixer does not offer (a non-causal mixer's step, packed or padded
    batches before the mixer takes them) are skipped with the reason.
    """
    build = _builder(mixer, d_model, options or {}, seed)
    name = type(mixer).__name__ if isinstance(mixer, Mixer) else mixer.__name__
    results = []
    for clause, run in _clauses(build).items():
        try:
            run()
        except Unsupported as e:
            results.append(Clause(clause, "skip", str(e)))
        except Exception as e:  # noqa: BLE001 -- a user's mixer may raise anything; the report names it
            results.append(Clause(clause, "fail", _one_line(e)))
        else:
            results.append(Clause(clause, "pass"))
    return Report(name, results)


def _builder(mixer, d_model: int | None, options: dict, seed: int) -> Callable[[torch.dtype], Mixer]:
    if isinstance(mixer, Mixer):
        if options or d_model is not None:
            raise ValueError("d_model and options build a mixer class; an instance is checked as it is")
        return lambda dtype: copy.deepcopy(mixer).to(dtype)
    if not (isinstance(mixer, type) and issubclass(mixer, Mixer)):
        raise ValueError(f"check_mixer takes a Mixer subclass or instance, got {mixer!r:.80}")
    known = {f.name for f in fields(mixer.config_class)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"{mixer.__name__} has no option(s) {unknown}; its config "
                         f"{mixer.config_class.__name__} has {sorted(known)}")
    config = mixer.config_class(d_model=16 if d_model is None else d_model, **options)

    def build(dtype: torch.dtype) -> Mixer:
        torch.manual_seed(seed)
        return mixer(config).to(dtype)

    return build


def _one_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    text = text if isinstance(e, AssertionError) else f"{type(e).__name__}: {text}"
    return text if len(text) <= 300 else text[:297] + "..."


def _expect_value_error(call: Callable[[], object], message: str) -> None:
    try:
        call()
    except ValueError as e:
        if not re.search(message, str(e)):
            raise AssertionError(f"the ValueError does not say {message!r}: {e}") from None
        return
    raise AssertionError(f"accepted without a ValueError saying {message!r}")


def _need_causal(mixer: Mixer) -> None:
    if not mixer.causal:
        raise Unsupported("not causal: no step and no state to carry")


def _dtype(mixer: Mixer) -> torch.dtype:
    return mixer._param_dtype()


def _row(state: State, i: int) -> State:
    return tuple(t[i:i + 1] for t in state)


def _chunk_feeder(mixer: Mixer):
    """``prefill`` if the mixer has one, else ``step`` when it takes [B, k, d] chunks; Unsupported otherwise."""
    if not takes_chunks(mixer):
        raise Unsupported("step takes one token ([B, d_model]) and there is no prefill method")
    return mixer.prefill if callable(getattr(mixer, "prefill", None)) else mixer.step


def _outputs_and_grads(mixer: Mixer, x: torch.Tensor, weight: torch.Tensor, call):
    """(y, dL/dx, {parameter: dL/dp}, final state) of ``call(x)`` for the loss sum(y * weight)."""
    x = x.detach().requires_grad_()
    mixer.zero_grad()
    y, state = call(x)
    (y * weight).sum().backward()
    grads = {n: p.grad.clone() for n, p in mixer.named_parameters() if p.grad is not None}
    return y.detach(), x.grad, grads, detach_state(state)


def _compare_rows(mixer: Mixer, together, alone, tol: float, select, cat) -> None:
    """The packed or padded call (``together``) against each sequence alone: outputs and input gradients
    (``select`` the real tokens, ``cat`` the single runs), parameter gradients summed over the single runs,
    and final states row by row when their size is fixed."""
    kw = dict(atol=tol, rtol=tol)
    torch.testing.assert_close(select(together[0]), cat([a[0] for a in alone]), **kw)
    torch.testing.assert_close(select(together[1]), cat([a[1] for a in alone]), **kw)
    for name, g in together[2].items():
        # a parameter may get no gradient from a sequence alone (e.g. combiner's summaries on a short one): 0
        summed = sum((a[2][name] for a in alone if name in a[2]), torch.zeros_like(g))
        torch.testing.assert_close(g, summed, **kw, msg=lambda m, name=name: f"{name}: {m}")
    missing = set().union(*(a[2] for a in alone)) - set(together[2])
    assert not missing, f"parameters {sorted(missing)} get a gradient alone but not together"
    if mixer.state_size is not None:
        for i, one in enumerate(alone):
            for j, (t, ref) in enumerate(zip(_row(together[3], i), one[3])):
                torch.testing.assert_close(t, ref, **kw, msg=lambda m, i=i, j=j: f"sequence {i}, state[{j}]: {m}")
