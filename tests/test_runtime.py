"""rnnzoo.runtime: with glibc keeping freed memory mapped, re-allocated big tensors stop being page-faulted."""

import platform
import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys, torch
from rnnzoo.runtime import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
n = 16 * 2**20  # 64 MiB of float32: above glibc's largest dynamic mmap threshold (32 MiB)
for _ in range(16):  # warm-up: the heap settles after a few rounds
    torch.empty(n).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    torch.empty(n).fill_(1.0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode):
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_reallocating_a_big_tensor_stops_faulting_pages():
    default, kept = _faults("default"), _faults("keep")
    assert default >= 4 * 16_000  # glibc unmaps the block on free: every allocation faults its 16,384 pages
    assert kept < default / 8, (kept, default)
