"""``rnnzoo study <name>``: one sub-command per registered study, flags generated from its ``Config``."""

from __future__ import annotations

import argparse

from rnnzoo.config_args import add_arguments, from_args
from rnnzoo.studies import STUDIES, get


def add_parser(sub) -> None:
    p = sub.add_parser("study", help="rerun a study from the papers on any mixer (table and plot in docs/studies/)",
                       description="Each study writes docs/studies/<name>.md with the paper's claim next to "
                                   "what we measure; --quick runs a small version in minutes.")
    studies = p.add_subparsers(dest="study", metavar="NAME", required=True)
    for name in sorted(STUDIES):
        module = get(name)
        sp = studies.add_parser(name, help=module.CLAIM.replace("%", "%%"), description=module.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        add_arguments(sp, module.Config, aliases={"out_dir": "--out"})
        sp.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    module = get(args.study)
    summary = module.run(from_args(module.Config, args))
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0
