"""Sequence parallelism (LASP-2, gloo, 4 processes on loopback) equals one process: outputs and every
parameter and initial-state gradient to 1e-5 (float32), on 4 and 2 uneven chunks, for every mixer that
declares ``sequence_parallel`` and a hybrid of linear and attention layers; chunks shorter than a short-conv
window are refused on every rank (sp_worker.py does the work)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnzoo import mixers
from rnnzoo.distributed import split_sizes, support

WORKER = Path(__file__).with_name("sp_worker.py")
ROOT = WORKER.parents[2]
SUPPORTED = [n for n in mixers.names() if getattr(mixers.get(n), "sequence_parallel", None)]


def test_sequence_parallel_equals_one_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    if Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    init = tmp_path / "rendezvous"  # a file store: no port to choose, none to collide
    procs = []
    for rank in range(4):
        with open(tmp_path / f"rank{rank}.log", "w") as log:
            procs.append(subprocess.Popen([sys.executable, str(WORKER), str(rank), "4", str(init), str(tmp_path),
                                           ",".join(SUPPORTED)], env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 120  # a hang fails instead of blocking the suite
    try:  # one rank failing leaves the others waiting in a collective: stop them all at once
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            if any(p.poll() not in (None, 0) for p in procs):
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    logs = "\n".join((tmp_path / f"rank{r}.log").read_text()[-2000:] for r in range(4))
    assert all(p.returncode == 0 for p in procs), logs
    failures = [f for r in range(4) for f in json.loads((tmp_path / f"rank{r}.json").read_text())]
    assert not failures, "\n".join(failures[:20])


def test_supported_mixers_are_the_linear_state_families_and_attention():
    assert {"gla", "retnet", "linear_attention", "mamba2", "deltanet", "attention"} <= set(SUPPORTED)
    with pytest.raises(ValueError, match="mixer 'lstm' does not support sequence parallelism"):
        support(mixers.build("lstm", 8))
    with pytest.raises(ValueError, match="mixer 'sliding_attention' does not support"):
        support(mixers.build("sliding_attention", 8))


def test_a_model_with_an_unsupported_mixer_is_refused_before_anything_changes():
    from rnnzoo.distributed import sequence_parallel
    from rnnzoo.models import LanguageModel, LMConfig

    model = LanguageModel(LMConfig(16, 8, 1, "gru"))
    with pytest.raises(ValueError, match="mixer 'gru' does not support sequence parallelism"):
        with sequence_parallel(model):
            pass
    assert "forward" not in vars(model.blocks[0].mixer)


def test_split_sizes():
    assert split_sizes(13, 4) == [4, 3, 3, 3] and sum(split_sizes(64, 3)) == 64
    with pytest.raises(ValueError, match="length 3 cannot be split into 4"):
        split_sizes(3, 4)
    assert torch.equal(torch.tensor(split_sizes(8, 2)), torch.tensor([4, 4]))
