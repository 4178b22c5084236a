"""One rank of the two-process FSDP test: argv = rank, world size, rendezvous file, output directory.

Trains a tiny two-block LM (tied embedding in the root's shard) with ``parallel="ddp"``, then with
``parallel="fsdp"`` uninterrupted, then with fsdp killed after its step-4 checkpoint and resumed from it;
rank 0 writes each run's losses and gathered full weights to <output directory>/runs.json."""

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.tasks import MarkovConfig
from rnnzoo.train import TrainConfig, Trainer, lm_loss
from rnnzoo.train.fsdp import full_state, is_sharded

TASK = MarkovConfig(vocab_size=16, seq_len=16)
KILL_AT = 10  # the first micro-batch of step 5 (two per step): the run dies after its step-4 checkpoint


class Killed(Exception):
    pass


def trainer(parallel: str, out_dir: Path | None = None, kill_at: int | None = None, resume: bool = False) -> Trainer:
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(16, 16, 2, "gru"))

    def batch_fn(step):
        if step == kill_at:
            raise Killed
        return TASK.make("train", 8, step)

    def noisy_loss(m, batch):  # draws from the global RNG, so a resume that forgot the RNG state diverges
        loss, metrics = lm_loss(m, batch)
        return loss + 1e-3 * torch.rand(()), metrics

    cfg = TrainConfig(steps=8, lr=1e-2, warmup_steps=2, log_every=1, progress=False, grad_accum=2, parallel=parallel,
                      out_dir=None if out_dir is None else str(out_dir), checkpoint_every=2 if out_dir else 0,
                      resume=resume)
    return Trainer(model, cfg, batch_fn, noisy_loss)


def record(t: Trainer) -> dict:
    """Losses by step and the full weights {name: list} (gathered when sharded: every rank calls this)."""
    weights = full_state(t.model, t.optimizer)[0] if is_sharded(t.model) else t.model.state_dict()
    return {"world_size": t.world_size, "sharded": is_sharded(t.model),
            "losses": {h["step"]: h["loss"] for h in t.history if "loss" in h},
            "weights": {k: v.flatten().tolist() for k, v in weights.items()}}


def main(rank: int, world: int, init_file: str, out: Path) -> None:
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank))  # the Trainer joins the group set up here
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    runs = {}
    for name in ("ddp", "fsdp"):
        t = trainer(name)
        t.fit()
        runs[name] = record(t)
    try:
        trainer("fsdp", out / "run", kill_at=KILL_AT).fit()
        raise AssertionError("the run was not killed")
    except Killed:
        pass
    t = trainer("fsdp", out / "run", resume=True)
    t.fit()
    runs["resumed"] = record(t)
    if rank == 0:
        (out / "runs.json").write_text(json.dumps(runs))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
