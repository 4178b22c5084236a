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


@pytest.mark.parametrize("cores,load,expected", [(2, 0.0, 2), (2, 1.2, 1), (2, 3.6, 1), (16, 0.3, 4), (16, 13.0, 3),
                                                 (1, 0.0, 1)])
def test_default_threads_are_the_cores_not_busy_at_most_four(monkeypatch, cores, load, expected):
    from rnnzoo import runtime

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runtime, "available_cores", lambda: cores)
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (load, load, load))
    assert runtime.default_threads() == expected


def test_omp_num_threads_wins_and_set_threads_checks_its_value(monkeypatch):
    import torch

    from rnnzoo import runtime

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert runtime.default_threads() == 3
    before = torch.get_num_threads()
    try:
        assert runtime.set_threads(None) == 3 and torch.get_num_threads() == 3
        assert runtime.set_threads(1) == 1 and torch.get_num_threads() == 1
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="--threads must be an integer >= 1"):
                runtime.set_threads(bad)
    finally:
        torch.set_num_threads(before)


LOOPS = {
    "trainer": """
from rnnzoo.models.lm import LanguageModel, LMConfig
from rnnzoo.train import TrainConfig, Trainer, lm_loss
import torch
model = LanguageModel(LMConfig(vocab_size=8, mixer="gru", n_layers=1, d_model=8))
Trainer(model, TrainConfig(steps=1), lambda step: (torch.zeros(2, 5, dtype=torch.long),) * 2, lm_loss)
""",
    "bench": """
from rnnzoo.bench import Suite, TaskRun, run_suite
import tempfile
suite = Suite(name="tiny", mixers=("gru",), tasks=(TaskRun("parity:seq_len=6:test_lens=(6,)", steps=1, batch_size=2),),
              d_models=(8,), seeds=(0,), n_layers=1, test_n=4)
run_suite(suite, tempfile.mkdtemp(), progress=False)
""",
}


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_the_loops_the_library_runs_keep_freed_memory(loop):
    script = ("from rnnzoo.runtime import freed_memory_kept\nassert not freed_memory_kept()\n" + LOOPS[loop]
              + "assert freed_memory_kept()\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr
