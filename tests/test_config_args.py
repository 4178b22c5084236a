"""The flag generator on small dataclasses: every field is a flag with its help and default, nested fields
are flattened, bool / Optional / tuple / choices parse, and configs round-trip through dicts (also flat)."""

import argparse
import dataclasses

import pytest

from rnnzoo.config_args import add_arguments, config_command, from_args, from_dict, option, override, parse_value


@dataclasses.dataclass
class Inner:
    width: int = option(8, "layer width")
    rate: float = option(0.5)
    name: str | None = option(None, "optional name")
    flag: bool = option(False, "turn it on")
    kind: str = option("a", "one of a, b", choices=("a", "b"))
    sizes: tuple[int, ...] = option((1, 2), "sizes")
    computed: int | None = option(None, "set from data", derived=True)


@dataclasses.dataclass
class Outer:
    inner: Inner = option(factory=lambda: Inner(width=16))  # the outer default wins over Inner's
    on: bool = option(True, "on by default")
    steps: int = option(3, "100% of the steps")


def parse(argv, cls=Outer, **kw):
    p = argparse.ArgumentParser()
    add_arguments(p, cls, **kw)
    return p, from_args(cls, p.parse_args(argv))


def test_every_field_is_a_flag_with_help_showing_the_default():
    p, cfg = parse([])
    assert cfg == Outer()
    text = p.format_help()
    for flag in ("--width", "--rate", "--name", "--flag", "--no-flag", "--kind", "--sizes", "--on", "--no-on", "--steps"):
        assert flag in text, flag
    assert "--computed" not in text  # derived: set by the app
    assert "layer width (default: 16)" in text and "default: 0.5" in text and "sizes (default: 1,2)" in text
    assert "100% of the steps (default: 3)" in text


def test_a_new_field_becomes_a_flag_by_existing():
    New = dataclasses.make_dataclass("New", [("extra", int, option(7, "a new option"))], bases=(Inner,))
    p, cfg = parse(["--extra", "9", "--width", "2"], cls=New)
    assert cfg.extra == 9 and cfg.width == 2 and "a new option (default: 7)" in p.format_help()


def test_values_parse_by_type():
    _, cfg = parse(["--width", "4", "--rate", "1e-3", "--name", "x", "--flag", "--kind", "b", "--sizes", "3,4,5",
                    "--no-on", "--steps", "9"])
    assert cfg == Outer(Inner(4, 1e-3, "x", True, "b", (3, 4, 5)), on=False, steps=9)
    _, cfg = parse(["--name", "None"])
    assert cfg.inner.name is None
    assert parse_value("0.9,0.999", tuple[float, float]) == (0.9, 0.999)
    assert parse_value("True", bool) is True and parse_value("false", bool) is False
    for raw, tp, msg in [("x", int, "expected int"), ("maybe", bool, "True or False"), ("1,2", tuple[int], "1 comma")]:
        with pytest.raises(ValueError, match=msg):
            parse_value(raw, tp)


def test_bad_values_are_argparse_errors(capsys):
    for argv in (["--width", "wide"], ["--kind", "c"]):
        with pytest.raises(SystemExit):
            parse(argv)
    assert "expected int, got 'wide'" in capsys.readouterr().err


def test_excluded_fields_get_no_flag_and_keep_their_default(capsys):
    p, cfg = parse([], exclude=frozenset({"rate", "flag"}))
    assert cfg == Outer() and "--rate" not in p.format_help() and "--no-flag" not in p.format_help()
    with pytest.raises(SystemExit):
        p.parse_args(["--rate", "0.1"])
    assert "unrecognized arguments: --rate" in capsys.readouterr().err


def test_aliases_and_prefix():
    _, cfg = parse(["--w", "3", "--off"], aliases={"width": "--w", "on": "--off"})
    assert cfg.inner.width == 3 and cfg.on is True  # an alias not starting with --no- sets True
    _, cfg = parse(["--no-thing"], aliases={"on": "--no-thing"})
    assert cfg.on is False
    p = argparse.ArgumentParser()
    add_arguments(p, Outer, prefix="x-")
    assert from_args(Outer, p.parse_args(["--x-width", "5"]), prefix="x-").inner.width == 5


def test_two_fields_with_one_name_raise():
    @dataclasses.dataclass
    class Clash:
        inner: Inner = option(factory=Inner)
        width: int = option(1)

    with pytest.raises(ValueError, match="'width' is both inner.width and width"):
        parse([], cls=Clash)


def test_from_dict_reads_nested_and_flat_forms():
    nested = dataclasses.asdict(Outer(Inner(width=3, sizes=(7,)), steps=5))
    assert from_dict(Outer, nested) == Outer(Inner(width=3, sizes=(7,)), steps=5)  # lists back to tuples
    assert from_dict(Outer, {"width": 3, "sizes": [7], "steps": 5}) == Outer(Inner(width=3, sizes=(7,)), steps=5)
    assert override(Outer(), inner={"rate": 2.0}, on=False) == Outer(Inner(width=16, rate=2.0), on=False)
    with pytest.raises(ValueError, match="no field 'depth'"):
        from_dict(Outer, {"depth": 1})


def test_given_lists_only_typed_flags_and_from_args_applies_them_to_a_base():
    import argparse

    from rnnzoo.apps.lm import LMTrainConfig
    from rnnzoo.config_args import given

    parser = argparse.ArgumentParser()
    add_arguments(parser, LMTrainConfig, aliases={"n_layers": "--layers"})
    args = parser.parse_args(["--steps", "9", "--no-progress", "--mixer", "gla:num_heads=2"])
    assert given(args) == {"train.steps", "train.progress", "model.mixer"}
    assert given(parser.parse_args([])) == set()
    base = override(LMTrainConfig(), mixer="gru", lr=0.5, seq_len=7)
    cfg = from_args(LMTrainConfig, args, base=base)
    assert (cfg.model.mixer, cfg.model.mixer_options, cfg.train.steps, cfg.train.progress) == (
        "gla", {"num_heads": 2}, 9, False)
    assert (cfg.train.lr, cfg.seq_len) == (0.5, 7)  # not typed: the base's, not the defaults


def test_config_command_names_the_call_and_nested_configs_and_runs_func():
    parser = argparse.ArgumentParser(prog="tool")
    sub = parser.add_subparsers(dest="command", required=True)
    ran = []
    p = config_command(sub, "fit", Outer, call="pkg.fit", help="fit a model", about="Prints the loss.",
                       examples=["tool fit --steps 5", "tool fit --no-on"], func=ran.append,
                       aliases={"steps": "--n"})
    text = p.format_help()
    assert "From Python: pkg.fit(Outer(...)); every flag is a field of it or of its nested inner (Inner) configs. " \
           "Prints the loss." in " ".join(text.split())
    assert "examples:\n  tool fit --steps 5\n  tool fit --no-on" in text
    args = parser.parse_args(["fit", "--n", "5", "--width", "4"])
    args.func(args)
    assert ran == [args] and from_args(Outer, args) == Outer(inner=Inner(width=4), steps=5)
    sub2 = argparse.ArgumentParser().add_subparsers()
    flat = config_command(sub2, "plain", Inner, call="pkg.plain", help="h", examples=[], func=print)
    assert "every flag is a field of it." in " ".join(flat.format_help().split())
