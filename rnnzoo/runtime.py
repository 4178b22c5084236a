"""Process-wide CPU settings that the numbers in docs/speed.md depend on.

``keep_freed_memory``: glibc's malloc serves blocks above its mmap threshold (at most 32 MiB) by mmap and
unmaps them on free, and trims freed memory off the heap top, so the next tensor of that size is
page-faulted and zeroed again, page by page. The chunked forms allocate many tensors of tens of MiB per
call. On the 2-core benchmark machine a fresh 64 MiB tensor costs 33 ms to first touch (16,385 minor page
faults) against 2.7 ms to refill (docs/notes/2026-11-speed-history.md shows the effect on each op).
``mallopt(M_MMAP_MAX, 0)`` and ``mallopt(M_TRIM_THRESHOLD, max)`` (the environment variables
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...``) serve every block from the heap and never give freed
memory back, so the process keeps its peak resident memory. jemalloc or tcmalloc preloaded (``LD_PRELOAD``)
do the same job differently. (Raising ``M_TOP_PAD`` alone does not do it: it switches off glibc's dynamic
mmap threshold, and then every block above 128 KiB is mmapped and faulted afresh.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc malloc.h


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory mapped for reuse (see module docstring). Returns False where it cannot
    (not Linux/glibc); the setting lasts for the process."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
