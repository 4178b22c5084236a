"""Command line: ``rnnzoo <command> --help``. Thin: every command calls a library function."""

from __future__ import annotations

import argparse
import os
import sys

from rnnzoo import mixers
from rnnzoo.config_args import add_arguments, from_args, from_dict
from rnnzoo.runtime import keep_freed_memory


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


def _cmd_demo(args: argparse.Namespace) -> int:
    from rnnzoo.apps.demo import train_markov_lm

    rows = []
    for name in args.mixers.split(","):
        print(f"== {name}: {args.layers}-layer LM, d_model={args.d_model}, {args.steps} steps on the Markov-chain task")
        rows.append(train_markov_lm(name, steps=args.steps, d_model=args.d_model, n_layers=args.layers,
                                    seed=args.seed, progress=not args.no_progress))
    print()
    print(f"{'mixer':<20}{'test loss':>10}{'acc':>8}{'params':>10}{'state':>10}{'seconds':>9}")
    for r in rows:
        state = "grows" if r["state_size"] is None else str(r["state_size"])
        print(f"{r['mixer']:<20}{r['test_loss']:>10.3f}{r['test_acc']:>8.3f}{r['params']:>10,}{state:>10}"
              f"{r['train_seconds']:>9.1f}")
    print(f"reference: unigram entropy {rows[0]['unigram_entropy']:.3f} nats (context ignored), "
          f"best possible {rows[0]['best_loss']:.3f} nats")
    return 0


def _add_lm_parser(sub) -> None:
    lm = sub.add_parser("lm", help="character-level language modelling on real text (bits per character)")
    lm_sub = lm.add_subparsers(dest="lm_command", required=True)
    _add_lm_train_arguments(lm_sub.add_parser("train", **_LM_TRAIN_HELP))
    # `rnnzoo train` is the same command at the top level (the issue's `torchrun -m rnnzoo train ...`)
    _add_lm_train_arguments(sub.add_parser("train", **_LM_TRAIN_HELP))


_LM_TRAIN_HELP = dict(
    help="train a character LM and report test bits per character", usage="%(prog)s [options]",
    formatter_class=argparse.RawDescriptionHelpFormatter,
    description="Default corpus: the Python standard library's .py sources, split by file "
                "(see rnnzoo.apps.lm). Writes checkpoints, metrics.jsonl and lm.json to --out. "
                "`rnnzoo train` and `rnnzoo lm train` are the same command; from Python: "
                "rnnzoo.apps.lm.train_lm(LMTrainConfig(...)); every flag is a field of it or of its nested "
                "model (LMConfig) and train (TrainConfig) configs.",
    epilog="examples:\n  rnnzoo lm train --mixer lstm --layers 2 --d-model 128 --steps 2000 --out runs/lm\n"
           "  rnnzoo lm train --out runs/lm --resume          # continue an interrupted run exactly\n"
           "  rnnzoo lm train --out runs/lm --resume --steps 4000   # ... and train it for longer\n"
           "  rnnzoo lm train --out runs/lm --overwrite       # replace the run in runs/lm\n"
           "  rnnzoo lm train --corpus book.txt --mixer attention:num_heads=4 --out runs/book\n"
           "  torchrun --nproc-per-node 2 -m rnnzoo train --out runs/ddp   # data parallel")


# older spellings that README/docs commands use, kept beside the generated --n-layers and --out-dir
_ALIASES = {"n_layers": "--layers", "out_dir": "--out", "mask_pointed": "--no-mask"}


def _add_lm_train_arguments(p: argparse.ArgumentParser) -> None:
    from rnnzoo.apps.lm import LMTrainConfig

    add_arguments(p, LMTrainConfig, aliases=_ALIASES)
    p.set_defaults(func=_cmd_lm_train)


def _cmd_lm_train(args: argparse.Namespace) -> int:
    from rnnzoo.apps.lm import LMTrainConfig, train_lm

    cfg = _config(LMTrainConfig, args)
    r = train_lm(cfg)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    print(f"{r['mixer']}: {r['params']:,} params, {r['steps']} steps, test {r['test_bpc']:.3f} bits/char "
          f"(valid {r['valid_bpc']:.3f}) on {r['scored_chars']:,} chars; checkpoint in {cfg.train.out_dir}")
    return 0


def _config(cls: type, args: argparse.Namespace):
    """The run's config from the flags; on --resume the saved run's config changed by the typed flags only
    (the Trainer then refuses changes that are not safe, unless --override-config)."""
    if not vars(args)["train.resume"]:
        return from_args(cls, args)
    from rnnzoo.train.checkpoint import read_sidecar

    out = vars(args)["train.out_dir"] or from_args(cls, args).train.out_dir
    extra = read_sidecar(out)["extra"]
    saved = extra.get("run_config", extra.get("lm_train_config"))
    if saved is None:
        return from_args(cls, args)  # a checkpoint older than saved run configs: the flags as given
    return from_args(cls, args, base=from_dict(cls, saved))


def _add_generate_parser(sub) -> None:
    from rnnzoo.models.generate import GenerationConfig

    p = sub.add_parser(
        "generate", help="continue a prompt with a trained character LM", usage="%(prog)s [options]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="From Python: rnnzoo.apps.lm.generate_text(checkpoint, prompt, GenerationConfig(...)); every "
                    "flag but --checkpoint and --prompt is a field of GenerationConfig.",
        epilog="examples:\n  rnnzoo generate --checkpoint runs/lm --prompt 'def ' --strategy beam --beams 4\n"
               "  rnnzoo generate --checkpoint runs/lm --prompt 'import ' --strategy sample --top-p 0.9\n"
               "  rnnzoo generate --checkpoint runs/lm --prompt 'class ' --strategy diverse_beam --beams 4 "
               "--groups 2 --diversity 1.0")
    p.add_argument("--checkpoint", required=True, help="directory written by `rnnzoo lm train --out`")
    p.add_argument("--prompt", required=True, help="text to continue")
    add_arguments(p, GenerationConfig, aliases={"num_beams": "--beams", "num_groups": "--groups"})
    p.set_defaults(func=_cmd_generate)


def _cmd_generate(args: argparse.Namespace) -> int:
    from rnnzoo.apps.lm import generate_text
    from rnnzoo.models.generate import GenerationConfig

    texts = generate_text(args.checkpoint, args.prompt, from_args(GenerationConfig, args))
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"--- {i}")
        print(args.prompt + text)
    return 0


def _cmd_rec(args: argparse.Namespace) -> int:
    from rnnzoo.apps.rec import RecTrainConfig, load_data, train_rec

    cfg = from_args(RecTrainConfig, args)
    if cfg.train.out_dir:  # an unwritable --out, or one holding a run, is refused before the data is read
        from rnnzoo.rundir import check_run_dir

        check_run_dir(cfg.train.out_dir, overwrite=cfg.train.overwrite)
    data = load_data(cfg)
    print(f"== {cfg.data or 'ml-100k (recbole)'}: {data.n_users} users, {data.n_items} items, "
          f"{sum(len(s) for s in data.sequences)} interactions; leave-one-out, full ranking")
    r = train_rec(data, cfg)
    print(f"{r['model']}: best epoch {r.get('best_epoch', '-')}, wall {r['wall_seconds']:.1f}s")
    for split in ("valid", "test"):
        m = r[split]
        print(f"{split:<6} " + "  ".join(f"{k}={m[k]:.4f}" for k in
                                          ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20", "mrr@20")))
    return 0


# older spellings that README/docs commands use, beside the generated --arch, --early-stop-patience, ...
_REC_ALIASES = {**_ALIASES, "arch": "--model", "early_stop_patience": "--patience", "history_len": "--max-len"}


def _add_rec_parser(sub) -> None:
    from rnnzoo.apps.rec import RecTrainConfig

    p = sub.add_parser(
        "rec", help="sequential recommendation on MovieLens / RecBole atomic files", usage="%(prog)s [options]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="From Python: rnnzoo.apps.rec.train_rec(None, RecTrainConfig(...)); every flag is a field of "
                    "it or of its nested model (RecConfig) and train (TrainConfig) configs. Training stops after "
                    "--epochs or --steps, whichever comes first, or earlier by early stopping; evaluation "
                    "and logging are once an epoch (--eval-every and --log-every do not apply).",
        epilog="examples:\n  rnnzoo rec --model sasrec --epochs 50 --out runs/sasrec\n"
               "  rnnzoo rec --encoder lstm --objective next --seed 1\n"
               "  rnnzoo rec --encoder gla:num_heads=2 --objective cloze --steps 500\n"
               "  rnnzoo rec --model bert4rec --data path/to/ratings.dat")
    add_arguments(p, RecTrainConfig, aliases=_REC_ALIASES)
    p.set_defaults(func=_cmd_rec)


def _add_bench_parser(sub) -> None:
    p = sub.add_parser(
        "bench", help="train mixers on the capability tasks (recall, state tracking) and print a leaderboard",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  rnnzoo bench --suite quick\n"
               "  rnnzoo bench --suite quick --mixers lstm,deltanet:allow_neg_eigval=True --seeds 0,1\n"
               "  rnnzoo bench --mixers attention,gru --tasks mqar:num_kv_pairs=8:vocab=256,parity "
               "--d-model 64,128 --steps 500\n"
               "  rnnzoo bench --suite standard --shard 0/2 & rnnzoo bench --suite standard --shard 1/2\n"
               "specs: name[:key=value[:key=value...]]; values are Python literals. A killed run resumes "
               "with the same --out.")
    p.add_argument("--suite", default="quick", help="predefined suite: quick (minutes), recall (state size and JRT on MQAR) or standard (hours)")
    p.add_argument("--mixers", help="comma-separated mixer specs, replacing the suite's (see `rnnzoo list`)")
    p.add_argument("--tasks", help="comma-separated task specs, replacing the suite's; one of: "
                                   "icll, induction_heads, modular_arithmetic, mqar, parity, passkey, "
                                   "permutations, selective_copy")
    p.add_argument("--d-model", help="comma-separated widths, e.g. 64,128")
    p.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1")
    p.add_argument("--steps", type=int, help="training steps for every task (default: per task in the suite)")
    p.add_argument("--layers", type=int, help="blocks per model (default: the suite's)")
    p.add_argument("--out", help="output directory (default: bench_results/<suite>)")
    p.add_argument("--shard", help="i/n: run every n-th job starting at i; start n processes with the same "
                                   "--out and shards 0/n..n-1/n to use n cores")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from rnnzoo.bench import bench_from_args

    return bench_from_args(args.suite, mixers=args.mixers, tasks=args.tasks, d_models=args.d_model,
                           seeds=args.seeds, steps=args.steps, n_layers=args.layers, out=args.out,
                           progress=not args.no_progress, shard=args.shard)


def _add_seq2seq_parser(sub) -> None:
    from rnnzoo.apps.combinatorial import Seq2SeqTrainConfig

    p = sub.add_parser(
        "seq2seq", help="pointer networks / seq2seq with attention on sorting, convex hull, TSP, reversal",
        usage="%(prog)s [options]", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="From Python: rnnzoo.apps.combinatorial.train_seq2seq(Seq2SeqTrainConfig(...)); every flag "
                    "is a field of it or of its nested model (Seq2SeqConfig) and train (TrainConfig) configs.",
        epilog="examples:\n  rnnzoo seq2seq --task convex_hull --n 10 --encoder lstm --decoder lstm --beams 4\n"
               "  rnnzoo seq2seq --task tsp --n-min 5 --n 10 --beams 4 --out runs/tsp\n"
               "  rnnzoo seq2seq --task sort --encoder set --process-steps 5 --eval-orders random,ascending\n"
               "  rnnzoo seq2seq --task reverse --n 8 --encoder gru --bidirectional --attention luong\n"
               "  rnnzoo seq2seq --task sort --encoder gla:num_heads=2 --decoder lstm")
    add_arguments(p, Seq2SeqTrainConfig, aliases=_ALIASES)
    p.set_defaults(func=_cmd_seq2seq)


def _cmd_seq2seq(args: argparse.Namespace) -> int:
    from rnnzoo.apps.combinatorial import Seq2SeqTrainConfig, train_seq2seq

    cfg = _config(Seq2SeqTrainConfig, args)
    r = train_seq2seq(cfg)
    print(f"{cfg.task}: {r['params']:,} params, train {r['train_seconds']:.0f}s, eval {r['eval_seconds']:.0f}s")
    for key, res in r["eval"].items():
        for how, m in res.items():
            print(f"  n={key:<14} {how:<22} " + "  ".join(f"{k}={v:.4f}" for k, v in m.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnzoo", description="Recurrent sequence models side by side.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  rnnzoo list\n  rnnzoo bench --suite quick\n"
               "  rnnzoo train --mixer mamba --layers 2 --d-model 128 --steps 2000 --out runs/lm\n"
               "  rnnzoo generate --checkpoint runs/lm --prompt 'def ' --strategy beam --beams 4\n"
               "  rnnzoo rec --model sasrec\n"
               "`rnnzoo <command> --help` shows each command's options and examples.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list every registered mixer with its paper and state size")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("demo", help="train small LMs on a Markov-chain language and compare their test loss",
                       epilog="example: rnnzoo demo --mixers lstm,attention --steps 300")
    p.add_argument("--mixers", default="lstm,gru,attention,sliding_attention",
                   help="comma-separated registry names (see `rnnzoo list`)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_demo)
    _add_lm_parser(sub)
    _add_generate_parser(sub)
    _add_rec_parser(sub)
    _add_bench_parser(sub)
    _add_seq2seq_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    keep_freed_memory()  # training re-allocates the same big tensors every step (rnnzoo/runtime.py)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:  # bad input, unwritable or full disk: one clear line, not a traceback
        parser.exit(2, f"rnnzoo {args.command}: error: {e}\n")


if __name__ == "__main__":
    sys.exit(main())
