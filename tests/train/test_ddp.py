"""Two-process data parallel training (gloo on CPU) equals one process on the same global batch."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = WORKER.parents[2]


def run_single(tmp_path):
    from tests.train.ddp_worker import train

    train(str(tmp_path / "single.json"))
    return json.loads((tmp_path / "single.json").read_text())


def _descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [p for c in map(int, children) for p in (c, *_descendants(c))]


def run(tmp_path, name, launcher):
    out = tmp_path / f"{name}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    if Path("/sys/class/net/lo").exists():  # gloo on the loopback device: not whatever the hostname resolves to
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    # A hang fails (after 180 s; alone the test takes about 15 s) instead of blocking the suite. One rank used to
    # hang at exit, deadlocked on the GIL while destroying the gloo group: see rnnzoo.train.trainer's module doc.
    log = tmp_path / f"{name}.log"
    with open(log, "w") as sink:  # a file, not a pipe: a stray worker holding a pipe open would block us
        proc = subprocess.Popen([sys.executable, *launcher, str(WORKER), str(out)], env=env, text=True,
                                stdout=sink, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            for pid in [proc.pid, *_descendants(proc.pid)]:  # torchrun starts its workers in new sessions
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
            raise AssertionError(f"torchrun did not finish in 180 s:\n{log.read_text()[-3000:]}") from None
    assert proc.returncode == 0, log.read_text()[-3000:]
    return json.loads(out.read_text())


# Runs in the default suite (about 10-40 s: torchrun plus two interpreters) because data-parallel training must be checked in CI, not only by hand.
def test_two_processes_match_one_process_on_the_same_global_batch(tmp_path):
    single = run_single(tmp_path)
    ddp = run(tmp_path, "ddp", ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"])
    assert single["world_size"] == 1 and ddp["world_size"] == 2
    assert len(ddp["losses"]) == len(single["losses"]) == 8
    torch.testing.assert_close(torch.tensor(ddp["losses"]), torch.tensor(single["losses"]), rtol=1e-4, atol=1e-5)
    for a, b in zip(ddp["weights"], single["weights"]):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), rtol=1e-4, atol=1e-5)
    assert single["losses"][-1] < single["losses"][0]  # it trained, so equal curves are not trivially equal


def test_shard_splits_rows_contiguously_and_refuses_uneven_batches():
    from rnnzoo.train.trainer import _shard

    x, y = torch.arange(12).view(6, 2), torch.arange(6)
    a, b = _shard((x, y), 1, 3)
    assert torch.equal(a, x[2:4]) and torch.equal(b, y[2:4])
    with pytest.raises(ValueError, match="6 rows does not divide over 4"):
        _shard(x, 0, 4)
