"""Training-step speed of the character LM with ``--pack-files`` (windows cut at file boundaries, run packed
with ``cu_seqlens``) against the plain windows (the baseline), on the standard-library corpus.

    python benchmarks/lm_packing.py --mixers lstm,gla,mamba,attention --steps 10 --rounds 3 --out results/speed/lm/lm_packing.json

Both forms train on the same windows (forward, backward and AdamW step timed); the rounds alternate them so a
noisy machine loads both alike. Prints tokens/s per form, the packed/plain ratio, and the mean number of
packed sequences and distinct lengths (= forward calls per mixer layer) per batch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from rnnzoo.apps.lm import Vocab, file_starts, load_corpus, packed_lm_loss, stdlib_documents, training_windows
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.provenance import provenance
from rnnzoo.train import lm_loss


def step_seconds(model, opt, batches, loss_fn) -> float:
    start = time.perf_counter()
    for batch in batches:
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_fn(model, batch)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mixers", default="lstm,gla,mamba,attention")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--n-layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    documents = stdlib_documents()
    corpus = load_corpus(None, documents)
    vocab = Vocab.from_text(corpus["train"])
    train = torch.from_numpy(vocab.encode(corpus["train"]))
    start = file_starts(len(train), documents["train"])
    gen = torch.Generator().manual_seed(0)
    packed = [training_windows(train, args.batch_size, args.seq_len, gen, start) for _ in range(args.steps)]
    plain = [b[:2] for b in packed]
    pieces = [int(b[2][:, 1:].sum()) + args.batch_size for b in packed]
    rows = []
    print(f"{'mixer':<12}{'plain tok/s':>13}{'packed tok/s':>14}{'packed/plain':>14}{'sequences':>11}")
    for name in args.mixers.split(","):
        torch.manual_seed(0)
        model = LanguageModel(LMConfig(vocab_size=len(vocab), d_model=args.d_model, n_layers=args.n_layers,
                                       mixer=name))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        step_seconds(model, opt, plain[:1], lm_loss)  # warm-up (kernel compile, allocator)
        step_seconds(model, opt, packed[:1], packed_lm_loss)
        times = {"plain": [], "packed": []}
        for _ in range(args.rounds):
            times["plain"].append(step_seconds(model, opt, plain, lm_loss))
            times["packed"].append(step_seconds(model, opt, packed, packed_lm_loss))
        tokens = args.steps * args.batch_size * args.seq_len
        rate = {k: tokens / statistics.median(v) for k, v in times.items()}
        rows.append({"mixer": name, "plain_tokens_per_s": rate["plain"], "packed_tokens_per_s": rate["packed"],
                     "ratio": rate["packed"] / rate["plain"], "sequences_per_batch": statistics.mean(pieces),
                     "seconds": times})
        print(f"{name:<12}{rate['plain']:>13.0f}{rate['packed']:>14.0f}{rate['packed'] / rate['plain']:>14.2f}"
              f"{statistics.mean(pieces):>11.1f}")
    if args.out:
        record = {"rows": rows, "args": vars(args), "provenance": provenance()}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
