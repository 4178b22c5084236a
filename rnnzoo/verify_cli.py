"""``rnnzoo verify module:Class``: the mixer contract (``rnnzoo.testing.check_mixer``) on your own mixer.

```
rnnzoo verify mypkg.layers:MyMixer --options '{"num_heads": 2}'
rnnzoo verify gla --options '{"num_heads": 2}'      # a registered mixer, by name
```

Prints one line per clause and exits 1 when a clause fails (0 when all pass or are skipped).
"""

from __future__ import annotations

import argparse
import importlib
import json

from rnnzoo import mixers
from rnnzoo.mixers.base import Mixer
from rnnzoo.testing import check_mixer


def resolve(target: str) -> type[Mixer]:
    """``module:Class`` (imported) or a registered mixer name -> the Mixer subclass."""
    if ":" not in target:
        return mixers.get(target)
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import {module_name!r} ({e}); is its folder on PYTHONPATH?") from None
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Mixer)):
        raise ValueError(f"{target}: {module_name} has no Mixer subclass named {attr!r}")
    return cls


def add_parser(sub) -> None:
    p = sub.add_parser(
        "verify", help="run the mixer contract (full == split == step, packing, padding, gradients, bad input) "
                       "on a mixer class", usage="%(prog)s module:Class [options]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Builds the class from its config_class with --d-model and --options and reports, clause by "
                    "clause, whether it keeps the contract every rnnzoo mixer keeps; exits 1 when a clause fails. "
                    "From Python: rnnzoo.testing.check_mixer(MyMixer, options={...}).",
        epilog="examples:\n  rnnzoo verify mypkg.layers:MyMixer\n"
               "  rnnzoo verify mypkg.layers:MyMixer --options '{\"num_heads\": 2}' --d-model 32\n"
               "  rnnzoo verify gla --options '{\"num_heads\": 2}'")
    p.add_argument("target", help="module:Class (the module importable from the current PYTHONPATH) or a "
                                  "registered mixer name")
    p.add_argument("--options", type=_json_object, default={}, metavar="JSON",
                   help="config fields as a JSON object, e.g. '{\"num_heads\": 2}' (default: {})")
    p.add_argument("--d-model", type=int, default=16, help="model width of the mixer checked (default: 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mixer's weights (default: 0)")
    p.set_defaults(func=_cmd_verify)


def _cmd_verify(args: argparse.Namespace) -> int:
    report = check_mixer(resolve(args.target), d_model=args.d_model, options=args.options, seed=args.seed)
    print(report)
    return 0 if report.ok else 1


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object of config fields, got {text!r}")
    return value
