"""Process-wide CPU settings that the numbers in docs/speed.md depend on: torch's thread count and malloc.

Threads: torch starts one OpenMP thread per core. When some cores are busy with other work, the threads that
wait for the busy ones stall every parallel region. On the 2-core machine at a load average of 7.8,
``rnnzoo bench --suite quick --mixers lstm,mamba --steps 100`` took 68 s wall (26 s user) with 1 thread and
377 s wall (169 s user) with 2. ``default_threads`` therefore uses the cores that are not busy
(``OMP_NUM_THREADS`` wins when set), capped at 4 so that jobs sharing a big machine do not each take all of
it. The bench runs one thread per process (``BENCH_THREADS``), whatever the load: results depend on the
thread count (float sums are split differently; lstm's MQAR accuracy after those 100 steps was 0.549 with 1
thread and 0.533 with 2), so a fixed count keeps a suite's numbers reproducible, and ``--shard i/n``
processes use the other cores.

``keep_freed_memory``: glibc's malloc serves blocks above its mmap threshold (at most 32 MiB) by mmap and
unmaps them on free, and trims freed memory off the heap top, so the next tensor of that size is
page-faulted and zeroed again, page by page. The chunked forms allocate many tensors of tens of MiB per
call. On the 2-core benchmark machine a fresh 64 MiB tensor costs 33 ms to first touch (16,385 minor page
faults) against 2.7 ms to refill (docs/notes/2026-11-speed-history.md shows the effect on each op).
``mallopt(M_MMAP_MAX, 0)`` and ``mallopt(M_TRIM_THRESHOLD, max)`` (the environment variables
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...``) serve every block from the heap and never give freed
memory back, so the process keeps its peak resident memory. jemalloc or tcmalloc preloaded (``LD_PRELOAD``)
do the same job differently. The CLI calls it at start and ``Trainer`` on construction, so training loops the
library runs get it without the user knowing; users of bare modules in their own loop call it themselves.
(Raising ``M_TOP_PAD`` alone does not do it: it switches off glibc's dynamic
mmap threshold, and then every block above 128 KiB is mmapped and faulted afresh.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

import torch

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc malloc.h
_kept = False  # keep_freed_memory() has set both mallopt options in this process


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory mapped for reuse (see module docstring). Returns False where it cannot
    (not Linux/glibc); the setting lasts for the process (``freed_memory_kept()`` says whether it is on)."""
    global _kept
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    _kept = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _kept


def freed_memory_kept() -> bool:
    """Whether ``keep_freed_memory`` has taken effect in this process."""
    return _kept


MAX_DEFAULT_THREADS = 4
BENCH_THREADS = 1  # per bench process; see the module docstring


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set; else the cores not busy (available cores minus the 1-minute load
    average, rounded), between 1 and ``MAX_DEFAULT_THREADS``."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    cores = available_cores()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(MAX_DEFAULT_THREADS, cores, cores - round(load)))


def set_threads(n: int | None) -> int:
    """Set torch's intra-op thread count (None: ``default_threads()``); returns the count set."""
    if n is None:
        n = default_threads()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"--threads must be an integer >= 1, got {n!r}")
    torch.set_num_threads(n)
    return n
