"""Type checks for config dataclasses, from their annotations: one generic check instead of one per field.

```python
@dataclass
class MyConfig:
    steps: int = 100
    lr: float = 1e-3
    head_dim: int | None = None
    def __post_init__(self): check_types(self)   # MyConfig(steps="abc") -> ValueError naming steps
```

Rules: ``int`` takes ints but not bools (``True`` is not a width), and not below the field's ``minimum``
metadata (``option(1000, "optimiser steps", minimum=1)``: the field's range stated once, where it is
declared), else not below 0 (every int option here is a size, a count or an index); ``float`` takes ints and floats, finite
only; ``bool`` takes bools only; ``str`` takes strings; ``X | None`` also takes None. Fields of other
types (tuples, nested dataclasses, callables) are left to the config's own checks. Options that recur
under one name across configs carry their range here, once (``NAMED_RANGES``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing

_CHECKED = (bool, int, float, str)
# name -> (test, what it must be): the range of an option wherever a config has a field of that name
NAMED_RANGES = {
    "rotary_base": (lambda v: v > 1, "> 1 (base**(-2i/D) must fall with i)"),
    "norm_eps": (lambda v: v > 0, "> 0"),
    "eps": (lambda v: v > 0, "> 0"),
    "dt_min": (lambda v: v > 0, "> 0 (dt is sampled log-uniformly)"),
    "dt_max": (lambda v: v > 0, "> 0 (dt is sampled log-uniformly)"),
    "dt_init_floor": (lambda v: v > 0, "> 0"),
    "conv_size": (lambda v: v >= 1, ">= 1"),
    "gate_low_rank_dim": (lambda v: v >= 1, ">= 1"),
    "gate_logit_normalizer": (lambda v: v > 0, "> 0"),
    "sine_freq": (lambda v: v > 0, "> 0"),
}


@functools.cache
def field_types(cls: type) -> dict[str, tuple[type, ...]]:
    """Field name -> the types its annotation allows, for fields annotated with bool/int/float/str (or
    unions of them with None); other fields are not listed."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        hint = hints.get(f.name)
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
            else (hint,)
        if args and all(a in _CHECKED or a is type(None) for a in args):
            out[f.name] = tuple(args)
    return out


@functools.cache
def int_floors(cls: type) -> dict[str, int]:
    """Field name -> the least int it takes: its ``minimum`` metadata, else 0."""
    return {f.name: f.metadata.get("minimum", 0) for f in dataclasses.fields(cls)}


def check_types(config) -> None:
    """Raise ValueError naming the first field of dataclass instance ``config`` whose value its annotation
    does not allow (see the module docstring)."""
    name, floors = type(config).__name__, int_floors(type(config))
    for field, allowed in field_types(type(config)).items():
        value = getattr(config, field)
        if value is None and type(None) in allowed:
            continue
        ok = False
        for t in allowed:
            if t is int:
                ok = isinstance(value, int) and not isinstance(value, bool)
                if ok and value < floors[field]:
                    raise ValueError(f"{name}.{field} must be >= {floors[field]}, got {value}")
            elif t is float:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                if ok and not math.isfinite(value):
                    raise ValueError(f"{name}.{field} must be a finite number, got {value!r}")
            elif t is type(None):
                ok = False
            else:
                ok = isinstance(value, t)
            if ok:
                break
        if not ok:
            want = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
            raise ValueError(f"{name}.{field} must be {want}, got {type(value).__name__} {value!r}")
        if field in NAMED_RANGES and value is not None and not NAMED_RANGES[field][0](value):
            raise ValueError(f"{name}.{field} must be {NAMED_RANGES[field][1]}, got {value!r}")


def at_least(config, minimum: float, *fields: str) -> None:
    """Raise ValueError naming the first of ``fields`` of ``config`` below ``minimum``."""
    for f in fields:
        if getattr(config, f) < minimum:
            raise ValueError(f"{type(config).__name__}.{f} must be >= {minimum}, got {getattr(config, f)}")


def positive(config, *fields: str) -> None:
    """Raise ValueError naming the first of ``fields`` of ``config`` that is not > 0."""
    for f in fields:
        if not getattr(config, f) > 0:
            raise ValueError(f"{type(config).__name__}.{f} must be > 0, got {getattr(config, f)}")
