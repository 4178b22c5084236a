"""What every op shares: the checks of mode, chunk size and dtype, the upcast to the compute dtype, and the
autocast guard.

Ops compute in float32 at least (float64 stays float64), return their output in the input's dtype and their
final state in the compute dtype: float32 for float32, bfloat16 and float16 inputs, as flash-linear-attention
returns it, so a state carried across calls never loses precision to a half-precision activation dtype.
Non-floating inputs (int64, bool where a float is meant) are refused, never computed in and returned.

Under ``torch.autocast`` an op (decorated with ``autocast_safe``) runs with autocast disabled: autocast would
otherwise recast the op's float32 matmuls to bfloat16 between its float32 steps. The output still follows the
rule above, in the dtype of the tensors the op was given (what autocast's layers produced before it).
"""

from __future__ import annotations

import contextlib
import functools
import operator

import torch

_AUTOCAST_DEVICES = ("cpu", "cuda")


def check_mode(op: str, mode: str, modes: tuple[str, ...]) -> None:
    """Raises a ValueError naming ``op`` and its ``modes`` unless ``mode`` is one of them."""
    if mode not in modes:
        raise ValueError(f"{op}: mode must be one of {modes}, got {mode!r}")


def check_chunk_size(op: str, chunk_size, name: str = "chunk_size") -> None:
    """Raises a ValueError naming ``op`` and ``name`` unless ``chunk_size`` is an integer >= 1 (numpy ints count)."""
    try:
        ok = not isinstance(chunk_size, bool) and operator.index(chunk_size) >= 1
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{op}: {name} must be an integer >= 1, got {chunk_size!r}")


def check_sequence(op: str, u: torch.Tensor, layout: str, bias: torch.Tensor | None = None, channels: int = 0) -> None:
    """Raises a ValueError naming ``op`` unless ``u`` is a rank-3 sequence ``layout`` (e.g. "[B, T, D]") with
    T >= 1, and ``bias`` (if given) is one value per ``channels``."""
    if u.dim() != 3 or u.shape[1] == 0:
        raise ValueError(f"{op}: u must be {layout} with T >= 1, got {tuple(u.shape)}")
    if bias is not None and bias.shape != (channels,):
        raise ValueError(f"{op}: bias must be [{channels}], got {tuple(bias.shape)}")


def checking_values() -> bool:
    """False while ``torch.export`` traces (``rnnzoo.export``): a graph cannot branch on tensor values, so checks
    that read values (a negative learning rate, a NaN) are done once, eagerly, on the example before tracing."""
    return not torch.compiler.is_exporting()


def check_float(*tensors: torch.Tensor | None, op: str = "op") -> None:
    """Raises a ValueError naming ``op`` and the dtype of the first tensor that is not floating point (or complex)."""
    for t in tensors:
        if t is not None and not (t.is_floating_point() or t.is_complex()):
            raise ValueError(f"{op}: inputs must be floating point, got {t.dtype}")


def compute_dtype(*tensors: torch.Tensor | None, op: str = "op") -> torch.dtype:
    """float32 at least; float64 (or complex) inputs promote it. Non-floating tensors are refused (``check_float``)."""
    check_float(*tensors, op=op)
    dtype = torch.float32
    for t in tensors:
        if t is not None:
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def upcast(*tensors: torch.Tensor | None, op: str = "op") -> list[torch.Tensor | None]:
    """Every tensor in ``compute_dtype`` of them all (None stays None); non-floating tensors are refused."""
    dtype = compute_dtype(*tensors, op=op)
    return [None if t is None else t.to(dtype) for t in tensors]


def autocast_safe(fn):
    """Runs op ``fn`` with autocast disabled on every device where it is enabled (see the module docstring)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        on = [d for d in _AUTOCAST_DEVICES if torch.is_autocast_enabled(d)]
        if not on:
            return fn(*args, **kwargs)
        with contextlib.ExitStack() as stack:
            for device in on:
                stack.enter_context(torch.autocast(device_type=device, enabled=False))
            return fn(*args, **kwargs)
    return wrapper
