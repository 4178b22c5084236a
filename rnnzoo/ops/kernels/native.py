"""The build of the optional compiled CPU kernels (``csrc/*.c``): built on first use with the system C compiler
and loaded by ctypes: no build step at install, no Python headers, no torch extension toolchain (a plain C file
compiles in about a second).

``load(name)`` returns the ctypes library, or None where no kernel can be had: no C compiler, a failed build,
or ``RNNZOO_NATIVE=0`` in the environment. ``available(name, *tensors)`` adds that the tensors are CPU
float32/float64; callers then take the pure-PyTorch path otherwise (the reference is also the fallback).
``require(name, *tensors)`` raises instead, naming why.

Builds land in ``$RNNZOO_CACHE`` (default ``~/.cache/rnnzoo``) under a name that hashes the source, the
shared headers, the compiler and the CPU (``-march=native``), written to a temporary file and renamed into
place, so concurrent first uses never load a half-written library. An unwritable cache, like a missing
compiler, means no kernel and the PyTorch modes.

``run_parallel(fn, total)`` splits channels [0, total) into one contiguous range per torch thread and runs
``fn(c0, c1, i)`` on a thread pool; ctypes releases the GIL for the duration of each C call.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import torch

_SRC = Path(__file__).parent / "csrc"
_BASE_FLAGS = ["-O3", "-fPIC", "-shared"]
# tried in turn: gcc and clang on x86 take -march=native; Apple clang before 15 on arm64 only -mcpu=native
_ARCH_FLAGS = (["-march=native"], ["-mcpu=native"], [])


def _cache_dir() -> Path:
    return Path(os.environ.get("RNNZOO_CACHE") or Path.home() / ".cache" / "rnnzoo") / "native"


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def _cpu_id() -> bytes:
    """What -march=native compiles for: a cache shared by machines (a home directory on NFS) must not hand
    one CPU's build to another, where an instruction it lacks would kill the process."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()} {flags}".encode()


def _compile(cc: str, src: Path, out: str) -> str:
    """Builds src into out with the first arch flags the compiler takes; returns "" or why it failed."""
    said = ""
    for arch in _ARCH_FLAGS:
        try:
            proc = subprocess.run([cc, *_BASE_FLAGS, *arch, str(src), "-o", out, "-lm"], capture_output=True,
                                  text=True)
        except OSError as e:  # CC names no runnable program
            return f"could not run the C compiler {cc!r}: {e}"
        if proc.returncode == 0:
            return ""
        output = proc.stderr.strip()[-500:] or "no output"
        said = f"{cc} failed to build {src.name} (exit code {proc.returncode}): {output}"
    return said


@lru_cache(maxsize=None)
def _build(name: str) -> tuple[ctypes.CDLL | None, str]:
    """-> (library or None, why not). The answer holds for the process (a failed build is not retried)."""
    if os.environ.get("RNNZOO_NATIVE", "1") == "0":
        return None, "RNNZOO_NATIVE=0 is set"
    cc = _compiler()
    if cc is None:
        return None, "no C compiler found (set CC, or install gcc or clang)"
    src = _SRC / f"{name}.c"
    # every shared header by name and content: an edit of any, or text moved from one to another, rebuilds
    headers = b"".join(h.name.encode() + b"\0" + h.read_bytes() + b"\0" for h in sorted(_SRC.glob("*.h")))
    flags = repr((_BASE_FLAGS, _ARCH_FLAGS, cc)).encode()
    key = hashlib.sha256(src.read_bytes() + headers + flags + _cpu_id()).hexdigest()[:16]
    lib = _cache_dir() / f"{name}-{key}.so"
    if not lib.exists():
        tmp = None
        try:
            lib.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".so.tmp", dir=lib.parent)
            os.close(fd)
            failed = _compile(cc, src, tmp)
            if failed:
                return None, failed
            os.replace(tmp, lib)
        except OSError as e:  # the cache cannot be written (read-only or missing home directory)
            return None, f"could not build into {lib.parent}: {e} (set RNNZOO_CACHE to a writable directory)"
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
    try:
        return ctypes.CDLL(str(lib)), ""
    except OSError as e:
        return None, f"could not load {lib}: {e}"


def load(name: str) -> ctypes.CDLL | None:
    """The compiled kernel library ``csrc/<name>.c``, or None where none can be had (see module docstring)."""
    return _build(name)[0]


def _on_cpu(tensors) -> bool:
    return all(t is None or (t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64)) for t in tensors)


def _traced(tensors) -> bool:
    """Whether these tensors are being traced (torch.compile, torch.export, fx: fake or functional tensor
    subclasses with no data), where a ctypes call on their data pointers cannot run."""
    return torch.compiler.is_compiling() or any(
        t is not None and type(t) not in (torch.Tensor, torch.nn.Parameter) for t in tensors)


def available(name: str, *tensors: torch.Tensor | None) -> bool:
    """Whether the compiled kernel ``name`` can run on these tensors (CPU, float32/float64, library built, not
    being traced by torch.compile/export: the PyTorch fallback is what a tracer can see through)."""
    return _on_cpu(tensors) and not _traced(tensors) and load(name) is not None


def require(name: str, *tensors: torch.Tensor | None) -> ctypes.CDLL:
    """The library of kernel ``name``; raises, naming why, unless it can run on these tensors."""
    if not _on_cpu(tensors):
        found = sorted({f"{t.device.type} {t.dtype}" for t in tensors if t is not None})
        raise ValueError(f"mode='kernel' runs on CPU float32/float64 tensors only, got {found}; "
                         "use mode='chunk' (or 'auto') elsewhere")
    lib, why = _build(name)
    if lib is None:
        raise RuntimeError(f"the compiled {name} kernel is unavailable: {why}; use the PyTorch modes instead")
    return lib


def function(lib: ctypes.CDLL, name: str, dtype: torch.dtype):
    """The entry point ``<name>_f32`` or ``<name>_f64`` for tensors of ``dtype``."""
    return getattr(lib, f"{name}_{'f32' if dtype == torch.float32 else 'f64'}")


def args(*xs) -> list:
    """ctypes arguments: tensors as data pointers (None as NULL), floats as double, ints and bools as int64."""
    return [ctypes.c_void_p(None if x is None else x.data_ptr()) if x is None or isinstance(x, torch.Tensor)
            else ctypes.c_double(x) if isinstance(x, float) else ctypes.c_int64(int(x)) for x in xs]


@lru_cache(maxsize=None)
def _pool(pid: int) -> ThreadPoolExecutor:
    """One pool per process: a forked child (a DataLoader worker) inherits the parent's pool without its
    threads, and work submitted there would never run. Threads start as work needs them, up to the CPU
    count or torch's thread count, whichever is larger."""
    return ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, torch.get_num_threads()),
                              thread_name_prefix="rnnzoo-native")


def run_parallel(fn, total: int) -> int:
    """Runs fn(c0, c1, i) over contiguous ranges covering [0, total), one per worker i; returns the number
    of workers used (callers size per-worker buffers with ``workers(total)`` first)."""
    n = workers(total)
    bounds = [total * i // n for i in range(n + 1)]
    if n == 1:
        fn(0, total, 0)
        return 1
    pool = _pool(os.getpid())
    for f in [pool.submit(fn, bounds[i], bounds[i + 1], i) for i in range(n)]:
        f.result()
    return n


def rows(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """x [..., d] -> (x, M, s) such that row i of x viewed as [rows, d] starts (i // M) * s + (i % M) * d elements
    after x's first: the addressing of the row-wise kernels (norms), which reads the heads of one piece of a
    fused projection (``p[..., a:b].view(..., H, d)``) in place. Other layouts come back as a contiguous copy."""
    d = x.shape[-1]
    if x.stride(-1) == 1 or d == 1:
        m, i = 1, x.dim() - 2
        while i >= 0 and (x.shape[i] == 1 or x.stride(i) == d * m):
            m, i = m * x.shape[i], i - 1
        lead = [(n, st) for n, st in zip(x.shape[:i + 1], x.stride()[:i + 1]) if n != 1]
        if not lead:
            return x, m, m * d
        if all(st == lead[j + 1][1] * lead[j + 1][0] for j, (_, st) in enumerate(lead[:-1])):
            return x, m, lead[-1][1]
    x = x.contiguous()
    return x, max(x.numel() // max(d, 1), 1), d


def workers(total: int) -> int:
    return max(1, min(torch.get_num_threads(), total))
