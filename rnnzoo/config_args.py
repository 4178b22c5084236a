"""Command-line flags generated from config dataclasses: a field, its default and its help are the option.

```python
@dataclass
class TrainConfig:
    steps: int = option(1000, "optimiser steps")

parser = argparse.ArgumentParser()
add_arguments(parser, LMTrainConfig, aliases={"n_layers": "--layers"})   # --steps, --d-model, --mixer, ...
cfg = from_args(LMTrainConfig, parser.parse_args(["--steps", "50", "--layers", "1"]))
cfg = override(LMTrainConfig(), steps=50, mixer="gru")   # the app's defaults, leaves changed by name
cfg = from_dict(LMTrainConfig, saved)          # asdict() output, or the flat form saved before nesting
cfg = from_args(LMTrainConfig, args, base=saved_cfg)   # only the flags typed on the command line change it
```

Defaults come from an instance of the class (``LMTrainConfig()``), so an app that nests ``TrainConfig`` with
its own defaults shows and uses those. Nested dataclass fields (an app's ``model`` and ``train``) are
flattened: each leaf field gets a flag of its own name (``--steps``, not ``--train.steps``); two leaves with
one name raise. The parsed value of a leaf lives in the namespace under its dotted path (``train.steps``).

Field metadata (``option(..., key=value)``): ``help``; ``choices``; ``derived=True``: set by the app from its
data or task, no flag; ``spec_of="mixer_options"``: the flag takes a mixer spec ``name:key=value:...``
(``rnnzoo.spec``) that fills this field with the name and the named sibling field with the typed options
(``None`` sets a ``str | None`` field to None and the options to {}).
``minimum=N``: the least value of an int field (``rnnzoo.validate.check_types`` refuses less, naming N).
``given(args)`` is the set of dests whose flag was typed (not defaulted), e.g. to resume a run with its saved
config and only the typed changes. bool fields get ``--x`` / ``--no-x``; ``T | None`` also accepts ``None``;
``tuple[T, ...]`` takes
comma-separated values.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import types
import typing
from typing import Any

_NONE = type(None)


def option(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = dataclasses.MISSING,
           **metadata) -> Any:
    """A dataclass field whose ``help`` (and other metadata, see the module docstring) the CLI shows."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"help": help, **metadata})


def parse_value(raw: str, tp: Any) -> Any:
    """The command-line text ``raw`` as a value of the annotation ``tp`` (ValueError naming what was expected)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not _NONE]
        if raw == "None" and _NONE in args:
            return None
        return parse_value(raw, rest[0]) if len(rest) == 1 else literal_or_text(raw)
    if tp is bool:
        if raw.lower() in ("true", "1", "yes"):
            return True
        if raw.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"expected True or False, got {raw!r}")
    if tp in (int, float):
        try:
            return tp(raw)
        except ValueError:
            raise ValueError(f"expected {tp.__name__}, got {raw!r}") from None
    if tp is str:
        return raw
    if origin is tuple:
        items = [s.strip() for s in raw.strip().strip("()[]").split(",") if s.strip()]
        kinds = [args[0]] * len(items) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(kinds) != len(items):
            raise ValueError(f"expected {len(kinds)} comma-separated values, got {raw!r}")
        return tuple(parse_value(s, k) for s, k in zip(items, kinds))
    if origin is typing.Literal:
        value = literal_or_text(raw)
        if value not in args:
            raise ValueError(f"expected one of {args}, got {raw!r}")
        return value
    return literal_or_text(raw)


def literal_or_text(raw: str) -> Any:
    """A Python literal, else the text itself."""
    try:
        return ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        return raw.strip()


def leaves(config: Any, path: str = "") -> list[tuple[str, dataclasses.Field, Any, Any]]:
    """(dotted path, field, type, default) of every non-dataclass field of the instance ``config`` and of the
    dataclasses it nests; raises ValueError when two leaves share a name (they would share a flag)."""
    hints = typing.get_type_hints(type(config))
    out, seen = [], {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            found = leaves(value, f"{path}{f.name}.")
        else:
            found = [(path + f.name, f, hints[f.name], value)]
        for item in found:
            if item[1].name in seen:
                raise ValueError(f"{type(config).__name__}: field name {item[1].name!r} is both {seen[item[1].name]} "
                                 f"and {item[0]}; one flag cannot set both (rename one)")
            seen[item[1].name] = item[0]
        out += found
    return out


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, prefix: str = "",
                  aliases: dict[str, str | tuple[str, ...]] | None = None, exclude: frozenset[str] = frozenset()) -> None:
    """Add a flag for every leaf field of ``cls`` (``--<prefix><name>``, underscores as dashes), with the
    field's help and the default of ``cls()``. ``aliases``: leaf name -> extra flag(s), e.g. older spellings;
    ``exclude``: leaf names that get no flag (the command does not support them; they keep their default)."""
    from rnnzoo.spec import format_spec, parse_mixer_spec

    aliases = aliases or {}
    fields = leaves(cls())
    covered = {f.metadata["spec_of"] for _, f, _, _ in fields if "spec_of" in f.metadata}
    for path, f, tp, default in fields:
        if f.metadata.get("derived") or f.name in covered or f.name in exclude:
            continue
        extra = aliases.get(f.name, ())
        flags = [f"--{prefix}{f.name.replace('_', '-')}", *((extra,) if isinstance(extra, str) else extra)]
        dest = prefix + path
        text = f.metadata.get("help", "")
        if "spec_of" in f.metadata:
            default = (default, getattr(_parent(cls(), path), f.metadata["spec_of"]))
            shown = None if default[0] is None else format_spec(*default)
            kind = dict(type=_checked(lambda raw: (None, {}) if raw == "None" else parse_mixer_spec(raw)),
                        metavar="NAME[:KEY=VALUE...]", action=_Store)
        elif tp is bool:
            flags.insert(1, f"--no-{prefix}{f.name.replace('_', '-')}")
            shown, kind = default, dict(action=_Bool)
        else:
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            kind = dict(type=_checked(lambda raw, tp=tp: parse_value(raw, tp)), metavar=f.name.upper(),
                        action=_Store)
            if "choices" in f.metadata:
                kind.update(choices=f.metadata["choices"], metavar=None)
        help_text = f"{text} (default: {shown})" if text else f"default: {shown}"
        parser.add_argument(*flags, dest=dest, default=default, help=help_text.replace("%", "%%"), **kind)


def from_args(cls: type, args: argparse.Namespace, *, prefix: str = "", base: Any = None) -> Any:
    """The ``cls`` instance that the flags added by ``add_arguments(parser, cls, prefix=prefix)`` describe;
    with ``base`` (an instance of ``cls``): ``base`` changed by the flags typed on the command line only."""
    values = vars(args) if base is None else {k: v for k, v in vars(args).items() if k in given(args)}

    def build(default: Any, path: str) -> Any:
        changes = {}
        for f in dataclasses.fields(default):
            value, key = getattr(default, f.name), prefix + path + f.name
            if dataclasses.is_dataclass(value):
                changes[f.name] = build(value, f"{path}{f.name}.")
            elif key in values and "spec_of" in f.metadata:
                changes[f.name], changes[f.metadata["spec_of"]] = values[key]
            elif key in values:
                changes[f.name] = values[key]
        return dataclasses.replace(default, **changes)

    return build(cls() if base is None else base, "")


_GIVEN = "_given_flags"


def given(args: argparse.Namespace) -> set[str]:
    """The dests of the flags (added by ``add_arguments``) typed on the command line, not defaulted."""
    return set(getattr(args, _GIVEN, ()))


def _mark(namespace: argparse.Namespace, dest: str) -> None:
    setattr(namespace, _GIVEN, sorted({*getattr(namespace, _GIVEN, ()), dest}))


def from_dict(cls: type, data: dict) -> Any:
    """``cls`` from ``dataclasses.asdict`` output, or from the flat form configs were saved in before the
    model and trainer configs were nested (see ``override``)."""
    return override(cls(), **data)


def override(config: Any, **changes) -> Any:
    """``config`` with fields changed by leaf name (``steps=50``: each leaf name is unique, see ``leaves``) or
    by nested field (``train={"steps": 50}``, ``train=TrainConfig(...)``). JSON lists become tuples where the
    field is a tuple. Unknown names raise ValueError listing the valid ones."""
    paths = {f.name: path for path, f, _, _ in leaves(config)}
    nested: dict = {}
    for key, value in changes.items():
        if key not in paths and key not in {f.name for f in dataclasses.fields(config)}:
            raise ValueError(f"{type(config).__name__} has no field {key!r}; its fields are {sorted(paths)}")
        *parents, leaf = paths.get(key, key).split(".")
        node = nested
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value

    def build(current: Any, data: dict) -> Any:
        new = {}
        for name, value in data.items():
            old = getattr(current, name)
            if dataclasses.is_dataclass(old) and isinstance(value, dict):
                value = build(old, value)
            elif isinstance(old, tuple) and isinstance(value, list):
                value = tuple(value)
            new[name] = value
        return dataclasses.replace(current, **new)

    return build(config, nested)


def _parent(config: Any, path: str) -> Any:
    for name in path.split(".")[:-1]:
        config = getattr(config, name)
    return config


def _checked(parse):
    """argparse reports an ArgumentTypeError's own message (other errors become 'invalid value')."""
    def wrapped(raw: str):
        try:
            return parse(raw)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return wrapped


class _Store(argparse.Action):
    """Store the value and remember that the flag was typed (``given``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        _mark(namespace, self.dest)


class _Bool(argparse.Action):
    """``--x`` sets True, ``--no-x`` (and any alias starting with ``--no-``) sets False."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, not option_string.startswith("--no-"))
        _mark(namespace, self.dest)


def config_command(sub, name: str, cls: type, *, call: str, help: str, examples: list[str], func,
                   about: str = "", usage: str = "%(prog)s [options]",
                   aliases: dict[str, str | tuple[str, ...]] | None = None,
                   exclude: frozenset[str] = frozenset()) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` to the subparsers ``sub``: its flags are the leaf fields of ``cls``
    (``add_arguments``), its description says which Python call (``call``, e.g. ``"rnnzoo.apps.tpp.train_tpp"``)
    takes ``cls`` and which nested configs the flags come from, then ``about``; ``examples`` are command lines
    shown in the epilog; ``func(args)`` runs it. Returns the parser (for sub-actions of its own)."""
    instance = cls()
    nested = [f"{f.name} ({type(getattr(instance, f.name)).__name__})" for f in dataclasses.fields(instance)
              if dataclasses.is_dataclass(getattr(instance, f.name))]
    where = "it" if not nested else \
        f"it or of its nested {', '.join(nested[:-1]) + ' and ' if len(nested) > 1 else ''}{nested[-1]} configs"
    description = f"From Python: {call}({cls.__name__}(...)); every flag is a field of {where}."
    p = sub.add_parser(name, help=help, usage=usage, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=f"{description} {about}".rstrip(),
                       epilog="examples:\n" + "\n".join(f"  {line}" for line in examples))
    add_arguments(p, cls, aliases=aliases, exclude=exclude)
    p.set_defaults(func=func)
    return p
