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


def _cmd_rec(args: argparse.Namespace) -> int:
    from rnnzoo.apps.rec import load_dataset, train_rec

    data = load_dataset(args.data, min_interactions=args.min_interactions, max_len=args.max_len)
    print(f"== {args.data or 'ml-100k (recbole)'}: {data.n_users} users, {data.n_items} items, "
          f"{sum(len(s) for s in data.sequences)} interactions; leave-one-out, full ranking")
    options = {"dropout": args.dropout} if args.dropout is not None else {}
    r = train_rec(data, model=args.model, encoder=args.encoder, objective=args.objective, epochs=args.epochs,
                  steps=args.steps, batch_size=args.batch_size, lr=args.lr, patience=args.patience, seed=args.seed,
                  out_dir=args.out, progress=not args.no_progress, d_model=args.d_model, n_layers=args.layers,
                  **options)
    print(f"{r['model']}: best epoch {r.get('best_epoch', '-')}, wall {r['wall_seconds']:.1f}s")
    for split in ("valid", "test"):
        m = r[split]
        print(f"{split:<6} " + "  ".join(f"{k}={m[k]:.4f}" for k in
                                          ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20", "mrr@20")))
    return 0


def _add_rec_parser(sub) -> None:
    p = sub.add_parser("rec", help="sequential recommendation on MovieLens / RecBole atomic files",
                       epilog="examples: rnnzoo rec --model sasrec --epochs 50 --out runs/sasrec\n"
                              "          rnnzoo rec --encoder lstm --objective next --seed 1\n"
                              "          rnnzoo rec --model bert4rec --data path/to/ratings.dat",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="sasrec", choices=("sasrec", "bert4rec", "gru4rec", "pop"))
    p.add_argument("--encoder", default=None, help="registry mixer as the sequence encoder (see `rnnzoo list`)")
    p.add_argument("--objective", default=None, choices=("next", "cloze"),
                   help="for --encoder: SASRec-style next item (default) or BERT4Rec-style cloze")
    p.add_argument("--data", default=None, help=".inter, u.data, ratings.dat or ratings.csv "
                                                "(default: ml-100k shipped in the recbole wheel)")
    p.add_argument("--epochs", type=int, default=200, help="max epochs (early stopping on valid NDCG@10)")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps instead of --epochs")
    p.add_argument("--patience", type=int, default=10, help="epochs without valid NDCG@10 gain before stopping")
    p.add_argument("--batch-size", type=int, default=64, help="training windows of max-len items per step")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=None, help="default: RecBole's for the model")
    p.add_argument("--max-len", type=int, default=50)
    p.add_argument("--min-interactions", type=int, default=5, help="drop users with fewer interactions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="directory for results.json, metrics.jsonl, best.safetensors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_rec)


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
    _add_rec_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
