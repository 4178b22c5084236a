"""Bench suites as plain data: which mixers, on which tasks (with their training budget), at which widths
and seeds. Mixer and task entries are spec strings, ``name:key=value:...`` (see ``rnnzoo.spec``).

``quick`` is the README's first command; ``standard`` is every causal mixer on every task family (hours on CPU);
``recall`` checks how MQAR accuracy moves with state size and JRT prompting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rnnzoo.bench.mad import LADDERS, SWEEP, settings


@dataclass(frozen=True)
class TaskRun:
    spec: str              # task spec, e.g. "mqar:vocab=128:num_kv_pairs=4"
    steps: int             # optimiser steps
    lr: float = 3e-3
    batch_size: int = 64
    weight_decay: float = 0.1
    n_layers: int | None = None  # None: the suite's n_layers


@dataclass(frozen=True)
class Suite:
    name: str
    mixers: tuple[str, ...]
    tasks: tuple[TaskRun, ...]
    d_models: tuple[int, ...] = (64,)
    seeds: tuple[int, ...] = (0, 1, 2)  # three seeds: the leaderboard's 95% t-interval needs two at least
    n_layers: int = 2
    test_n: int = 256       # test examples per test length

    def replace(self, **changes) -> "Suite":
        return dataclasses.replace(self, **changes)


def mad_task_runs(steps: int, batch_size: int, tasks: tuple[str, ...] = tuple(LADDERS),
                  sweep: tuple[tuple[float, float], ...] = SWEEP, ladders: bool = True) -> tuple[TaskRun, ...]:
    """Every (MAD setting, lr, weight decay) as a TaskRun; ``ladders=False``: each task's baseline only.
    Two mixer layers: the MAD backbone's (each followed by SwiGLU)."""
    return tuple(TaskRun(spec, steps=steps, lr=lr, batch_size=batch_size, weight_decay=wd, n_layers=2)
                 for task in tasks for spec in (settings(task) if ladders else settings(task)[:1])
                 for lr, wd in sweep)


_MQAR_SMALL = "mqar:vocab=16:seq_len=16:num_kv_pairs=2"

QUICK = Suite(
    name="quick",
    mixers=("attention", "lstm", "gru", "mamba", "deltanet", "deltanet:allow_neg_eigval=True", "gated_deltanet"),
    tasks=(
        # 2 layers: attention needs two to form an induction circuit; in a 1000-step run it reached 0.97 by step 400.
        TaskRun(_MQAR_SMALL, steps=1000, lr=3e-3, weight_decay=0.0, n_layers=2),
        # one layer suffices for parity (an LSTM generalises to 256 after 400 steps at lr 1e-2)
        TaskRun("parity:seq_len=40:test_lens=(40,128,256)", steps=400, lr=1e-2, n_layers=1),
    ),
    d_models=(64,),
    # One seed only: the quick suite is the README's first command and must stay under 10 minutes on 2 cores;
    # its 14 runs took 314 s on a quiet machine (887 s with the cores shared), so three seeds (about 16 min
    # quiet) do not fit. Its leaderboard therefore shows no interval; pass --seeds 0,1,2 for one.
    seeds=(0,),
    test_n=256,
)

# Every causal mixer on every task family at small scale: 28 mixers x 8 tasks at d_model 64, three seeds, about
# 9 CPU-hours on one core (split it with --shard). Sizes are the quick suite's where it is calibrated (MQAR:
# attention learns it in 800 steps; parity: an LSTM generalises to 256 in 400 steps), and sequence lengths
# of 32-64 elsewhere so that one run is a minute or two; test lengths go to 4x the training length.
STANDARD = Suite(
    name="standard",
    mixers=(),  # empty: every causal mixer in the registry
    tasks=(
        TaskRun(_MQAR_SMALL, steps=800, lr=3e-3, weight_decay=0.0, n_layers=2),
        TaskRun("parity:seq_len=40:test_lens=(40,128,256)", steps=400, lr=1e-2, n_layers=1),
        TaskRun("modular_arithmetic:seq_len=41:test_lens=(41,129,257)", steps=400, lr=1e-2, n_layers=1),
        TaskRun("permutations:group=S3:seq_len=32:test_lens=(32,64,128)", steps=400, lr=1e-2, n_layers=1),
        TaskRun("selective_copy:seq_len=32:num_tokens=4", steps=400, batch_size=32),
        TaskRun("induction_heads:seq_len=32:test_lens=(32,64,128)", steps=400, batch_size=32),
        TaskRun("passkey:seq_len=32:test_lens=(32,64,128)", steps=400, batch_size=32),
        TaskRun("icll:seq_len=64", steps=400, batch_size=32),
    ),
    d_models=(64,),
)

# Two findings of the recall literature: MQAR accuracy of linear-attention models grows with their state
# (set here by d_model: the state is heads x d_k x d_v), and Just-read-twice prompting helps them (Arora et al.
# 2024). Both models carry fla's short convolution on q, k, v: without it they stay on the 0.5 copy plateau of
# the quick MQAR at every width (docs/bench.md). 4 pairs in 32 tokens: gated_deltanet reaches 0.99 here in
# 1000 steps. 2 mixers x 3 widths x 2 prompts.
_MQAR_RECALL = "mqar:vocab=32:seq_len=32:num_kv_pairs=4"
RECALL = Suite(
    name="recall",
    mixers=("linear_attention:use_short_conv=True", "gla:use_short_conv=True"),
    tasks=(
        TaskRun(_MQAR_RECALL, steps=1000, lr=3e-3, weight_decay=0.0),
        TaskRun(_MQAR_RECALL + ":jrt=True", steps=1000, lr=3e-3, weight_decay=0.0),
    ),
    d_models=(16, 32, 64),
)

# The Chomsky-hierarchy protocol (Delétang et al. 2023): train on lengths 1..40 (one uniform length per batch),
# score = mean accuracy over test lengths 41..500 (six evenly spaced points here; the paper uses every length),
# per output token. The paper trains 1,000,000 steps at batch 128 and reports the best of 10 seeds x 3 learning
# rates; this suite is a CPU budget (2000 steps, batch 32, one lr, 3 seeds; mean and interval, not max), so
# a score below the paper's can be the budget. Mixers: the paper's LSTM and Transformer, plus three of ours.
_CHOMSKY = ("even_pairs", "parity_check", "cycle_navigation", "modular_arithmetic", "reverse_string",
            "stack_manipulation", "modular_arithmetic_brackets", "solve_equation", "duplicate_string", "odds_first",
            "bucket_sort", "binary_addition")
CHOMSKY = Suite(
    name="chomsky",
    mixers=("lstm", "attention", "gla", "mamba", "gated_deltanet"),
    tasks=tuple(TaskRun(f"chomsky_{name}", steps=2000, lr=1e-3, batch_size=32, weight_decay=0.0) for name in _CHOMSKY),
    d_models=(64,),
    test_n=64,
)

# The MAD protocol (Poli et al. 2024): 6 tasks x 66 settings x 6 (lr, weight decay) points on MAD's backbone
# (2 mixer + 2 SwiGLU layers, width 128). MAD trains 20,000 steps at batch 128 on GPU; this CPU budget is 1000
# steps at batch 32 (the number of steps is the same for every training-set size, where MAD's 200 epochs
# give fewer steps to the smaller sets). Three seeds (MAD runs one per sweep point): about 1200 runs per mixer,
# so on CPU run a part of it (``mad_task_runs(..., ladders=False)``: baselines only) or shard it widely.
MAD = Suite(
    name="mad",
    mixers=("attention", "hyena", "mamba", "gla", "deltanet", "gated_deltanet", "mlstm", "rwkv7", "deltaproduct"),
    tasks=mad_task_runs(steps=1000, batch_size=32),
    d_models=(128,),
    test_n=1280,  # MAD's test set size
)

# The memory tasks of the recall and memory-characterisation literature at one small CPU budget: Zoology's
# forgetting and compositional MQAR and (vocab-)majority, LRA's ListOps, RULER's needles and variable tracking,
# sequence order recall (SORT) and verbatim list recall. Every task at 32 tokens for training (the needle and
# recall tasks tested to 128), 2 layers, d_model 64, 300 steps at batch 32, lr 3e-3, no weight decay: about
# 45 s per run on one core, so the 60 runs of one seed take about 45 minutes. The papers train for thousands
# to hundreds of thousands of steps at lengths 512-128k: a score at chance here means "not within this budget".
# Tasks are listed in the order a partial run should finish them (the runner goes task by task).
_MEMORY_RUN = dict(steps=300, lr=3e-3, batch_size=32, weight_decay=0.0, n_layers=2)
_TESTS = ":test_lens=(32,64,128)"
MEMORY = Suite(
    name="memory",
    mixers=("attention", "gla", "mamba", "gated_deltanet", "lstm"),
    tasks=tuple(TaskRun(spec, **_MEMORY_RUN) for spec in (
        "order_recall:seq_len=32" + _TESTS,
        "verbatim_recall:seq_len=32" + _TESTS,
        "forgetting_mqar:vocab=64:seq_len=32:num_kv_pairs=4:num_updates=2",
        "compositional_mqar:vocab=64:seq_len=32:num_kv_pairs=4",
        "majority:seq_len=32",
        "vocab_majority:seq_len=32",
        "listops:seq_len=32:min_len=8",
        "ruler_niah_multikey:seq_len=32" + _TESTS,
        "ruler_niah_multiquery:seq_len=32" + _TESTS,
        "ruler_niah_multivalue:seq_len=32" + _TESTS,
        "ruler_niah:seq_len=32" + _TESTS,
        "ruler_vt:seq_len=32" + _TESTS,
    )),
    d_models=(64,),
)

SUITES = {"quick": QUICK, "standard": STANDARD, "recall": RECALL, "chomsky": CHOMSKY, "mad": MAD, "memory": MEMORY}


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; valid suites: {', '.join(sorted(SUITES))}")
    return SUITES[name]
