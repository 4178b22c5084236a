"""Training: one Trainer, optimiser builders, atomic I/O, checkpoints."""

from rnnzoo.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnnzoo.train.optim import build_optimizer, param_groups, warmup_cosine
from rnnzoo.train.trainer import RESUME_FIELDS, TrainConfig, Trainer, lm_loss

__all__ = ["Trainer", "TrainConfig", "RESUME_FIELDS", "lm_loss", "build_optimizer", "param_groups", "warmup_cosine",
           "CheckpointError", "load_checkpoint", "save_checkpoint"]
