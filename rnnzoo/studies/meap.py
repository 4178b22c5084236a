"""MEAP study: recall (MQAR, passkey) of causal LMs trained with and without mask-enhanced autoregressive
prediction (``rnnzoo.objectives.meap``) at equal steps, for several mixers and seeds.

Each run trains a 2-layer LanguageModel (one extra token id: the mask) on the task's train stream with plain
next-token loss or with MEAP (``fraction`` of the inputs masked), then scores the task's test accuracy
(MQAR: every queried value; passkey: every digit, at each test length). Unmasked at test time.

```
rnnzoo study meap --quick          # minutes: one mixer, fewer steps
rnnzoo study meap                  # the table in docs/studies/meap.md (3 mixers x 2 tasks x 2 x 3 seeds)
```
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from rnnzoo import tasks
from rnnzoo.config_args import option
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.objectives.meap import meap_loss
from rnnzoo.studies.records import (
    command,
    cost_lines,
    fmt,
    markdown_table,
    mean_sd,
    present,
    run_missing,
    task_accuracy,
    train_on_task,
)
from rnnzoo.train.trainer import lm_loss

CLAIM = ("MEAP (Zhuang et al. 2025): masking a small fraction of the input tokens during next-token training "
         "improves key-information retrieval (needle-in-a-haystack) without hurting language modelling.")

# MQAR at the size of the bench's small recall task: at vocab 64, 4 pairs, 32 tokens every model stays at the
# one-pair plateau (about 0.25) for thousands of steps, so it could not show an effect of MEAP.
TASKS = {"mqar": dict(vocab=16, num_kv_pairs=2, seq_len=16), "passkey": dict(seq_len=32, test_lens=(32, 64))}


@dataclass
class Config:
    quick: bool = option(False, "a small version in minutes (one mixer, 150 steps, results and doc beside out)")
    seeds: tuple[int, ...] = option((0, 1, 2), "seeds of each configuration")
    out: str = option("results/studies/meap", "folder of results.jsonl (resumable: finished runs are kept)")
    doc: str = option("docs/studies/meap.md", "the report written at the end (its plot beside it)")
    mixers: tuple[str, ...] = option(("gla", "mamba", "lstm"), "causal mixers compared")
    fraction: float = option(0.15, "MEAP: fraction of the input tokens masked")
    steps: int = option(1500, "optimiser steps of every run (equal with and without MEAP)")
    weight_decay: float = option(0.0, "AdamW weight decay of every run (0, as the bench trains recall; at 0.1 "
                                 "attention stays at MQAR's one-pair plateau at these budgets)")
    batch_size: int = option(32, "sequences per step")
    lr: float = option(3e-3, "peak learning rate")
    d_model: int = option(64, "model width")
    test_n: int = option(256, "test sequences per length")
    report_only: bool = option(False, "write the doc from the records already present, training nothing")


def scaled(config: Config) -> Config:
    """The settings actually run: ``quick`` shrinks them and writes beside ``out``."""
    if not config.quick:
        return config
    return Config(**{**asdict(config), "mixers": config.mixers[:1], "steps": min(config.steps, 150),
                     "doc": str(Path(config.out) / "quick.md"), "out": str(Path(config.out) / "quick")})


def run_one(s: dict) -> dict:
    torch.set_num_threads(1)
    task = tasks.build(s["task"], **s["task_options"])
    torch.manual_seed(s["seed"])
    model = LanguageModel(LMConfig(task.vocab_size + 1, s["d_model"], 2, s["mixer"]))
    loss = meap_loss(s["fraction"], task.vocab_size) if s["fraction"] else lm_loss
    summary = train_on_task(model, task, loss, s["steps"], s["batch_size"], s["lr"], s["seed"], s["weight_decay"])
    return {"accuracy": task_accuracy(model, task, s["test_n"], s["seed"]), "final_loss": summary["final_loss"],
            "train_seconds": summary["train_seconds"]}


def run(config: Config) -> dict:
    c = scaled(config)
    settings = [dict(task=t, task_options={k: list(v) if isinstance(v, tuple) else v for k, v in o.items()},
                     mixer=m, fraction=f, seed=seed, steps=c.steps, batch_size=c.batch_size, lr=c.lr,
                     weight_decay=c.weight_decay, d_model=c.d_model, test_n=c.test_n)
                for seed in c.seeds for t, o in TASKS.items() for m in c.mixers for f in (0.0, c.fraction)]
    records = present(c.out, settings) if c.report_only else run_missing(c.out, settings, run_one)
    return write_report(c, records, command("meap", replace(config, report_only=False)))


def accuracy_of(record: dict) -> float:
    """Mean accuracy over the record's test lengths."""
    acc = record["accuracy"]
    return sum(acc.values()) / len(acc)


def write_report(c: Config, records: list[dict], rerun: str) -> dict:
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        s = r["settings"]
        groups.setdefault((s["task"], s["mixer"], s["fraction"]), []).append(r)
    rows, summary, tally, learnt = [], {}, {"improved": 0, "hurt": 0, "same": 0}, {}
    for t in TASKS:
        for m in c.mixers:
            base, meap = groups.get((t, m, 0.0)), groups.get((t, m, c.fraction))
            if not (base and meap):
                continue  # not run yet (report_only)
            lengths = list(base[0]["accuracy"])
            cells = [t, m]
            for length in lengths:
                cells += [fmt([r["accuracy"][length] for r in base]), fmt([r["accuracy"][length] for r in meap])]
            cells += ["–"] * (2 * (2 - len(lengths)))  # MQAR is tested at one length
            (mb, sb), (mm, sm) = mean_sd([accuracy_of(r) for r in base]), mean_sd([accuracy_of(r) for r in meap])
            delta = mm - mb
            spread = max(sb, sm, 0.02)  # a difference within the seeds' spread is no difference
            tally["improved" if delta > spread else "hurt" if delta < -spread else "same"] += 1
            learnt.setdefault(t, []).append(max(mb, mm) >= 0.5)
            cells.append(f"{delta:+.3f}")
            rows.append(cells)
            summary[f"{t}/{m}"] = round(delta, 4)
    header = ["task", "mixer", "plain acc@L1", f"MEAP {c.fraction} acc@L1", "plain acc@L2", "MEAP acc@L2",
              "MEAP − plain (mean over lengths)"]
    verdict = (f"At {c.steps} equal steps ({len(c.seeds)} seeds each), MEAP improved mean recall in "
               f"{tally['improved']} of {len(rows)} (task, mixer) pairs, hurt it in {tally['hurt']}, and made no "
               f"difference beyond the seeds' spread in {tally['same']}. "
               + ("The paper's claim reproduces here." if tally["improved"] > len(rows) / 2 else
                  "The paper's claim does not reproduce at this scale.")
               + "".join(f" On {t} every model stays below 0.5 with and without MEAP: the task is not learnt at this "
                         "budget, so those rows cannot show an effect." for t, ok in learnt.items() if not any(ok)))
    doc = Path(c.doc)
    plot(groups, c, doc.with_suffix(".png"))
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(
        f"# MEAP: mask-enhanced autoregressive prediction on recall\n\n**Paper's claim.** {CLAIM}\n\n"
        f"**What we measure.** Test accuracy on MQAR ({TASKS['mqar']}; L1 = {TASKS['mqar']['seq_len']}) and passkey "
        f"({TASKS['passkey']}; L1 = {TASKS['passkey']['test_lens'][0]}, L2 = {TASKS['passkey']['test_lens'][1]}: "
        f"trained at {TASKS['passkey']['seq_len']}) of 2-layer LMs (d_model {c.d_model}) trained {c.steps} steps "
        f"(batch {c.batch_size}, lr {c.lr}, weight decay {c.weight_decay}) with plain next-token loss or with MEAP masking {c.fraction:.0%} of "
        f"the input tokens (targets unchanged, `rnnzoo.objectives.meap`). Cells: mean ± sd (seeds) over seeds "
        f"{list(c.seeds)}; MQAR is tested at one length (L2 cells: –). Chance: "
        f"MQAR {2 / TASKS['mqar']['vocab']:.3f} (one of the values), passkey 0.1 (a digit).\n\n"
        + markdown_table(header, rows)
        + f"\n![MEAP vs plain]({doc.with_suffix('.png').name})\n\n**Verdict.** {verdict}\n\n"
        + "".join(line + "\n\n" for line in cost_lines(records))
        + f"Reproduce: `{rerun}` (results: `{c.out}/results.jsonl`, resumable).\n")
    return {"doc": str(doc), "verdict": verdict, **summary}


def plot(groups: dict, c: Config, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TASKS), figsize=(4 * len(TASKS), 3.2), squeeze=False)
    for ax, t in zip(axes[0], TASKS):
        for j, f in enumerate((0.0, c.fraction)):
            stats = [mean_sd([accuracy_of(r) for r in groups.get((t, m, f), [])] or [0.0]) for m in c.mixers]
            ax.bar([i + 0.4 * j for i in range(len(c.mixers))], [s[0] for s in stats], 0.4,
                   yerr=[s[1] for s in stats], label="plain" if f == 0 else f"MEAP {f}")
        ax.set_xticks([i + 0.2 for i in range(len(c.mixers))], c.mixers)
        ax.set_title(t)
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1)
    axes[0][0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
