"""Two-process FSDP training (fully_shard, gloo on loopback) equals one process on the same global batch, and
a sharded run killed after a checkpoint resumes exactly (fsdp_worker.py does the distributed work)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.train.checkpoint import load_checkpoint, read_sidecar

WORKER = Path(__file__).with_name("fsdp_worker.py")
ROOT = WORKER.parents[2]


def launch(tmp_path: Path, world: int = 2) -> dict:
    """Run the worker on ``world`` processes over a file store (no port to choose); its runs.json."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    if Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    procs = []
    for rank in range(world):
        with open(tmp_path / f"rank{rank}.log", "w") as log:
            procs.append(subprocess.Popen([sys.executable, str(WORKER), str(rank), str(world),
                                           str(tmp_path / "rendezvous"), str(tmp_path)],
                                          env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 240  # a hang fails instead of blocking the suite (it takes 40-70 s loaded)
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
    logs = "\n".join((tmp_path / f"rank{r}.log").read_text()[-3000:] for r in range(world))
    assert all(p.returncode == 0 for p in procs), logs
    return json.loads((tmp_path / "runs.json").read_text())


def close(a: dict, b: dict, **tol) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(torch.tensor(a[k]), torch.tensor(b[k]), **tol, msg=lambda m, k=k: f"{k}: {m}")


# Default suite (40-70 s on the shared 2-core machine at load average 13-40, mostly starting two interpreters that
# import torch; four short runs): sharded training must be checked in CI.
def test_fsdp_equals_one_process_and_resumes_exactly(tmp_path):
    from tests.train.fsdp_worker import record, trainer

    single = trainer("ddp")  # one process: nothing to share
    single.fit()
    one = json.loads(json.dumps(record(single)))  # keys as the workers' JSON has them
    runs = launch(tmp_path)
    ddp, fsdp, resumed = runs["ddp"], runs["fsdp"], runs["resumed"]
    assert one["world_size"] == 1 and not one["sharded"]
    assert fsdp["world_size"] == 2 and fsdp["sharded"] and not ddp["sharded"]
    assert list(fsdp["losses"]) == [str(s) for s in range(1, 9)]
    # the same sums over another order of additions (reduce-scatter, two half batches): float32 rounding only
    close(fsdp["losses"], one["losses"], rtol=1e-5, atol=1e-6)
    close(fsdp["weights"], one["weights"], rtol=1e-4, atol=1e-5)
    close(fsdp["losses"], ddp["losses"], rtol=1e-5, atol=1e-6)
    assert one["losses"]["8"] < one["losses"]["1"]  # it trained, so equal curves are not trivially equal
    # the resumed run repeats the uninterrupted one's arithmetic on the same shards: bit for bit
    assert list(resumed["losses"]) == ["5", "6", "7", "8"]
    assert resumed["losses"] == {s: v for s, v in fsdp["losses"].items() if int(s) > 4}
    assert resumed["weights"] == fsdp["weights"]
    # the sharded run's checkpoint is the single-process format: it loads into an unsharded model
    assert read_sidecar(tmp_path / "run")["step"] == 8
    model = LanguageModel(LMConfig(16, 16, 2, "gru"))
    load_checkpoint(tmp_path / "run", model)
    assert model.head.weight is model.embed.weight
    assert {k: v.flatten().tolist() for k, v in model.state_dict().items()} == fsdp["weights"]
