"""``rnnzoo dynamics``: the command-line parser; it calls ``train_dynamics``."""

from __future__ import annotations

import argparse

from rnnzoo.config_args import config_command, from_args

ALIASES = {"arch": "--model", "out_dir": "--out"}


def add_parser(sub) -> None:
    from rnnzoo.apps.dynamics.train import DynamicsConfig

    config_command(
        sub, "dynamics", DynamicsConfig, call="rnnzoo.apps.dynamics.train_dynamics", func=run, aliases=ALIASES,
        help="PLRNN with generalized teacher forcing on chaotic systems (Lorenz-63, Rössler, Lorenz-96)",
        examples=["rnnzoo dynamics --system lorenz63 --model plrnn --gtf 0.3 --out runs/gtf",
                  "rnnzoo dynamics --system lorenz63 --gtf 0   # BPTT",
                  "rnnzoo dynamics --system rossler --gtf 1    # teacher forcing",
                  "rnnzoo dynamics --system lorenz96 --hidden 100 --noise 0.05"])


def run(args: argparse.Namespace) -> int:
    from rnnzoo.apps.dynamics.train import DynamicsConfig, train_dynamics

    cfg = from_args(DynamicsConfig, args)
    r = train_dynamics(cfg)
    g = r["grad_norm"]
    print(f"{r['system']} {r['model']} alpha={r['alpha']}: D_stsp={r['test']['d_stsp']:.3f} "
          f"D_H={r['test']['d_h']:.3f} grad norm median {g.get('median', float('nan')):.3g} "
          f"max {g.get('max', float('nan')):.3g}, train {r['train_seconds']:.0f}s")
    return 0
