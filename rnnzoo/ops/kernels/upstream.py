"""Optional GPU kernels from the upstream packages, used by ``mode="auto"`` on CUDA tensors.

rnnzoo's op signatures follow flash-linear-attention's and mamba_ssm's, so where CUDA and those packages are
installed an op can hand its arguments to the upstream kernel unchanged:

| op | upstream kernel (package) |
| --- | --- |
| gla | ``fla.ops.gla.chunk_gla`` (flash-linear-attention) |
| simple_gla | ``fla.ops.simple_gla.chunk_simple_gla`` (flash-linear-attention) |
| selective_scan | ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` (mamba_ssm) |

Any other op, or these without their package, runs rnnzoo's PyTorch chunk form on the GPU, and says so once
per op with a warning (a slow path never runs silently). ``backend_report(device)`` tells, per op, which
implementation ``mode="auto"`` runs there and why. Upstream is only reached through ``mode="auto"``; the
explicit modes (``"recurrent"``, ``"chunk"``, ``"kernel"``) always run rnnzoo's own code.
"""

from __future__ import annotations

import importlib
import warnings

import torch

UPSTREAM: dict[str, tuple[str, str, str]] = {
    "gla": ("fla.ops.gla", "chunk_gla", "flash-linear-attention"),
    "simple_gla": ("fla.ops.simple_gla", "chunk_simple_gla", "flash-linear-attention"),
    "selective_scan": ("mamba_ssm.ops.selective_scan_interface", "selective_scan_fn", "mamba_ssm"),
}
_warned: set[str] = set()


def on_accelerator(t: torch.Tensor) -> bool:
    """Whether ``t`` lives where upstream GPU kernels run (CUDA)."""
    return t.is_cuda


def find(op: str):
    """(callable, None) for the upstream kernel of ``op``, or (None, why not) when it has none here."""
    if op not in UPSTREAM:
        return None, "no upstream kernel with this op's signature"
    module, attr, package = UPSTREAM[op]
    try:
        return getattr(importlib.import_module(module), attr), None
    except (ImportError, AttributeError) as e:
        return None, f"{package} is not installed ({type(e).__name__}: {e})"


def dispatch(op: str, mode: str, tensor: torch.Tensor):
    """The upstream kernel to run for ``op`` on ``tensor``'s device in ``mode``, or None (run rnnzoo's own).
    On an accelerator without one, warns once naming the op that the PyTorch chunk form runs instead."""
    if mode != "auto" or not on_accelerator(tensor):
        return None
    fn, why = find(op)
    if fn is None and op not in _warned:
        _warned.add(op)
        warnings.warn(f"rnnzoo.ops.{op} on {tensor.device}: {why}; running rnnzoo's PyTorch chunk form (slower)",
                      stacklevel=3)
    return fn


def backend_report(device: str | torch.device = "cpu") -> dict[str, str]:
    """op name -> which implementation ``mode="auto"`` (or the op's default mode) runs on ``device`` and why."""
    from rnnzoo.ops import __all__ as OPS
    from rnnzoo.ops.kernels import native

    device = torch.device(device)
    report = {}
    for op in OPS:
        fn = getattr(importlib.import_module("rnnzoo.ops"), op)
        kernel = getattr(importlib.import_module(fn.__module__), "KERNEL", None)  # declared beside the op's MODES
        if device.type == "cuda":
            fn, why = find(op)
            if fn is not None:
                module, attr, package = UPSTREAM[op]
                report[op] = f"upstream {module}.{attr} ({package})"
            else:
                report[op] = f"rnnzoo PyTorch chunk form on the GPU ({why})"
        elif kernel:
            probe = torch.zeros(1, device=device)
            if native.available(kernel, probe):
                report[op] = f"rnnzoo compiled CPU kernel ({kernel})"
            else:
                report[op] = "rnnzoo PyTorch chunk form (the compiled kernel cannot run here: no C compiler, " \
                             "or RNNZOO_NATIVE=0)"
        else:
            report[op] = "rnnzoo PyTorch form (the op's default mode; no compiled kernel)"
    return report
