"""Train a character tagger on standard-library source and score it on held-out files.

```python
result = train_tagger(override(TagTrainConfig(), mixer="lstm", global_context=False, steps=300))
result["test"]["macro_f1"], result["test"]["f1"]["comment"]
```
Training windows of ``seq_len`` characters are cut at random from the train split; valid and test are
scored on every character, each file cut into consecutive windows of ``seq_len`` (the last one shorter).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rnnzoo.apps.tagging.data import TAGS, encode, load_tag_data
from rnnzoo.apps.tagging.metrics import tag_metrics
from rnnzoo.apps.tagging.models import Tagger, TaggerConfig
from rnnzoo.config_args import option
from rnnzoo.provenance import provenance
from rnnzoo.rundir import open_train_run, write_results
from rnnzoo.train import TrainConfig, Trainer


@dataclass
class TagTrainConfig:
    """The model and trainer configs nested, plus the data and batching."""

    model: TaggerConfig = option(factory=TaggerConfig)
    train: TrainConfig = option(factory=lambda: TrainConfig(steps=400, lr=3e-3, weight_decay=0.0, log_every=None))
    seq_len: int = option(128, "characters per window")
    batch_size: int = option(16, "windows per step")
    train_chars: int = option(1_000_000, "characters of whole train files read")
    eval_chars: int = option(100_000, "characters of whole valid and of whole test files read")

    def __post_init__(self) -> None:
        if min(self.seq_len, self.batch_size, self.train_chars, self.eval_chars) < 1:
            raise ValueError("seq_len, batch_size, train_chars and eval_chars must be >= 1")


def windows(ids: np.ndarray, tags: np.ndarray, seq_len: int):
    """Consecutive windows covering every character: (chars [W, seq_len], tags [W, seq_len], lengths [W])."""
    n = -(-len(ids) // seq_len)
    pad = n * seq_len - len(ids)
    chars = torch.from_numpy(np.pad(ids, (0, pad))).view(n, seq_len)
    labels = torch.from_numpy(np.pad(tags, (0, pad))).view(n, seq_len)
    lengths = torch.full((n,), seq_len)
    lengths[-1] = seq_len - pad
    return chars, labels, lengths


@torch.no_grad()
def evaluate(model: Tagger, ids: np.ndarray, tags: np.ndarray, seq_len: int, chunk: int = 64) -> dict:
    model.eval()
    chars, labels, lengths = windows(ids, tags, seq_len)
    preds = torch.cat([model(c, n).argmax(-1) for c, n in zip(chars.split(chunk), lengths.split(chunk))])
    real = torch.arange(seq_len) < lengths[:, None]
    return tag_metrics(preds[real].numpy(), labels[real].numpy(), TAGS)


def train_tagger(config: TagTrainConfig | None = None) -> dict:
    """Train and return {"valid", "test" (tag_metrics), "files", ...}; also written to ``out_dir/results.json``."""
    config = config or TagTrainConfig()
    with open_train_run(config.train) as run:
        start = time.perf_counter()
        data = load_tag_data({"train": config.train_chars, "valid": config.eval_chars, "test": config.eval_chars})
        vocab, ids = encode(data)
        cfg = dataclasses.replace(config.model, vocab_size=len(vocab), num_tags=len(TAGS))
        seed, seq_len = config.train.seed, config.seq_len
        torch.manual_seed(seed)
        model = Tagger(cfg)
        train_ids, train_tags = torch.from_numpy(ids["train"]), torch.from_numpy(data.tags["train"])
        if len(train_ids) <= seq_len:
            raise ValueError(f"train split has {len(train_ids)} characters; need more than seq_len={seq_len}")

        def batch_fn(step: int):
            gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
            at = torch.randint(0, len(train_ids) - seq_len, (config.batch_size, 1), generator=gen) + torch.arange(seq_len)
            return train_ids[at], train_tags[at]

        def loss_fn(m, batch):
            chars, tags = batch
            return nn.functional.cross_entropy(m(chars).flatten(0, 1), tags.flatten()), {}

        trainer = Trainer(model, config.train, batch_fn, loss_fn, run_config=config, run=run,
                          eval_fn=lambda m: {"valid_macro_f1": evaluate(m, ids["valid"], data.tags["valid"],
                                                                        seq_len)["macro_f1"]})
        summary = trainer.fit()
        result = {"mixer": cfg.mixer, "global_context": cfg.global_context, "seed": seed,
                  "params": sum(p.numel() for p in model.parameters()), "steps": summary["steps"],
                  "train_seconds": summary["train_seconds"],
                  "valid": evaluate(model, ids["valid"], data.tags["valid"], seq_len),
                  "test": evaluate(model, ids["test"], data.tags["test"], seq_len),
                  "files": {s: len(f) for s, f in data.files.items()}, "skipped_files": data.skipped,
                  "chars": {s: len(t) for s, t in data.text.items()}}
        result["wall_seconds"] = time.perf_counter() - start
        result["config"] = dataclasses.asdict(config)
        result["provenance"] = provenance()
        if config.train.out_dir and trainer.is_main:
            write_results(config.train.out_dir, result)
        trainer.close()  # leaves the process group under torchrun, once the model is no longer used
        return result
