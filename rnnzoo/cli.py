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


def _cmd_demo(args: argparse.Namespace) -> int:
    from rnnzoo.demo import train_markov_lm

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


def _add_bench_parser(sub) -> None:
    p = sub.add_parser(
        "bench", help="train mixers on the capability tasks (recall, state tracking) and print a leaderboard",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  rnnzoo bench --suite quick\n"
               "  rnnzoo bench --suite quick --mixers lstm,deltanet:allow_neg_eigval=True --seeds 0,1\n"
               "  rnnzoo bench --mixers attention,gru --tasks mqar:num_kv_pairs=8:vocab=256,parity "
               "--d-model 64,128 --steps 500\n"
               "specs: name[:key=value[:key=value...]]; values are Python literals. A killed run resumes "
               "with the same --out.")
    p.add_argument("--suite", default="quick", help="predefined suite: quick (minutes) or standard (hours)")
    p.add_argument("--mixers", help="comma-separated mixer specs, replacing the suite's (see `rnnzoo list`)")
    p.add_argument("--tasks", help="comma-separated task specs, replacing the suite's; one of: "
                                   "icll, induction_heads, modular_arithmetic, mqar, parity, passkey, "
                                   "permutations, selective_copy")
    p.add_argument("--d-model", help="comma-separated widths, e.g. 64,128")
    p.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1")
    p.add_argument("--steps", type=int, help="training steps for every task (default: per task in the suite)")
    p.add_argument("--layers", type=int, help="blocks per model (default: the suite's)")
    p.add_argument("--out", help="output directory (default: bench_results/<suite>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from rnnzoo.bench import bench_from_args

    return bench_from_args(args.suite, mixers=args.mixers, tasks=args.tasks, d_models=args.d_model,
                           seeds=args.seeds, steps=args.steps, n_layers=args.layers, out=args.out,
                           progress=not args.no_progress)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnzoo", description="Recurrent sequence models side by side.")
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
    _add_bench_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
