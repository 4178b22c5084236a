"""Train a neural point process by maximum log-likelihood and score it against the true process.

```python
result = train_tpp(override(TPPTrainConfig(), head="nhp", mixer="lstm", process="self_correcting"))
result["test"]["ll_per_event"] - result["true"]["ll_per_event"]     # the gap to the true model (<= 0 expected)
```
The log-likelihood of a sequence runs up to its last event (no survival term after it), for the learned
models and the true one alike. Test log-likelihoods of the ``nhp`` head use ``eval_mc_samples`` Monte Carlo
points per interval with a fixed seed; ``rmtpp`` is exact.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from rnnzoo.apps.tpp.data import EventData, read_events, simulated
from rnnzoo.apps.tpp.metrics import density_predictions, prediction_grid, summarise, true_process_metrics
from rnnzoo.apps.tpp.models import TPPConfig, TPPModel
from rnnzoo.apps.tpp.simulate import PROCESSES
from rnnzoo.config_args import option
from rnnzoo.provenance import provenance
from rnnzoo.rundir import open_train_run, write_results
from rnnzoo.train import TrainConfig, Trainer


@dataclass
class TPPTrainConfig:
    """The model and trainer configs nested, plus the data and batching."""

    model: TPPConfig = option(factory=TPPConfig)
    train: TrainConfig = option(factory=lambda: TrainConfig(steps=400, lr=3e-3, weight_decay=0.0, log_every=None))
    process: str = option("hawkes", "simulated data: the true process", choices=tuple(PROCESSES))
    events: str | None = option(None, "a CSV of seq_id,time,mark instead of simulated data")
    marks: int | None = option(None, "events: mark count (marks 0..marks-1); None: from the file")
    n_sequences: int = option(500, "simulated sequences (80 / 10 / 10 % train / valid / test)")
    n_events: int = option(64, "events per simulated sequence")
    data_seed: int = option(0, "seed of the simulation (the same data for every training seed)")
    batch_size: int = option(32, "sequences per step")
    eval_mc_samples: int = option(64, "nhp: Monte Carlo points per interval for valid/test log-likelihoods")

    def __post_init__(self) -> None:
        if min(self.n_sequences, self.n_events, self.batch_size, self.eval_mc_samples) < 1:
            raise ValueError("n_sequences, n_events, batch_size and eval_mc_samples must be >= 1")
        if self.n_sequences < 10 and self.events is None:
            raise ValueError(f"n_sequences must be >= 10 to fill the valid and test splits, got {self.n_sequences}")


def load_data(config: TPPTrainConfig) -> EventData:
    if config.events is not None:
        return read_events(config.events, config.marks)
    return simulated(config.process, config.n_sequences, config.n_events, config.data_seed)


def pad(sequences) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[(times, marks)] -> gaps [B, N] float32, marks [B, N] int64 (-1 pad), mask [B, N] bool."""
    n = max(len(t) for t, _ in sequences)
    gaps, marks = torch.zeros(len(sequences), n), torch.full((len(sequences), n), -1, dtype=torch.long)
    for i, (t, m) in enumerate(sequences):
        gaps[i, : len(t)] = torch.from_numpy(np.diff(t, prepend=0.0))
        marks[i, : len(t)] = torch.from_numpy(m)
    mask = marks >= 0
    return gaps, marks.clamp(min=0), mask


@torch.no_grad()
def evaluate(model: TPPModel, sequences, mc_samples: int, grid: torch.Tensor, chunk: int = 16) -> dict[str, float]:
    model.eval()
    gen = torch.Generator().manual_seed(0)
    ll, gp, gt, mp, mt = [], [], [], [], []
    for i in range(0, len(sequences), chunk):
        gaps, marks, mask = pad(sequences[i: i + chunk])
        ll.append(model.log_likelihood(gaps, marks, mask, mc_samples, gen)[mask].double())
        h = model.encode(gaps, marks)
        rates = model.head.log_rate(h, grid.float().expand(*gaps.shape, -1)).exp().double()
        g, m = density_predictions(rates, grid)
        later = mask.clone()
        later[:, 0] = False
        gp.append(g[later]), gt.append(gaps[later]), mp.append(m[later]), mt.append(marks[later])
    return summarise(float(torch.cat(ll).mean()), *(torch.cat(a).numpy() for a in (gp, gt, mp, mt)))


def train_tpp(config: TPPTrainConfig | None = None) -> dict:
    """Train ``config.model`` and return {"valid", "test", "true" (simulated data only), ...}; also written to
    ``out_dir/results.json`` when ``train.out_dir`` is set (the directory is checked before the data is built)."""
    config = config or TPPTrainConfig()
    with open_train_run(config.train) as run:
        start = time.perf_counter()
        data = load_data(config)
        cfg = dataclasses.replace(config.model, num_marks=data.num_marks)
        seed = config.train.seed
        torch.manual_seed(seed)
        model = TPPModel(cfg)
        train = data.splits["train"]
        per_epoch = math.ceil(len(train) / config.batch_size)

        def batch_fn(step: int):
            epoch, i = divmod(step, per_epoch)
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
            return pad([train[j] for j in order[i * config.batch_size: (i + 1) * config.batch_size]])

        def loss_fn(m, batch):
            gaps, marks, mask = batch
            return -m.log_likelihood(gaps, marks, mask).sum() / mask.sum(), {}

        grid = prediction_grid(data.mean_gap())
        trainer = Trainer(model, config.train, batch_fn, loss_fn, run_config=config, run=run,
                          eval_fn=lambda m: {"valid_ll": evaluate(m, data.splits["valid"], config.eval_mc_samples,
                                                                  grid)["ll_per_event"]})
        summary = trainer.fit()
        result = {"head": cfg.head, "mixer": cfg.mixer, "seed": seed, "num_marks": cfg.num_marks,
                  "params": sum(p.numel() for p in model.parameters()), "steps": summary["steps"],
                  "train_seconds": summary["train_seconds"],
                  "integral": "closed form" if cfg.head == "rmtpp" else f"Monte Carlo, {config.eval_mc_samples} points",
                  "valid": evaluate(model, data.splits["valid"], config.eval_mc_samples, grid),
                  "test": evaluate(model, data.splits["test"], config.eval_mc_samples, grid)}
        if data.process is not None:
            result["true"] = true_process_metrics(data.process, data.splits["test"], grid)
            result["ll_gap"] = result["test"]["ll_per_event"] - result["true"]["ll_per_event"]
        result["wall_seconds"] = time.perf_counter() - start
        result["config"] = dataclasses.asdict(config)
        result["provenance"] = provenance()
        if config.train.out_dir and trainer.is_main:
            write_results(config.train.out_dir, result)
        trainer.close()  # leaves the process group under torchrun, once the model is no longer used
        return result
