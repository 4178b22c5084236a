"""Hybrid stacks: a mixer spec naming a pattern of mixers, one per layer, repeated to fill the model.

Syntax (one everywhere: ``--mixer`` flags, ``rnnzoo bench --mixers``, ``LMConfig.mixer``):
``hybrid:ELEMENT+ELEMENT+...``, each ELEMENT a mixer spec (``name`` or ``name:key=value:...``) with an
optional ``*N`` repeat at its end. Elements are joined by ``+`` so that a comma-separated list of mixer specs
(the bench's ``--mixers``) can hold hybrids. The pattern repeats to fill ``n_layers``, which must be a
multiple of the pattern's length.

```python
parse_hybrid("hybrid:gla:num_heads=2*2+attention")  # (("gla", {"num_heads": 2}), ("gla", {"num_heads": 2}), ("attention", {}))
layer_mixers("hybrid:gla*2+attention", 6)           # gla, gla, attention, gla, gla, attention
```
"""

from __future__ import annotations

import re

PREFIX = "hybrid:"
_REPEAT = re.compile(r"^(.*?)\s*\*\s*(\d+)$")


def is_hybrid(spec: str) -> bool:
    return spec.strip().startswith(PREFIX)


def parse_hybrid(spec: str) -> tuple[tuple[str, dict], ...]:
    """The pattern of ``hybrid:...`` as (mixer name, typed options) per layer, ``*N`` expanded. Unknown or
    non-causal mixers, bad options and empty elements raise one-line ValueErrors naming the element."""
    from rnnzoo import mixers
    from rnnzoo.spec import parse_mixer_spec

    body = spec.strip()[len(PREFIX):]
    if not body.strip():
        raise ValueError(f"empty hybrid pattern in {spec!r}; write e.g. hybrid:gla*2+attention")
    pattern = []
    for element in body.split("+"):
        element, repeat = element.strip(), 1
        match = _REPEAT.match(element)
        if match:
            element, repeat = match.group(1), int(match.group(2))
        if not element or repeat < 1:
            raise ValueError(f"bad hybrid element {element!r}{'' if repeat else ' (repeat 0)'} in {spec!r}; "
                             "write name[:key=value...][*N] joined by +, e.g. hybrid:gla*2+attention")
        if is_hybrid(element):
            raise ValueError(f"hybrid patterns do not nest: {spec!r}")
        name, options = parse_mixer_spec(element)
        if not mixers.get(name).causal:  # unknown names raise listing the valid ones
            raise ValueError(f"hybrid stacks are causal language models; {name!r} in {spec!r} is not causal")
        pattern += [(name, options)] * repeat
    return tuple(pattern)


def layer_mixers(spec: str, n_layers: int) -> list[tuple[str, dict]]:
    """(mixer name, options) for each of ``n_layers`` layers: the pattern repeated; its length must divide
    ``n_layers``."""
    pattern = parse_hybrid(spec)
    if n_layers % len(pattern):
        raise ValueError(f"hybrid pattern {spec!r} has {len(pattern)} layers, which does not divide "
                         f"n_layers={n_layers}; use a multiple of {len(pattern)}")
    return list(pattern) * (n_layers // len(pattern))
