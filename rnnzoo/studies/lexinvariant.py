"""Lexinvariant study: a language model without a fixed embedding table (``rnnzoo.objectives.lexinvariant``)
against the standard one, on in-context symbol manipulation and on character-level text.

1. Associative recall (MQAR): test accuracy of both models at equal steps. The lexinvariant model can only
   answer by copying a symbol seen in the context, which is all MQAR asks.
2. Text: both models are trained on windows of the standard-library corpus of ``rnnzoo lm``; the valid loss
   (bits per character) is reported per position bucket of the window. The paper finds the lexinvariant
   model's loss approaching the standard model's as the context grows (it deciphers the symbols in context).

Evaluation draws the lexinvariant embeddings from a fixed generator, so the numbers are reproducible.

```
rnnzoo study lexinvariant --quick
rnnzoo study lexinvariant            # docs/studies/lexinvariant.md
```
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from rnnzoo import tasks
from rnnzoo.config_args import option
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.objectives.lexinvariant import LexinvariantLM
from rnnzoo.studies.records import (
    command,
    cost_lines,
    fmt,
    markdown_table,
    mean_sd,
    present,
    run_missing,
    train_on_task,
)
from rnnzoo.tasks.base import masked_accuracy
from rnnzoo.train import TrainConfig, Trainer
from rnnzoo.train.trainer import lm_loss

CLAIM = ("Lexinvariant LMs (Huang et al. 2023): with random per-sequence token embeddings, a model still "
         "performs in-context symbol manipulation, and its perplexity converges towards the standard model's as "
         "the context grows.")

# MQAR at the size of the bench's small recall task (at vocab 64, 4 pairs, 32 tokens the standard model itself stays
# at the one-pair plateau, about 0.28, for thousands of steps)
MQAR = dict(vocab=16, num_kv_pairs=2, seq_len=16)
MODELS = ("standard", "lexinvariant")
EVAL_SEED = 12345


@dataclass
class Config:
    quick: bool = option(False, "a small version in minutes (fewer steps, results and doc beside out)")
    seeds: tuple[int, ...] = option((0, 1, 2), "seeds of each configuration")
    out: str = option("results/studies/lexinvariant", "folder of results.jsonl (resumable)")
    doc: str = option("docs/studies/lexinvariant.md", "the report written at the end (its plot beside it)")
    mixers: tuple[str, ...] = option(("attention", "gla"), "causal mixers, each trained as a standard and a "
                                     "lexinvariant model (attention: the paper's Transformer)")
    d_model: int = option(64, "model width")
    task_steps: int = option(1500, "optimiser steps on MQAR")
    task_weight_decay: float = option(0.0, "AdamW weight decay on MQAR (0, as the bench trains recall; at 0.1 "
                                      "attention stays at its one-pair plateau)")
    lm_steps: int = option(600, "optimiser steps on text")
    seq_len: int = option(256, "characters per text window (the context whose buckets are scored)")
    batch_size: int = option(16, "text windows per step (MQAR: twice as many sequences)")
    lr: float = option(3e-3, "peak learning rate")
    eval_windows: int = option(64, "valid windows scored per text model")
    buckets: tuple[int, ...] = option((8, 32, 64, 128, 256), "upper ends of the position buckets scored")
    report_only: bool = option(False, "write the doc from the records already present, training nothing")


def scaled(config: Config) -> Config:
    if not config.quick:
        return config
    return Config(**{**asdict(config), "task_steps": min(config.task_steps, 150),
                     "lm_steps": min(config.lm_steps, 100), "seq_len": min(config.seq_len, 128),
                     "buckets": tuple(b for b in config.buckets if b <= 128),
                     "doc": str(Path(config.out) / "quick.md"), "out": str(Path(config.out) / "quick")})


def build(kind: str, vocab_size: int, mixer: str, d_model: int) -> nn.Module:
    cfg = LMConfig(vocab_size, d_model, 2, mixer)
    return LexinvariantLM(cfg) if kind == "lexinvariant" else LanguageModel(cfg)


def eval_logits(model: nn.Module, tokens: torch.Tensor, seed: int) -> torch.Tensor:
    """model(tokens), with the lexinvariant embeddings drawn from a generator seeded ``seed``."""
    if isinstance(model, LexinvariantLM):
        return model(tokens, model.draw(tokens.shape[0], torch.Generator().manual_seed(seed)))
    return model(tokens)


def run_task(s: dict) -> dict:
    task = tasks.build("mqar", **s["task_options"])
    torch.manual_seed(s["seed"])
    model = build(s["model"], task.vocab_size, s["mixer"], s["d_model"])
    summary = train_on_task(model, task, lm_loss, s["steps"], s["batch_size"], s["lr"], s["seed"], s["weight_decay"])
    inputs, targets = task.make("test", 256, s["seed"])
    with torch.no_grad():
        logits = eval_logits(model, inputs, EVAL_SEED)
    return {"accuracy": masked_accuracy(logits, targets), "final_loss": summary["final_loss"],
            "train_seconds": summary["train_seconds"]}


@functools.lru_cache(maxsize=1)
def text_data() -> tuple[torch.Tensor, torch.Tensor, int]:
    """(train ids, valid ids, vocabulary size) of the standard-library corpus, as ``rnnzoo lm`` encodes it."""
    from rnnzoo.apps.lm import Vocab, load_corpus

    corpus = load_corpus()
    vocab = Vocab.from_text(corpus["train"])
    return (torch.from_numpy(vocab.encode(corpus["train"])), torch.from_numpy(vocab.encode(corpus["valid"])),
            len(vocab))


def position_bits(model: nn.Module, valid: torch.Tensor, seq_len: int, windows: int) -> torch.Tensor:
    """Mean next-character loss in bits at each position [seq_len] over ``windows`` windows spread evenly over
    ``valid`` (each from the zero state)."""
    starts = torch.linspace(0, len(valid) - seq_len - 2, windows).long()
    chunk = valid[starts[:, None] + torch.arange(seq_len + 1)]
    with torch.no_grad():
        logits = eval_logits(model, chunk[:, :-1], EVAL_SEED)
        nll = nn.functional.cross_entropy(logits.transpose(1, 2).float(), chunk[:, 1:], reduction="none")
    return nll.mean(0) / math.log(2)


def run_text(s: dict) -> dict:
    train, valid, vocab_size = text_data()
    torch.manual_seed(s["seed"])
    model = build(s["model"], vocab_size, s["mixer"], s["d_model"])
    seq_len, batch = s["seq_len"], s["batch_size"]

    def batch_fn(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(s["seed"] * 1_000_003 + step)
        starts = torch.randint(0, len(train) - seq_len - 1, (batch, 1), generator=gen)
        window = train[starts + torch.arange(seq_len + 1)]
        return window[:, :-1], window[:, 1:]

    config = TrainConfig(steps=s["steps"], lr=s["lr"], seed=s["seed"], warmup_steps=max(1, s["steps"] // 10),
                         progress=False, log_every=max(1, s["steps"] // 10), device="cpu")
    summary = Trainer(model, config, batch_fn, lm_loss).fit()
    model.eval()
    bits = position_bits(model, valid, seq_len, s["eval_windows"])
    edges = [0, *s["buckets"]]
    return {"bucket_bits": {f"{a + 1}-{b}": float(bits[a:b].mean()) for a, b in zip(edges, edges[1:])},
            "bits_per_char": float(bits.mean()), "final_loss": summary["final_loss"],
            "train_seconds": summary["train_seconds"]}


def run(config: Config) -> dict:
    torch.set_num_threads(1)
    c = scaled(config)
    task_settings = [dict(part="mqar", model=m, seed=seed, steps=c.task_steps, batch_size=2 * c.batch_size,
                          task_options=MQAR, mixer=mixer, d_model=c.d_model, lr=c.lr,
                          weight_decay=c.task_weight_decay)
                     for mixer in c.mixers for seed in c.seeds for m in MODELS]
    text_settings = [dict(part="text", model=m, seed=seed, steps=c.lm_steps, batch_size=c.batch_size,
                          seq_len=c.seq_len, eval_windows=c.eval_windows, buckets=list(c.buckets), mixer=mixer,
                          d_model=c.d_model, lr=c.lr) for mixer in c.mixers for seed in c.seeds for m in MODELS]
    if c.report_only:
        task_records, text_records = present(c.out, task_settings), present(c.out, text_settings)
    else:
        task_records = run_missing(c.out, task_settings, run_task)
        text_records = run_missing(c.out, text_settings, run_text)
    return write_report(c, task_records, text_records, command("lexinvariant", replace(config, report_only=False)))


def write_report(c: Config, task_records: list[dict], text_records: list[dict], rerun: str) -> dict:
    """One row per (mixer, model) for MQAR, one text table per mixer, and a verdict per mixer."""
    edges = [0, *c.buckets]
    names = [f"{a + 1}-{b}" for a, b in zip(edges, edges[1:])]  # in position order (records keep sorted keys)
    chance = 1 / (MQAR["vocab"] - MQAR["vocab"] // 2)
    task_rows, text_tables, verdicts, per_mixer, summary = [], [], [], {}, {}
    for mixer in c.mixers:
        acc = {m: [r["accuracy"] for r in task_records if r["settings"]["model"] == m
                   and r["settings"]["mixer"] == mixer] for m in MODELS}
        bits = {m: [r for r in text_records if r["settings"]["model"] == m and r["settings"]["mixer"] == mixer]
                for m in MODELS}
        task_rows += [[mixer, m, fmt(acc[m])] for m in MODELS]
        if not all(acc.values()) or not all(bits.values()):
            verdicts.append(f"- {mixer}: not every run is recorded yet.")
            continue
        per = per_mixer[mixer] = {m: {b: [r["bucket_bits"][b] for r in bits[m]] for b in names} for m in MODELS}
        gaps = [mean_sd(per["lexinvariant"][b])[0] - mean_sd(per["standard"][b])[0] for b in names]
        text_tables.append(f"`{mixer}`:\n\n" + markdown_table(
            ["positions", *MODELS, "gap (lexinvariant − standard)"],
            [[b, fmt(per["standard"][b]), fmt(per["lexinvariant"][b]), f"{g:+.3f}"] for b, g in zip(names, gaps)]))
        lex_acc, std_acc = mean_sd(acc["lexinvariant"])[0], mean_sd(acc["standard"])[0]
        manip = lex_acc > 5 * chance  # the study's bar for 'still manipulates symbols'
        shrinks, converges = gaps[-1] < gaps[0] - 0.05, gaps[-1] < min(0.5 * gaps[0], 0.5)
        verdicts.append(
            f"- **{mixer}**. Symbol manipulation: the lexinvariant model reaches MQAR accuracy {lex_acc:.3f} "
            f"(standard {std_acc:.3f}, chance {chance:.3f}, bar 5x chance): " + ("reproduced" if manip else "not reproduced")
            + f". Convergence: the bits/char gap is {gaps[0]:+.3f} at positions {names[0]} and {gaps[-1]:+.3f} at "
            f"{names[-1]}: " + ("it closes with context, as the paper reports" if converges else
                                f"it shrinks by {gaps[0] - gaps[-1]:.2f} bits with context but stays at "
                                f"{gaps[-1]:.2f} bits: the paper's convergence is not reproduced at this budget"
                                if shrinks else "it does not shrink with context here") + ".")
        summary.update({f"{mixer}_mqar_lexinvariant": round(lex_acc, 4), f"{mixer}_mqar_standard": round(std_acc, 4),
                        f"{mixer}_gap_first_bucket": round(gaps[0], 4), f"{mixer}_gap_last_bucket": round(gaps[-1], 4)})
    verdict = "\n".join(verdicts)
    doc = Path(c.doc)
    plot(per_mixer, names, doc.with_suffix(".png"))
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(
        f"# Lexinvariant language models\n\n**Paper's claim.** {CLAIM}\n\n"
        f"**What we implement.** `rnnzoo.objectives.lexinvariant.LexinvariantLM`: no embedding table; per sequence "
        f"each token id gets a vector drawn from N(0, I/d), the same at every occurrence in the sequence, fresh in "
        f"the next; the head is tied to the same random matrix (logit of v = <RMSNorm(h), E_b[v]>), as in the "
        f"paper. Models: 2 layers of each of {', '.join(f'`{m}`' for m in c.mixers)} (the paper's models are "
        f"Transformers), d_model {c.d_model}, lr {c.lr}, seeds {list(c.seeds)}.\n\n"
        f"## In-context symbol manipulation (associative recall)\n\n{c.task_steps} steps, batch "
        f"{2 * c.batch_size}; test accuracy on 256 sequences (mean ± sd (seeds)); MQAR {MQAR}.\n\n"
        + markdown_table(["mixer", "model", "MQAR accuracy"], task_rows)
        + f"\n## Text: bits per character by position\n\nStandard-library corpus of `rnnzoo lm` (characters), "
        f"{c.lm_steps} steps of batch {c.batch_size} windows of {c.seq_len}; valid loss over {c.eval_windows} "
        f"windows, averaged within each position bucket.\n\n" + "\n".join(text_tables)
        + f"\n![bits per character by position]({doc.with_suffix('.png').name})\n\n**Verdict.**\n\n{verdict}\n\n"
        + "".join(line + "\n\n" for line in cost_lines(task_records + text_records))
        + f"Reproduce: `{rerun}` (results: `{c.out}/results.jsonl`, resumable).\n")
    return {"doc": str(doc), "verdict": verdict, **summary}


def plot(per_mixer: dict, names: list[str], path: Path) -> None:
    """Valid bits/char by position bucket: one line per (mixer, model), the seeds' sd as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for mixer, per in per_mixer.items():
        for m in MODELS:
            stats = [mean_sd(per[m][b]) for b in names]
            ax.errorbar(range(len(names)), [s[0] for s in stats], yerr=[s[1] for s in stats], marker="o",
                        label=f"{mixer} {m}", linestyle="-" if m == "standard" else "--")
    ax.set_xticks(range(len(names)), names)
    ax.set_xlabel("position in window")
    ax.set_ylabel("valid bits per character")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
