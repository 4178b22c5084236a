"""Command line: ``rnnzoo <command> --help``. Thin: every command calls a library function."""

from __future__ import annotations

import argparse
import sys

from rnnzoo import mixers


def mixer_table() -> str:
    """One row per registered mixer: name, causal, state size formula, fast path, paper."""
    rows = [("name", "causal", "state size (floats/sequence)", "fast path", "paper")]
    for name in mixers.names():
        cls = mixers.get(name)
        rows.append((name, "yes" if cls.causal else "no", cls.state_formula, cls.fast_path or "loop only", cls.paper))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _cmd_list(args: argparse.Namespace) -> int:
    print(mixer_table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnzoo", description="Recurrent sequence models side by side.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list every registered mixer with its paper and state size")
    p.set_defaults(func=_cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
