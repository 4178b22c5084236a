"""The MAD protocol (Poli et al. 2024; athms/mad-lab ``configs/tasks/*.yml``, ``mad/configs.py``,
``mad/analysis.py``): six tasks, each at a baseline and along difficulty ladders that change one setting at a
time; every setting trained at each learning rate x weight decay of the sweep, the best kept; the MAD score
is the mean over tasks of the mean over that task's settings of the best test accuracy.

```python
settings("mad_compression")     # ['mad_compression:vocab=16:seq_len=32:num_train_examples=12800', ...]: 11 specs
scores = mad_scores(records)     # {(mixer, d_model): {"score": [...per seed], task: [...per seed]}}
```
``rnnzoo.bench.suites.mad_task_runs`` turns the settings and the sweep into the ``mad`` suite's runs.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import mean

from rnnzoo.bench.stats import LABEL, interval
from rnnzoo.spec import parse_spec

# task -> (baseline settings, ladders: setting -> values replacing the baseline's one at a time)
LADDERS: dict[str, tuple[dict, dict]] = {
    "mad_in_context_recall": ({"vocab": 16, "seq_len": 128, "num_train_examples": 12800},
                              {"vocab": (32, 64, 128), "seq_len": (256, 512, 1024),
                               "num_train_examples": (6400, 3200, 1600, 800)}),
    "mad_fuzzy_recall": ({"vocab": 16, "seq_len": 128, "num_train_examples": 12800, "k_motif_size": 3,
                          "v_motif_size": 3},
                         {"vocab": (32, 64, 128), "seq_len": (256, 512, 1024),
                          "num_train_examples": (6400, 3200, 1600, 800)}),
    "mad_noisy_recall": ({"vocab": 32, "noise_vocab_size": 16, "seq_len": 128, "num_train_examples": 12800,
                          "frac_noise": 0.2},
                         {"vocab": (48, 80, 144), "seq_len": (256, 512, 1024),
                          "num_train_examples": (6400, 3200, 1600, 800), "frac_noise": (0.4, 0.6, 0.8)}),
    "mad_selective_copying": ({"vocab": 16, "seq_len": 256, "num_tokens_to_copy": 16, "num_train_examples": 12800},
                              {"vocab": (32, 64, 128), "seq_len": (512, 1024),
                               "num_train_examples": (6400, 3200, 1600, 800), "num_tokens_to_copy": (32, 64, 96)}),
    "mad_compression": ({"vocab": 16, "seq_len": 32, "num_train_examples": 12800},
                        {"vocab": (32, 64, 128), "seq_len": (64, 128, 256),
                         "num_train_examples": (6400, 3200, 1600, 800)}),
    "mad_memorization": ({"vocab": 256, "seq_len": 32, "num_train_examples": 256},
                         {"vocab": (512, 1024, 2048, 4096, 8192)}),
}
SWEEP = tuple((lr, wd) for lr in (1e-4, 5e-4, 1e-3) for wd in (0.0, 0.1))  # MAD's lr x weight decay grid
# MAD trains 200 epochs at batch 128: 20,000 steps on 12,800 examples, fewer on the smaller training sets.
PAPER_BUDGET = "200 epochs at batch 128 (20,000 steps at 12,800 examples), width 128, bf16 on GPU"


def settings(task: str) -> list[str]:
    """The task specs of a MAD task: its baseline, then each ladder step (one setting changed)."""
    base, ladders = LADDERS[task]
    specs = [base] + [{**base, key: value} for key, values in ladders.items() for value in values]
    return [task + "".join(f":{k}={v}" for k, v in spec.items()) for spec in specs]


def mad_scores(records: list[dict]) -> dict[tuple[str, int], dict[str, list[float]]]:
    """Per (mixer, d_model): per MAD task, and "score" (their mean), one value per seed. For each setting the
    sweep point with the best mean accuracy over seeds is kept (MAD keeps the best run); a task's value is the
    mean over its settings present, the score the mean over its tasks present."""
    runs: dict = defaultdict(lambda: defaultdict(dict))  # (mixer, d) -> spec -> (lr, wd) -> seed -> accuracy
    for r in records:
        if parse_spec(r["task"])[0] in LADDERS:
            (acc,) = r["accuracy"].values()
            runs[(r["mixer"], r["d_model"])][r["task"]].setdefault((r["lr"], r["weight_decay"]), {})[r["seed"]] = acc
    out = {}
    for key, by_spec in runs.items():
        per_task: dict[str, list[dict[int, float]]] = defaultdict(list)
        for spec, by_point in by_spec.items():
            best = max(by_point.values(), key=lambda seeds: mean(seeds.values()))
            per_task[parse_spec(spec)[0]].append(best)
        seeds = sorted(set.intersection(*(set(s) for lists in per_task.values() for s in lists)))
        values = {task: [mean(s[seed] for s in lists) for seed in seeds] for task, lists in per_task.items()}
        values["score"] = [mean(values[t][i] for t in per_task) for i in range(len(seeds))]
        out[key] = values
    return out


def mad_table(records: list[dict]) -> str | None:
    """Markdown: one row per mixer, the per-task values and the MAD score (mean ± interval over seeds); None
    when no record is of a MAD task."""
    scores = mad_scores(records)
    if not scores:
        return None
    tasks = [t for t in LADDERS if any(t in v for v in scores.values())]
    settings_run = {t: len({r["task"] for r in records if parse_spec(r["task"])[0] == t}) for t in tasks}

    def cell(values: list[float]) -> str:
        centre, half = interval(values) if values else (float("nan"), None)
        return f"{centre:.3f}" if half is None else f"{centre:.3f} ± {half:.3f}"

    lines = ["# MAD scores", "",
             f"Mean ± {LABEL}. Each setting keeps its best learning rate x weight decay (by mean over seeds); a "
             "task's value is the mean over its settings run (count in the header: 11, 11, 14, 13, 11 and 6 in the "
             "full protocol); the MAD score is the mean over the tasks run.", "",
             "| mixer | d_model | " + " | ".join(f"{t[4:]} ({settings_run[t]})" for t in tasks) + " | MAD score | seeds |",
             "|---|---:|" + "---:|" * (len(tasks) + 2)]
    for (mixer, d_model), v in sorted(scores.items(), key=lambda kv: -mean(kv[1]["score"] or [0])):
        lines.append(f"| {mixer} | {d_model} | " + " | ".join(cell(v.get(t, [])) for t in tasks)
                     + f" | {cell(v['score'])} | {len(v['score'])} |")
    return "\n".join(lines) + "\n"
