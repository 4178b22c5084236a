"""Name -> mixer class registry, so models and the CLI build any mixer from a string.

```python
from rnnzoo import mixers
mixer = mixers.build("lstm", d_model=64)                 # config defaults
mixer = mixers.build("sliding_attention", d_model=64, window=32)
mixers.names()                                           # every registered name
```
"""

from __future__ import annotations

import dataclasses

from rnnzoo.mixers.base import Mixer

_REGISTRY: dict[str, type[Mixer]] = {}


def register(name: str):
    """Class decorator: make ``name`` buildable with ``build(name, ...)``."""

    def wrap(cls: type[Mixer]) -> type[Mixer]:
        if name in _REGISTRY:
            raise ValueError(f"mixer name {name!r} is already registered to {_REGISTRY[name].__name__}")
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls

    return wrap


def names() -> list[str]:
    """All registered mixer names, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> type[Mixer]:
    """The class registered under ``name``; unknown names raise ValueError listing the valid ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown mixer {name!r}; valid names: {', '.join(names())}")
    return _REGISTRY[name]


def config_fields(name: str) -> dict[str, dataclasses.Field]:
    """The config dataclass fields of mixer ``name`` (for CLI flags and docs)."""
    return {f.name: f for f in dataclasses.fields(get(name).config_class)}


def make_config(name: str, d_model: int, **overrides):
    """The config of mixer ``name`` with ``d_model`` and keyword overrides; unknown keys raise."""
    cls = get(name)
    fields = config_fields(name)
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(
            f"mixer {name!r} has no option(s) {unknown}; its options are: {', '.join(sorted(fields))}"
        )
    return cls.config_class(d_model=d_model, **overrides)


def build(name: str, d_model: int, **overrides) -> Mixer:
    """Instantiate mixer ``name`` with model width ``d_model`` and config overrides."""
    return get(name)(make_config(name, d_model, **overrides))
