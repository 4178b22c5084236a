"""File writes for results, checkpoints and logs: a reader never sees a half-written file or record.

Files honour the process umask (as ``open`` does), and an ``OSError`` (disk full, permission denied) is
re-raised naming the file it concerns.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, then os.replace over ``path``."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600 whatever the umask
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        _discard(tmp)
        raise OSError(e.errno, f"cannot write {path}: {e.strerror}") from None
    except BaseException:
        _discard(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append ``record`` as one JSON line on an ``O_APPEND`` file, then fsync: complete or not at all.

    Short writes are continued until the line is whole; if a write fails part-way (disk full), the bytes
    already written are truncated away and the error is raised. A partial last line left by a writer that
    was killed is first terminated with a newline, so it stays one damaged line (readers skip it) instead
    of gluing onto this record. Each line is one ``os.write`` unless the kernel writes short, so lines of
    concurrent appenders do not interleave."""
    path = Path(path)
    data = (json.dumps(record, sort_keys=True) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)  # the umask applies
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise OSError(e.errno, f"cannot write {path}: {e.strerror or e}") from None


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    start = os.lseek(fd, 0, os.SEEK_CUR) - written  # O_APPEND: where our first write landed
    try:
        while written < len(data):
            n = os.write(fd, data[written:])
            if n <= 0:
                raise OSError(f"write returned {n} with {len(data) - written} bytes of the record left")
            written += n
    except BaseException:
        os.ftruncate(fd, start)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _discard(tmp: str | None) -> None:
    if tmp is not None and os.path.exists(tmp):
        os.unlink(tmp)


def read_jsonl(path: str | os.PathLike, warn: Callable[[str], None]) -> list[dict]:
    """The JSON objects of a JSONL file, one per line; a damaged line (a killed writer's partial record, a
    hand edit) is skipped and reported through ``warn`` as ``file:line: ...``. A missing file reads as []."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                warn(f"{path}:{number}: skipping a damaged line ({e}): {line[:60]!r}")
                continue
            if not isinstance(record, dict):
                warn(f"{path}:{number}: skipping a line that is not a JSON object: {line[:60]!r}")
                continue
            records.append(record)
    return records
