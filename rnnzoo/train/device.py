"""Where a run computes and in what precision: device names, batch moves, autocast, the process-group backend.

```python
device = resolve_device("auto")                 # cuda if present, else mps if present, else cpu
check_precision("cpu", "bfloat16")              # ValueError for float16 on CPU, an absent device, ...
batch = to_device((inputs, {"mask": mask}), device)
with autocast(device, "bfloat16"):              # no-op for float32
    loss = loss_fn(model, batch)
```

Mixed precision is autocast only: parameters and optimiser state stay float32, matmuls run in the lower
precision, and float16 (CUDA only) needs a ``torch.amp.GradScaler`` (``needs_grad_scaler``).
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICE_HELP = "cpu, cuda, cuda:N, mps, or auto (cuda if present, else mps, else cpu)"
DTYPE_HELP = ("compute precision: float32, or autocast to bfloat16 (CPU and GPU) or float16 (GPU only, with loss "
              "scaling when training); weights and optimiser state stay float32")


def available_devices() -> list[str]:
    """The device names that work on this machine, e.g. ["cpu", "cuda:0", "cuda:1"]."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def check_device(name: str) -> None:
    """ValueError (one line, naming the device and what is available) unless ``name`` is a known device name
    that exists on this machine."""
    if name in ("auto", "cpu"):
        return
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device 'mps' is not available here; available: {', '.join(available_devices())}")
        return
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise ValueError(f"unknown device {name!r}; expected one of {', '.join(DEVICES)} "
                         f"(available here: {', '.join(available_devices())})")
    index = int(match.group(1) or 0)
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} is not available here (torch.cuda.is_available() is "
                         f"{torch.cuda.is_available()}); available: {', '.join(available_devices())}")


def resolve_device(name: str) -> torch.device:
    """The torch.device that ``name`` means on this machine; "auto": cuda, else mps, else cpu."""
    check_device(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    return torch.device(name)


def check_precision(device: str, dtype: str) -> None:
    """ValueError unless ``device`` exists here and ``dtype`` is one of DTYPES that autocast supports on it
    (float16 needs a GPU)."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    kind = resolve_device(device).type
    if dtype == "float16" and kind == "cpu":
        raise ValueError(f"dtype float16 needs a GPU (device {device!r} is the CPU here); use bfloat16 on CPU")


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer (cpu for a model without any)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor moved to ``device``: a tensor, or tuples/lists/dicts nesting tensors (other
    values are kept as they are)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return type(batch)((k, to_device(v, device)) for k, v in batch.items())
    if isinstance(batch, (tuple, list)):
        moved = [to_device(b, device) for b in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    return batch


def autocast(device: torch.device, dtype: str):
    """``torch.autocast`` to ``dtype`` on ``device``'s type; a no-op context for float32."""
    if dtype == "float32":
        return nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[dtype])


def needs_grad_scaler(device: torch.device, dtype: str) -> bool:
    """float16 gradients underflow without loss scaling; bfloat16 has float32's exponent range."""
    return dtype == "float16" and device.type == "cuda"


def process_group_backend(device: torch.device) -> str:
    """The torch.distributed backend for tensors on ``device``: nccl for CUDA, gloo otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"
