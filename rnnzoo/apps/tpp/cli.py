"""``rnnzoo tpp``: the flags are the fields of ``TPPTrainConfig`` and its nested model and train configs."""

from __future__ import annotations

import argparse

from rnnzoo.config_args import add_arguments, from_args

ALIASES = {"n_layers": "--layers", "out_dir": "--out"}


def add_parser(sub) -> None:
    from rnnzoo.apps.tpp.train import TPPTrainConfig

    p = sub.add_parser(
        "tpp", help="neural marked temporal point processes on simulated Hawkes / self-correcting data or a CSV",
        usage="%(prog)s [options]", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="From Python: rnnzoo.apps.tpp.train_tpp(TPPTrainConfig(...)); every flag is a field of it or "
                    "of its nested model (TPPConfig) and train (TrainConfig) configs. Prints the test metrics and, "
                    "on simulated data, the true process's.",
        epilog="examples:\n  rnnzoo tpp --head rmtpp --mixer gru --process hawkes\n"
               "  rnnzoo tpp --head nhp --mixer attention --process self_correcting --seed 1\n"
               "  rnnzoo tpp --events events.csv --head nhp --mixer lstm --out runs/tpp")
    add_arguments(p, TPPTrainConfig, aliases=ALIASES)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnzoo.apps.tpp.train import TPPTrainConfig, train_tpp

    r = train_tpp(from_args(TPPTrainConfig, args))
    print(f"{r['head']} on {r['mixer']}: {r['params']:,} params, {r['steps']} steps, {r['train_seconds']:.0f}s; "
          f"integral: {r['integral']}")
    for name in ("test", "true"):
        if name in r:
            m = r[name]
            print(f"  {name:<5} ll/event {m['ll_per_event']:.4f}  rmse {m['rmse']:.4f}  "
                  f"mark accuracy {m['mark_accuracy']:.4f}")
    return 0
