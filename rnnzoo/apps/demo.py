"""The demo job: train a small LanguageModel with any mixer on the Markov-chain task and report
its test loss against the two reference points (unigram entropy, best possible)."""

from __future__ import annotations

import torch

from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.tasks import MarkovConfig
from rnnzoo.train import TrainConfig, Trainer, lm_loss


def train_markov_lm(mixer: str = "lstm", steps: int = 300, d_model: int = 64, n_layers: int = 2,
                    batch_size: int = 32, lr: float = 3e-3, seed: int = 0, progress: bool = True,
                    task: MarkovConfig | None = None, **mixer_options) -> dict:
    """Train and evaluate; returns {"mixer", "test_loss", "unigram_entropy", "best_loss", "params", ...}."""
    task = task or MarkovConfig()
    torch.manual_seed(seed)
    model = LanguageModel(LMConfig(task.vocab_size, d_model, n_layers, mixer, mixer_options))
    test = task.make("test", 256, seed)

    def eval_fn(m):
        loss, metrics = lm_loss(m, test)
        return {"loss": float(loss), **metrics}

    trainer = Trainer(model, TrainConfig(steps=steps, lr=lr, warmup_steps=min(50, steps // 10), seed=seed,
                                         progress=progress, log_every=max(1, steps // 20)),
                      batch_fn=lambda step: task.make("train", batch_size, seed * 1_000_003 + step),
                      loss_fn=lm_loss, eval_fn=eval_fn)
    summary = trainer.fit()
    unigram, best = task.entropies()
    final = summary["evals"][-1]["eval"]
    trainer.close()  # leaves the process group under torchrun, once the model is no longer used
    return {"mixer": mixer, "test_loss": final["loss"], "test_acc": final["acc"], "unigram_entropy": unigram,
            "best_loss": best, "params": sum(p.numel() for p in model.parameters()),
            "state_size": model.state_size, "train_seconds": summary["train_seconds"], "steps": summary["steps"]}
