"""Command line: ``rnnzoo <command> --help``. Thin: every command calls a library function."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from rnnzoo import export_cli, mixers
from rnnzoo.apps.dynamics import cli as dynamics_cli
from rnnzoo.apps.tagging import cli as tagging_cli
from rnnzoo.apps.tpp import cli as tpp_cli
from rnnzoo.apps.vision import cli as vision_cli
from rnnzoo.config_args import add_arguments, config_command, from_args, from_dict
from rnnzoo.inspection import cli as inspect_cli
from rnnzoo.pretrained import cli as vad_cli
from rnnzoo.runtime import keep_freed_memory, set_threads
from rnnzoo.studies import cli as study_cli
from rnnzoo.verify_cli import add_parser as _add_verify_parser

_LIST_HEADER = ("name", "causal", "state size (floats/sequence)", "fast path", "paper")


def mixer_rows() -> list[dict]:
    """One dict per registered mixer: name, causal, state size formula, fast path, paper."""
    rows = []
    for name in mixers.names():
        cls = mixers.get(name)
        rows.append({"name": name, "causal": bool(cls.causal), "state_formula": cls.state_formula,
                     "fast_path": cls.fast_path or "loop only", "paper": cls.paper})
    return rows


def mixer_table(width: int | None = None) -> str:
    """The mixers as a text table, one line per mixer. ``width``: cut the state size, fast path and paper
    cells (marked "…") so that no line is longer, with a last line saying so (None: full cells)."""
    rows = [_LIST_HEADER] + [(r["name"], "yes" if r["causal"] else "no", r["state_formula"], r["fast_path"],
                              r["paper"]) for r in mixer_rows()]
    full = [max(len(r[i]) for r in rows) for i in range(len(_LIST_HEADER))]
    widths = full if width is None else _fit(full, width, fixed=2)
    lines = ["  ".join(_cut(c, w).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "-" * (sum(widths) + 2 * (len(widths) - 1)))
    if widths != full:
        lines.append(f"(cut to {width} columns; `rnnzoo list --wide`: full lines, --json: data)")
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _fit(full: list[int], width: int, fixed: int, minimum: int = 12) -> list[int]:
    """Column widths within ``width``: the first ``fixed`` columns keep theirs, the others share the rest,
    a narrow column keeping its own width and the wide ones splitting what is left evenly."""
    room = width - sum(full[:fixed]) - 2 * (len(full) - 1)
    flexible = sorted(range(fixed, len(full)), key=lambda i: full[i])
    widths = list(full)
    for n, i in enumerate(flexible):
        widths[i] = max(minimum, min(full[i], room // (len(flexible) - n)))
        room -= widths[i]
    return widths


def _cmd_list(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(mixer_rows(), indent=2))
    else:
        print(mixer_table(None if args.wide else shutil.get_terminal_size().columns))
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
               "--groups 2 --diversity 1.0\n"
               "  rnnzoo generate --checkpoint runs/lm --draft runs/lm_small --prompt 'def ' --draft-k 4")
    p.add_argument("--checkpoint", required=True, help="directory written by `rnnzoo lm train --out`")
    p.add_argument("--prompt", required=True, help="text to continue")
    p.add_argument("--draft", default=None, help="checkpoint of a smaller character LM trained on the same corpus: "
                                                 "it drafts --draft-k tokens per target pass (greedy, sample)")
    add_arguments(p, GenerationConfig, aliases={"num_beams": "--beams", "num_groups": "--groups"})
    p.set_defaults(func=_cmd_generate)


def _cmd_generate(args: argparse.Namespace) -> int:
    from rnnzoo.apps.lm import generate_text
    from rnnzoo.models.generate import GenerationConfig

    texts = generate_text(args.checkpoint, args.prompt, from_args(GenerationConfig, args), args.draft)
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
    for split in ("valid", "test", "test_warm", "test_cold"):
        if split not in r:
            continue
        m = r[split]
        print(f"{split:<9} " + "  ".join(f"{k}={m[k]:.4f}" for k in
                                          ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20", "mrr@20")))
    return 0


# older spellings that README/docs commands use, beside the generated --arch, --early-stop-patience, ...
_REC_ALIASES = {**_ALIASES, "arch": "--model", "early_stop_patience": "--patience", "history_len": "--max-len"}


def _add_rec_parser(sub) -> None:
    from rnnzoo.apps.rec import RecTrainConfig
    from rnnzoo.train import RESUME_FIELDS

    p = sub.add_parser(
        "rec", help="sequential recommendation on MovieLens / RecBole atomic files",
        usage="%(prog)s [options]\n       %(prog)s recommend --checkpoint DIR --user ID [--k K]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="From Python: rnnzoo.apps.rec.train_rec(None, RecTrainConfig(...)); every flag is a field of "
                    "it or of its nested model (RecConfig) and train (TrainConfig) configs. Training stops after "
                    "--epochs or --steps, whichever comes first, or earlier by early stopping; evaluation "
                    "and logging are once an epoch (--eval-every and --log-every do not apply).",
        epilog="examples:\n  rnnzoo rec --model sasrec --epochs 50 --out runs/sasrec\n"
               "  rnnzoo rec --encoder lstm --objective next --seed 1\n"
               "  rnnzoo rec --encoder gla:num_heads=2 --objective cloze --steps 500\n"
               "  rnnzoo rec --model bert4rec --data path/to/ratings.dat\n"
               "  rnnzoo rec --model recformer --cold-items 0.2       # item text; warm and cold test metrics\n"
               "  rnnzoo rec --encoder gru --items text --data DIR    # DIR: RecBole .inter and .item files\n"
               "  rnnzoo rec recommend --checkpoint runs/sasrec --user 196 --k 10")
    add_arguments(p, RecTrainConfig, aliases=_REC_ALIASES, exclude=RESUME_FIELDS)  # best weights live in memory
    p.set_defaults(func=_cmd_rec)
    # an optional sub-action: `rnnzoo rec [training flags]` stays the training command
    actions = p.add_subparsers(dest="rec_command", metavar="{recommend}")
    r = actions.add_parser(
        "recommend", help="top-k items for a user of a trained run", prog="rnnzoo rec recommend",
        description="Prints the k items a `rnnzoo rec --out DIR` run scores highest after the user's whole history "
                    "(its validation and test items included), with their text from the .item file. From Python: "
                    "rnnzoo.apps.rec.recommend_for_user(checkpoint, user, k).",
        epilog="example:\n  rnnzoo rec --model sasrec --out runs/sasrec && rnnzoo rec recommend --checkpoint "
               "runs/sasrec --user 196 --k 10", formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--checkpoint", required=True, help="directory written by `rnnzoo rec --out`")
    r.add_argument("--user", required=True, help="user id as in the data file")
    r.add_argument("--k", type=_at_least(1), default=10, help="items to recommend (default: 10)")
    r.add_argument("--keep-seen", action="store_true", help="also recommend items of the user's history "
                                                             "(default: leave them out)")
    r.set_defaults(func=_cmd_rec_recommend)


def _cmd_rec_recommend(args: argparse.Namespace) -> int:
    from rnnzoo.apps.rec import recommend_for_user

    rows = recommend_for_user(args.checkpoint, args.user, args.k, exclude_seen=not args.keep_seen)
    for rank, (item, text) in enumerate(rows, start=1):
        print(f"{rank:>3}  {item:<10} {text}".rstrip())
    return 0


def _at_least(minimum: int):
    """argparse type: an integer >= minimum (argparse names the flag in its error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _add_bench_parser(sub) -> None:
    from rnnzoo.bench.suites import SUITES, TaskRun
    from rnnzoo.runtime import BENCH_THREADS
    from rnnzoo.train import TrainConfig

    run = TaskRun("", steps=1)  # the per-task defaults a suite entry starts from
    p = sub.add_parser(
        "bench", help="train mixers on the capability tasks (recall, state tracking) and print a leaderboard",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Trains every mixer x task x width x seed of a suite and writes results.jsonl, leaderboard.md "
                    "and plots/ to --out. Every flag left out keeps the suite's value. A run is identified by a "
                    "hash of all its settings: rerunning with the same --out skips finished runs (and resumes "
                    "after Ctrl-C), while changed settings (e.g. --steps) train anew. "
                    "From Python: rnnzoo.bench.run_suite(get_suite('quick'), out_dir).",
        epilog="examples:\n"
               "  rnnzoo bench --suite quick\n"
               "  rnnzoo bench --suite quick --mixers lstm,deltanet:allow_neg_eigval=True --seeds 0,1\n"
               "  rnnzoo bench --mixers attention,gru --tasks mqar:num_kv_pairs=8:vocab=256,parity "
               "--d-model 64,128 --steps 500\n"
               "  rnnzoo bench --suite standard --shard 0/2 & rnnzoo bench --suite standard --shard 1/2\n"
               "  rnnzoo bench report --results results/bench/standard --out standard.html\n"
               "specs: name[:key=value[:key=value...]]; values are Python literals.")
    p.add_argument("action", nargs="?", default="run", choices=("run", "report"),
                   help="run: train the suite (default); report: write the static HTML page of --results to --out")
    p.add_argument("--results", metavar="DIR",
                   help="report: the results folder to render (default: bench_results/<suite>)")
    p.add_argument("--suite", default="quick", choices=sorted(SUITES),
                   help="predefined suite: quick (minutes), recall (state size and JRT on MQAR) or standard "
                        "(hours) (default: quick)")
    p.add_argument("--mixers", help="comma-separated mixer specs, replacing the suite's (see `rnnzoo list`); a "
                                    "hybrid stack joins its mixers with +, as in hybrid:gla*2+attention "
                                    "(default: the suite's)")
    p.add_argument("--tasks", help="comma-separated task specs, replacing the suite's; one of: "
                                   "icll, induction_heads, modular_arithmetic, mqar, parity, passkey, "
                                   "permutations, selective_copy (default: the suite's)")
    p.add_argument("--d-model", help="comma-separated model widths, e.g. 64,128 (default: the suite's; quick: 64)")
    p.add_argument("--seeds", help="comma-separated integer seeds, e.g. 0,1 (default: the suite's; 0,1,2, "
                                   "quick: 0)")
    p.add_argument("--steps", type=_at_least(1), help="optimiser steps of every training run (default: per task "
                                                       "in the suite; quick: 1000 on MQAR, 400 on parity)")
    p.add_argument("--lr", type=_positive_float, help="peak AdamW learning rate of every run (default: per task "
                                                      f"in the suite; {run.lr:g} unless the suite says otherwise)")
    p.add_argument("--batch-size", type=_at_least(1), help="training sequences per step (default: per task in "
                                                           f"the suite; {run.batch_size} unless it says otherwise)")
    p.add_argument("--layers", type=_at_least(1), help="blocks per model, for every task (default: per task in "
                                                       "the suite; quick: 2 on MQAR, 1 on parity)")
    p.add_argument("--out", help="output directory; the same --out resumes (default: bench_results/<suite>, "
                                 "bench_results/<suite>_custom when a flag changes the suite); report: the HTML "
                                 "file (default: bench_report.html)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the records in --out of these runs made under other settings (default: refuse, so "
                        "one leaderboard never mixes budgets); also drops its records made by other code")
    p.add_argument("--allow-code-change", action="store_true",
                   help="add runs to an --out whose records were made by other code (another commit or other "
                        "uncommitted edits) and keep those (default: refuse; each record names its code)")
    p.add_argument("--shard", help="i/n: run every n-th job starting at i; start n processes with the same "
                                   "--out and shards 0/n..n-1/n to use n cores (default: the whole suite)")
    p.add_argument("--threads", metavar="N", type=_at_least(1), default=argparse.SUPPRESS,
                   help=f"torch threads of this process (default: {BENCH_THREADS}, so that results do not "
                        "depend on the machine's load; use --shard to use more cores)")
    p.add_argument("--no-progress", action="store_true",
                   help="instead of progress bars, print a plain line per run start and end and every tenth of "
                        "its steps or 30 s, with the loss (for logs)")
    for name, extra in (("device", "; not part of a run's key: records name the device they ran on"),
                        ("dtype", "; part of a run's key")):
        field = TrainConfig.__dataclass_fields__[name]
        p.add_argument(f"--{name}", default=field.default, choices=field.metadata.get("choices"),
                       help=f"{field.metadata['help']}{extra} (default: {field.default})".replace("%", "%%"))
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from rnnzoo.bench import bench_from_args

    if args.action == "report":
        from rnnzoo.bench.html import write_html

        page = write_html(args.results or os.path.join("bench_results", args.suite), args.out or "bench_report.html")
        print(f"report: {page}")
        return 0
    return bench_from_args(args.suite, mixers=args.mixers, tasks=args.tasks, d_models=args.d_model,
                           seeds=args.seeds, steps=args.steps, n_layers=args.layers, lr=args.lr,
                           batch_size=args.batch_size, out=args.out, progress=not args.no_progress,
                           shard=args.shard, threads=getattr(args, "threads", None) or args.top_threads,
                           device=args.device, dtype=args.dtype, overwrite=args.overwrite,
                           allow_code_change=args.allow_code_change)


def _add_seq2seq_parser(sub) -> None:
    from rnnzoo.apps.combinatorial import Seq2SeqTrainConfig

    config_command(
        sub, "seq2seq", Seq2SeqTrainConfig, call="rnnzoo.apps.combinatorial.train_seq2seq", func=_cmd_seq2seq,
        aliases=_ALIASES, help="pointer networks / seq2seq with attention on sorting, convex hull, TSP, reversal",
        examples=["rnnzoo seq2seq --task convex_hull --n 10 --encoder lstm --decoder lstm --beams 4",
                  "rnnzoo seq2seq --task tsp --n-min 5 --n 10 --beams 4 --out runs/tsp",
                  "rnnzoo seq2seq --task sort --encoder set --process-steps 5 --eval-orders random,ascending",
                  "rnnzoo seq2seq --task reverse --n 8 --encoder gru --bidirectional --attention luong",
                  "rnnzoo seq2seq --task sort --encoder gla:num_heads=2 --decoder lstm"])


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
    from rnnzoo import __version__
    from rnnzoo.apps.timeseries.cli import add_parser as add_ts_parser
    from rnnzoo.runtime import MAX_DEFAULT_THREADS

    parser = argparse.ArgumentParser(
        prog="rnnzoo", description="Recurrent sequence models side by side.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  rnnzoo list\n  rnnzoo bench --suite quick\n"
               "  rnnzoo train --mixer mamba --layers 2 --d-model 128 --steps 2000 --out runs/lm\n"
               "  rnnzoo generate --checkpoint runs/lm --prompt 'def ' --strategy beam --beams 4\n"
               "  rnnzoo rec --model sasrec\n"
               "  rnnzoo --threads 2 train --mixer lstm --out runs/lm2\n"
               "`rnnzoo <command> --help` shows each command's options and examples.")
    parser.add_argument("--version", action="version", version=f"rnnzoo {__version__}")
    parser.add_argument("--threads", dest="top_threads", metavar="N", type=_at_least(1), default=None,
                        help="torch threads for any command (default: OMP_NUM_THREADS if set, else the cores "
                             f"not busy by the load average, 1 to {MAX_DEFAULT_THREADS}; bench: 1)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list every registered mixer with its paper and state size",
                       epilog="examples: rnnzoo list | rnnzoo list --wide | rnnzoo list --json")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--wide", action="store_true", help="one line per mixer, however long (default: cut the "
                                                         "long cells to fit the terminal width)")
    how.add_argument("--json", action="store_true", help="a JSON list of objects, one per mixer")
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
    _add_verify_parser(sub)
    tpp_cli.add_parser(sub)
    tagging_cli.add_parser(sub)
    add_ts_parser(sub)
    vision_cli.add_parser(sub)
    dynamics_cli.add_parser(sub)
    inspect_cli.add_parser(sub)
    study_cli.add_parser(sub)
    vad_cli.add_parser(sub)
    export_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    keep_freed_memory()  # training re-allocates the same big tensors every step (rnnzoo/runtime.py)
    try:
        set_threads(args.top_threads)
        return args.func(args)
    except BrokenPipeError:  # `rnnzoo list | head` (an OSError: caught before the general case)
        sys.stderr.close()
        return 0
    except (ValueError, OSError) as e:  # bad input, unwritable or full disk: one clear line, not a traceback
        parser.exit(2, f"rnnzoo {args.command}: error: {e}\n")
    except KeyboardInterrupt:  # Ctrl-C: one line, and the shell's status for an interrupted command
        print(f"\nrnnzoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
