"""Studies from the papers, one module each, run by ``rnnzoo study <name>``.

A study module ``rnnzoo/studies/<name>.py`` defines:

- ``Config``: a dataclass whose fields (through ``rnnzoo.config_args.option``) become the command's flags;
  it has ``quick: bool`` (minutes instead of the default scale), ``seeds`` and ``out`` fields;
- ``CLAIM``: one sentence, the paper's finding the study measures;
- ``run(config) -> dict``: runs (resumably, appending JSONL under ``results/studies/<name>/``), then writes
  ``docs/studies/<name>.md`` (the claim, a table with 3 seeds, the plot, and the verdict) and returns the
  summary.

``STUDIES`` maps each name to its module path; modules are imported only when their study runs.
"""

from __future__ import annotations

import importlib
from types import ModuleType

STUDIES: dict[str, str] = {
    "meap": "rnnzoo.studies.meap",
    "lexinvariant": "rnnzoo.studies.lexinvariant",
    "birdie": "rnnzoo.studies.birdie",
    "state_collapse": "rnnzoo.studies.state_collapse",
    "sparsity": "rnnzoo.studies.sparsity",
    "curricula": "rnnzoo.studies.curricula",
    "liger": "rnnzoo.studies.liger",
    "languini": "rnnzoo.studies.languini",
}


def get(name: str) -> ModuleType:
    """The study module registered as ``name``; a ValueError lists the known names."""
    if name not in STUDIES:
        known = ", ".join(sorted(STUDIES)) or "none"
        raise ValueError(f"unknown study {name!r}; known studies: {known}")
    return importlib.import_module(STUDIES[name])
