"""``rnnzoo tag``: the flags are the fields of ``TagTrainConfig`` and its nested model and train configs."""

from __future__ import annotations

import argparse

from rnnzoo.config_args import add_arguments, from_args

ALIASES = {"n_layers": "--layers", "out_dir": "--out"}


def add_parser(sub) -> None:
    from rnnzoo.apps.tagging.train import TagTrainConfig

    p = sub.add_parser(
        "tag", help="character tagging of Python source with tokenize's token types (bidirectional mixers)",
        usage="%(prog)s [options]", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="From Python: rnnzoo.apps.tagging.train_tagger(TagTrainConfig(...)); every flag is a field of "
                    "it or of its nested model (TaggerConfig) and train (TrainConfig) configs.",
        epilog="examples:\n  rnnzoo tag --mixer gru\n  rnnzoo tag --mixer lstm --no-global-context --seed 1\n"
               "  rnnzoo tag --mixer gla:num_heads=2 --steps 1000 --out runs/tag")
    add_arguments(p, TagTrainConfig, aliases=ALIASES)
    p.set_defaults(func=run)


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
