"""``rnnzoo tpp``: the flags are the fields of ``TPPTrainConfig`` and its nested model and train configs."""

from __future__ import annotations

import argparse

from rnnzoo.config_args import config_command, from_args

ALIASES = {"n_layers": "--layers", "out_dir": "--out"}


def add_parser(sub) -> None:
    from rnnzoo.apps.tpp.train import TPPTrainConfig

    config_command(
        sub, "tpp", TPPTrainConfig, call="rnnzoo.apps.tpp.train_tpp", func=run, aliases=ALIASES,
        help="neural marked temporal point processes on simulated Hawkes / self-correcting data or a CSV",
        about="Prints the test metrics and, on simulated data, the true process's.",
        examples=["rnnzoo tpp --head rmtpp --mixer gru --process hawkes",
                  "rnnzoo tpp --head nhp --mixer attention --process self_correcting --seed 1",
                  "rnnzoo tpp --events events.csv --head nhp --mixer lstm --out runs/tpp"])


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
