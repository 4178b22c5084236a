"""Synthetic tasks: a frozen config dataclass with ``make(split, n, seed) -> (inputs, targets)``, a metric,
and a name registry for the bench.

```python
from rnnzoo import tasks
task = tasks.build("mqar", num_kv_pairs=8, vocab=256)
tasks.names()   # ['icll', 'induction_heads', 'modular_arithmetic', 'mqar', 'parity', 'passkey', ...]
```
"""

from __future__ import annotations

import dataclasses

from rnnzoo.tasks.base import IGNORE, Task
from rnnzoo.tasks.chomsky import CHOMSKY_TASKS
from rnnzoo.tasks.compositional_mqar import CompositionalMQAR
from rnnzoo.tasks.forgetting_mqar import ForgettingMQAR
from rnnzoo.tasks.icll import ICLL
from rnnzoo.tasks.induction_heads import InductionHeads
from rnnzoo.tasks.listops import ListOps
from rnnzoo.tasks.mad import MAD_TASKS
from rnnzoo.tasks.majority import Majority, VocabMajority
from rnnzoo.tasks.markov import MarkovConfig
from rnnzoo.tasks.modular_arithmetic import ModularArithmetic
from rnnzoo.tasks.mqar import MQAR
from rnnzoo.tasks.order_recall import OrderRecall
from rnnzoo.tasks.parity import Parity
from rnnzoo.tasks.passkey import Passkey
from rnnzoo.tasks.permutations import Permutations
from rnnzoo.tasks.ruler import RULER_TASKS
from rnnzoo.tasks.selective_copy import SelectiveCopy
from rnnzoo.tasks.verbatim_recall import VerbatimRecall

TASKS: dict[str, type[Task]] = {
    "mqar": MQAR,
    "selective_copy": SelectiveCopy,
    "induction_heads": InductionHeads,
    "parity": Parity,
    "modular_arithmetic": ModularArithmetic,
    "permutations": Permutations,
    "icll": ICLL,
    "passkey": Passkey,
    "forgetting_mqar": ForgettingMQAR,
    "compositional_mqar": CompositionalMQAR,
    "majority": Majority,
    "vocab_majority": VocabMajority,
    "listops": ListOps,
    "order_recall": OrderRecall,
    "verbatim_recall": VerbatimRecall,
    **CHOMSKY_TASKS,
    **MAD_TASKS,
    **RULER_TASKS,
}


def names() -> list[str]:
    return sorted(TASKS)


def get(name: str) -> type[Task]:
    """The task class registered as ``name``; unknown names raise ValueError listing the valid ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid names: {', '.join(names())}")
    return TASKS[name]


def build(name: str, **options) -> Task:
    """Task ``name`` with config overrides; unknown options raise ValueError listing the valid ones."""
    cls = get(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ValueError(f"task {name!r} has no option(s) {unknown}; its options are: {', '.join(sorted(fields))}")
    return cls(**options)


__all__ = ["IGNORE", "Task", "TASKS", "CompositionalMQAR", "ForgettingMQAR", "Majority", "VocabMajority", "ICLL", "InductionHeads", "ListOps", "MarkovConfig", "ModularArithmetic", "MQAR", "OrderRecall", "VerbatimRecall",
           "Parity", "Passkey", "Permutations", "SelectiveCopy", "build", "get", "names"]
