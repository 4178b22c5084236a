"""``rnnzoo tag``: the flags are the fields of ``TagTrainConfig`` and its nested model and train configs."""

from __future__ import annotations

import argparse

from rnnzoo.config_args import config_command, from_args

ALIASES = {"n_layers": "--layers", "out_dir": "--out"}


def add_parser(sub) -> None:
    from rnnzoo.apps.tagging.train import TagTrainConfig

    config_command(
        sub, "tag", TagTrainConfig, call="rnnzoo.apps.tagging.train_tagger", func=run, aliases=ALIASES,
        help="character tagging of Python source with tokenize's token types (bidirectional mixers)",
        examples=["rnnzoo tag --mixer gru", "rnnzoo tag --mixer lstm --no-global-context --seed 1",
                  "rnnzoo tag --mixer gla:num_heads=2 --steps 1000 --out runs/tag"])


def run(args: argparse.Namespace) -> int:
    from rnnzoo.apps.tagging.train import TagTrainConfig, train_tagger

    r = train_tagger(from_args(TagTrainConfig, args))
    m = r["test"]
    print(f"{r['mixer']} (global context {'on' if r['global_context'] else 'off'}): {r['params']:,} params, "
          f"{r['steps']} steps, {r['train_seconds']:.0f}s; test on {r['files']['test']} files, {r['chars']['test']:,} "
          f"characters")
    print(f"  accuracy {m['accuracy']:.4f}  macro F1 {m['macro_f1']:.4f}  " +
          "  ".join(f"{t} {f:.3f}" for t, f in m["f1"].items()))
    return 0
