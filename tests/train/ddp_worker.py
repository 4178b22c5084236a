"""Trains a tiny LM for a few steps and writes the loss curve and final weights' sum to argv[1] (rank 0).
Run directly (one process) or under ``python -m torch.distributed.run --nproc-per-node 2``."""

import json
import sys

import torch

from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.tasks import MarkovConfig
from rnnzoo.train import TrainConfig, Trainer, lm_loss

TASK = MarkovConfig(vocab_size=16, seq_len=16)


def train(out_path: str) -> None:
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(16, 16, 1, "gru"))
    trainer = Trainer(model, TrainConfig(steps=8, lr=1e-2, warmup_steps=2, log_every=1, progress=False, grad_accum=2),
                      batch_fn=lambda step: TASK.make("train", 8, step), loss_fn=lm_loss)
    trainer.fit()
    if trainer.is_main:
        with open(out_path, "w") as f:
            json.dump({"world_size": trainer.world_size, "losses": [h["loss"] for h in trainer.history],
                       "weights": [p.detach().flatten().tolist() for p in model.parameters()]}, f)
    trainer.close()


if __name__ == "__main__":
    train(sys.argv[1])
