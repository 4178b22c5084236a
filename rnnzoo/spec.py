"""Specs as strings, one syntax everywhere: ``name`` or ``name:key=value:key=value``.

Mixer specs (``rnnzoo lm train --mixer gla:num_heads=2``, ``rnnzoo bench --mixers ...``, ``--encoder`` /
``--decoder`` of ``rnnzoo seq2seq``) are typed by the mixer's config fields; task specs and other names take
each value as a Python literal, else as a string.

```python
parse_mixer_spec("deltanet:allow_neg_eigval=True:num_heads=2")  # ("deltanet", {"allow_neg_eigval": True, "num_heads": 2})
parse_spec("mqar:test_lens=(64,128)")                           # ("mqar", {"test_lens": (64, 128)})
split_list("attention,mqar:test_lens=(64,128)")                 # commas inside brackets do not split
```
"""

from __future__ import annotations

import typing

from rnnzoo.config_args import literal_or_text, parse_value


def _split(spec: str) -> tuple[str, dict[str, str]]:
    name, *parts = spec.strip().split(":")
    raw = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad option {part!r} in {spec!r}; write name:key=value:key=value")
        raw[key.strip()] = value.strip()
    if not name:
        raise ValueError(f"empty name in spec {spec!r}")
    return name, raw


def parse_spec(spec: str) -> tuple[str, dict]:
    """(name, options), each value a Python literal, else a string."""
    name, raw = _split(spec)
    return name, {k: literal_or_text(v) for k, v in raw.items()}


def parse_mixer_spec(spec: str) -> tuple[str, dict]:
    """(mixer name, options) with each value converted to its config field's type. Unknown option names are
    kept (as literals) for ``mixers.make_config`` to refuse with the list of valid ones; a name outside the
    registry is returned as is when it has no options (``"set"``, or a suite mixer that has not landed). A hybrid
    stack (``hybrid:gla*2+attention``, see ``rnnzoo.models.hybrid``) is checked and returned whole, no options."""
    from rnnzoo import mixers
    from rnnzoo.models.hybrid import is_hybrid, parse_hybrid

    if is_hybrid(spec):
        parse_hybrid(spec)
        return spec.strip(), {}

    name, raw = _split(spec)
    if not raw:
        return name, {}
    hints = typing.get_type_hints(mixers.get(name).config_class)
    options = {}
    for key, value in raw.items():
        try:
            options[key] = parse_value(value, hints[key]) if key in hints else literal_or_text(value)
        except ValueError as e:
            raise ValueError(f"mixer {name!r} option {key}={value}: {e}") from None
    return name, options


def format_spec(name: str, options: dict) -> str:
    """The spec string of (name, options): ``format_spec(*parse_mixer_spec(s))`` reads like ``s``."""
    return ":".join([name, *(f"{k}={v}" for k, v in options.items())])


def split_list(text: str) -> list[str]:
    """Split on commas that are not inside (), [] or {}."""
    items, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    return [s.strip() for s in items if s.strip()]
