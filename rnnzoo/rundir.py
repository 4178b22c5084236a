"""A run directory: one run at a time, never overwritten by accident, nothing left behind by a killed save.

```python
with open_run("runs/lm", resume=False, overwrite=False) as run:   # refuses a directory holding a run
    ...                                                          # run.run_id goes into every metrics record
```

``open_run`` checks that the directory can be written (before any data is loaded), refuses one that already
holds a run unless ``resume`` (continue it) or ``overwrite`` (delete its files first) is given, takes an
exclusive lock for the run's lifetime (``.lock``: JSON with the owner's pid and host, created with
``O_EXCL``; a lock left by a dead process on this host is taken over with a warning, a live one is refused
naming its pid), removes the hidden temp files of a save that was killed, and keeps the run id
(``run.json``, written at creation and kept across resumes, with the ``rnnzoo.provenance`` stamp of the
code that created the run and one more for each resume).

``write_results(out_dir, result)`` is how an app ends a run: the result dict, stamped with its provenance
(commit, versions, machine), written atomically to ``out_dir/results.json``.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

LOCK = ".lock"
RUN_FILE = "run.json"
RESULTS_FILE = "results.json"
# what a run writes; any of these present means the directory holds a run (run.json alone does not: a run that
# failed before its first record, e.g. on a bad corpus, can be started again)
RUN_FILES = ("checkpoint.json", "metrics.jsonl", "summary.json", "lm.json", "results.json", "best.safetensors",
             "model.safetensors")
RUN_PATTERNS = ("model-*.safetensors", "optim-*.pt", ".*.tmp")


@dataclass(frozen=True)
class Run:
    """An open run directory: its path and the run id every metrics record carries."""

    path: Path
    run_id: str


def check_writable(path: str | os.PathLike) -> Path:
    """``path`` as a directory that exists or can be created and written; ValueError naming the path if not."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output directory {path} is a file, not a directory")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"output directory {path} cannot be created: {existing} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        probe.unlink()
    except OSError as e:
        raise ValueError(f"output directory {path} is not writable: {e.strerror}") from None
    return path


def holds_run(path: str | os.PathLike) -> list[str]:
    """The names of the run files in ``path`` (empty when it holds no run)."""
    path = Path(path)
    found = [n for n in RUN_FILES if (path / n).exists()]
    return found + sorted(p.name for pattern in RUN_PATTERNS[:2] for p in path.glob(pattern))


def remove_temp_files(path: str | os.PathLike) -> list[str]:
    """Delete the hidden temp files (``.<name>.<random>.tmp``) that a save killed mid-write left; their names."""
    gone = sorted(p.name for p in Path(path).glob(".*.tmp") if p.is_file())
    for name in gone:
        (Path(path) / name).unlink(missing_ok=True)
    return gone


def check_run_dir(path: str | os.PathLike, *, resume: bool = False, overwrite: bool = False) -> Path:
    """``path`` checked as the directory of a new run (or of the run to resume / replace); ValueError if not."""
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: resume continues the run, overwrite replaces it")
    path = check_writable(path)
    found = holds_run(path)
    if found and not (resume or overwrite):
        raise ValueError(f"{path} already holds a run ({', '.join(found[:3])}); pass --resume to continue it "
                         f"(commands that offer it) or --overwrite to replace it")
    return path


@contextmanager
def open_run(path: str | os.PathLike, *, resume: bool = False, overwrite: bool = False) -> Iterator[Run]:
    """Check, lock and prepare the run directory ``path`` for the duration of the ``with`` block (see module)."""
    path = check_run_dir(path, resume=resume, overwrite=overwrite)
    _lock(path)
    try:
        remove_temp_files(path)
        if overwrite:
            for name in [*holds_run(path), RUN_FILE]:
                (path / name).unlink(missing_ok=True)
        yield Run(path, _run_id(path, keep=resume))
    finally:
        _unlock(path)


@contextmanager
def open_train_run(train) -> Iterator[Run | None]:
    """``open_run`` on a ``TrainConfig``'s ``out_dir`` with its ``resume``/``overwrite``, in the process that
    writes (rank 0 under torchrun); None where there is no out_dir or this rank does not write."""
    if not train.out_dir or os.environ.get("RANK", "0") != "0":
        yield None
        return
    with open_run(train.out_dir, resume=train.resume, overwrite=train.overwrite) as run:
        yield run


def write_results(out_dir: str | os.PathLike, result: dict, name: str = RESULTS_FILE) -> dict:
    """Stamp ``result`` with ``provenance()`` (unless it has one) and write it atomically to
    ``out_dir/name``; returns the stamped dict (the same object)."""
    from rnnzoo.io import atomic_write_json
    from rnnzoo.provenance import provenance

    result.setdefault("provenance", provenance())
    atomic_write_json(Path(out_dir) / name, result)
    return result


def _run_id(path: Path, keep: bool) -> str:
    """The run id of ``path``: kept from run.json on a resume (adding this session's provenance to its
    ``resumed`` list), else a new one written with the creating code's provenance."""
    from rnnzoo.io import atomic_write_json
    from rnnzoo.provenance import provenance

    file = path / RUN_FILE
    if keep and file.is_file():
        try:
            saved = json.loads(file.read_text())
            run_id = str(saved["run_id"])
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{file} is damaged: no run_id; repair it or start over with --overwrite") from None
        atomic_write_json(file, {**saved, "resumed": [*saved.get("resumed", []), provenance()]})
        return run_id
    run_id = uuid.uuid4().hex
    atomic_write_json(file, {"run_id": run_id, "provenance": provenance()})
    return run_id


def _lock(path: Path) -> None:
    lock, host = path / LOCK, socket.gethostname()
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            owner = _owner(lock)
            if owner == {}:
                continue
            if owner is None or (owner.get("host") == host and not _alive(owner.get("pid"))):
                who = "an unreadable lock" if owner is None else f"pid {owner.get('pid')} (no longer running)"
                warnings.warn(f"taking over the stale lock {lock} of {who}", stacklevel=3)
                lock.unlink(missing_ok=True)
                continue
            raise ValueError(f"{path} is in use by pid {owner.get('pid')} on {owner.get('host')} (lock file {lock}); "
                             f"wait for it to finish or use another --out") from None
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps({"pid": os.getpid(), "host": host}))
        return
    raise ValueError(f"cannot take the lock {lock}: another process keeps creating it")


def _unlock(path: Path) -> None:
    owner = _owner(path / LOCK)
    if owner is not None and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        (path / LOCK).unlink(missing_ok=True)


def _owner(lock: Path) -> dict | None:
    try:
        owner = json.loads(lock.read_text())
    except FileNotFoundError:
        return {}  # released between our attempt and this read: not stale, retry
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# on resume: fields that say how to run, not what (never compared), and fields safe to change mid-run
IGNORED_ON_RESUME = frozenset({"resume", "overwrite", "override_config", "out_dir"})
SAFE_ON_RESUME = frozenset({"steps", "eval_every", "checkpoint_every", "progress", "device", "parallel"})


def resume_changes(saved: dict, current, override: bool = False) -> list[str]:
    """Compare the config dataclass ``current`` with ``saved`` (``asdict`` of the config the run was written
    with) field by field; ValueError listing the differences unless each is in ``SAFE_ON_RESUME`` or
    ``override``; returns the differences as ``"name old -> new"``."""
    from rnnzoo.config_args import from_dict, leaves

    try:
        old = {f.name: v for _, f, _, v in leaves(from_dict(type(current), saved))}
    except (TypeError, ValueError) as e:
        raise ValueError(f"the saved run's config cannot be read as {type(current).__name__}: {e}") from None
    new = {f.name: v for _, f, _, v in leaves(current)}
    diff = {k: (old.get(k), v) for k, v in new.items() if k not in IGNORED_ON_RESUME and old.get(k) != v}
    text = [f"{k} {a!r} -> {b!r}" for k, (a, b) in sorted(diff.items())]
    unsafe = [t for t, k in zip(text, sorted(diff)) if k not in SAFE_ON_RESUME]
    if unsafe and not override:
        raise ValueError(f"settings differ from the run being resumed: {', '.join(unsafe)}; resume without them to "
                         f"keep the saved settings, or pass --override-config to apply them")
    return text


def truncate_metrics(path: str | os.PathLike, step: int) -> int:
    """Keep the records of ``path`` (metrics.jsonl) up to ``step``, dropping later and damaged lines (what a
    run killed after its last checkpoint wrote); returns how many lines were dropped."""
    from rnnzoo.io import atomic_write_bytes

    path = Path(path)
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_bytes().splitlines():
        try:
            record = json.loads(line)
            ok = isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step
        except ValueError:
            ok = False
        if ok:
            kept.append(line + b"\n")
        else:
            dropped += 1
    if dropped:
        atomic_write_bytes(path, b"".join(kept))
    return dropped


__all__ = ["Run", "open_run", "check_run_dir", "check_writable", "resume_changes", "holds_run", "remove_temp_files", "truncate_metrics"]
