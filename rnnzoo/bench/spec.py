"""Run specs as strings: ``name`` or ``name:key=value:key=value`` (values are Python literals, else strings).

```python
parse_spec("deltanet:allow_neg_eigval=True:num_heads=2")  # ("deltanet", {"allow_neg_eigval": True, "num_heads": 2})
split_list("attention,mqar:test_lens=(64,128)")         # commas inside brackets do not split
```
"""

from __future__ import annotations

import ast


def parse_spec(spec: str) -> tuple[str, dict]:
    name, *parts = spec.strip().split(":")
    options = {}
    for part in parts:
        key, sep, raw = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad option {part!r} in {spec!r}; write name:key=value:key=value")
        try:
            options[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            options[key.strip()] = raw.strip()
    if not name:
        raise ValueError(f"empty name in spec {spec!r}")
    return name, options


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
