"""What every op shares: the mode check and the upcast to the compute dtype.

Ops compute in float32 at least (float64 stays float64), return their output in the input's dtype and their
final state in the compute dtype: float32 for float32, bfloat16 and float16 inputs, as flash-linear-attention
returns it, so a state carried across calls never loses precision to a half-precision activation dtype.
"""

from __future__ import annotations

import torch


def check_mode(op: str, mode: str, modes: tuple[str, ...]) -> None:
    """Raises a ValueError naming ``op`` and its ``modes`` unless ``mode`` is one of them."""
    if mode not in modes:
        raise ValueError(f"{op}: mode must be one of {modes}, got {mode!r}")


def compute_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """float32 at least; float64 (or complex) inputs promote it."""
    dtype = torch.float32
    for t in tensors:
        if t is not None:
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def upcast(*tensors: torch.Tensor | None) -> list[torch.Tensor | None]:
    """Every tensor in ``compute_dtype`` of them all (None stays None)."""
    dtype = compute_dtype(*tensors)
    return [None if t is None else t.to(dtype) for t in tensors]
