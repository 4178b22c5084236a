"""What produced a result: the code's commit, the versions and the machine, stamped into every record.

```python
from rnnzoo.provenance import provenance
record = {"loss": 0.12, "provenance": provenance()}
```

``provenance()`` returns a JSON-ready dict:

- ``commit``: the git commit of the checkout that holds the imported ``rnnzoo`` package, and ``dirty``:
  whether tracked files differ from it (uncommitted edits). Both are None when rnnzoo was not imported
  from a git checkout (an installed wheel, a tarball, no ``git`` on the PATH): never an error;
- ``rnnzoo``, ``torch``, ``python``: versions;
- ``cpu``: the CPU model name, ``logical_cores``: ``os.cpu_count()``, ``torch_threads``:
  ``torch.get_num_threads()`` at the time of the call, ``platform``: ``platform.platform()``;
- ``date``: UTC time of the call, ISO 8601 to the second.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

import torch

import rnnzoo

PACKAGE_DIR = Path(rnnzoo.__file__).resolve().parent


def provenance() -> dict:
    """The commit, versions and machine behind a result (see module docstring for the fields)."""
    commit, dirty = git_state(PACKAGE_DIR)
    return {
        "commit": commit,
        "dirty": dirty,
        "rnnzoo": rnnzoo.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def git_state(package_dir: str | os.PathLike) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout that tracks ``package_dir/__init__.py``; (None, None) otherwise.

    Asking whether the package file is tracked, not only whether some repository encloses the directory,
    keeps an installed copy inside another project's tree (a ``.venv`` in a repository) from reporting
    that project's commit."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(package_dir), *args], capture_output=True, text=True,
                                  timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    if git("ls-files", "--error-unmatch", "__init__.py") is None:
        return None, None
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, (None if commit is None or status is None else bool(status))


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``); None if unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() in ("model name", "Model", "Hardware"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None
