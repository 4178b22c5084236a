"""Classification of UCR/UEA series: a model trained on the archive's train split for a fixed number of
steps (the small train sets leave nothing to hold out) and scored on its test split.

```python
result = classify(ClassifyConfig(data="gunpoint", model=TSModelConfig(model="lstm")))
result["test"]   # {"accuracy": ...}; result["published_1nn"]: the UCR table's 1-NN Euclidean accuracy
```

Inputs are standardised per channel with the mean and std of the training cases only; the ``1nn``
baseline reads the files' values unchanged, as the UCR table does (its numbers match that table).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from rnnzoo.apps.timeseries.baselines import nearest_neighbour
from rnnzoo.apps.timeseries.data import CLASSIFY_SETS, Labelled, load_labelled
from rnnzoo.apps.timeseries.fit import fit
from rnnzoo.apps.timeseries.metrics import accuracy
from rnnzoo.apps.timeseries.models import CLASSIFY_BASELINES, FORECAST_BASELINES, TSModelConfig, build_model
from rnnzoo.apps.timeseries.splits import Scaler
from rnnzoo.config_args import option
from rnnzoo.provenance import provenance
from rnnzoo.rundir import open_train_run, write_results
from rnnzoo.train import TrainConfig


def classify_train() -> TrainConfig:
    """AdamW at 3e-3, 300 steps of 16 cases with warm-up and cosine decay; one evaluation, at the end."""
    return TrainConfig(steps=300, lr=3e-3, weight_decay=1e-4, warmup_steps=20, log_every=25)


@dataclass
class ClassifyConfig:
    model: TSModelConfig = option(factory=TSModelConfig)
    train: TrainConfig = option(factory=classify_train)
    data: str = option("gunpoint", f"shipped UCR/UEA set from the aeon wheel: {', '.join(CLASSIFY_SETS)}; "
                                   "ignored when ts is set")
    ts: str | None = option(None, "path prefix of a UCR .ts pair <ts>_TRAIN.ts / <ts>_TEST.ts to use instead")
    batch_size: int = option(16, "cases per step")

    def __post_init__(self) -> None:
        if self.model.model in FORECAST_BASELINES + ("arnet",):
            raise ValueError(f"{self.model.model!r} is a forecaster; the classification baseline is "
                             f"{CLASSIFY_BASELINES[0]!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.train.resume:
            raise ValueError("classification runs are short and cannot be resumed; start again with overwrite")


def load_data(config: ClassifyConfig) -> Labelled:
    return load_labelled(None if config.ts else config.data, ts=config.ts)


def classify(config: ClassifyConfig, data: Labelled | None = None) -> dict:
    """Run ``config`` (on ``data``, default ``load_data(config)``) and return the results dict, also written
    to ``train.out_dir`` when set."""
    with open_train_run(config.train) as run:
        data = load_data(config) if data is None else data
        start = time.perf_counter()
        result = {"task": "classify", "data": data.name, "source": data.source, "model": config.model.model,
                  "seed": config.train.seed, "classes": len(data.classes), "train_cases": len(data.x_train),
                  "test_cases": len(data.x_test), "length": data.x_train.shape[1],
                  "channels": data.x_train.shape[2],
                  "published_1nn": CLASSIFY_SETS.get(data.name, (None, None))[1]}
        if config.model.baseline:
            pred = nearest_neighbour(data.x_train, data.y_train, data.x_test)
        else:
            pred, trained = _train(config, data, run)
            result.update(trained)
        result["test"] = {"accuracy": accuracy(pred, data.y_test)}
        result.update(wall_seconds=time.perf_counter() - start, config=dataclasses.asdict(config),
                      provenance=provenance())
        if config.train.out_dir:
            write_results(config.train.out_dir, result)
        return result


def _train(config: ClassifyConfig, data: Labelled, run) -> tuple[np.ndarray, dict]:
    torch.manual_seed(config.train.seed)
    channels = data.x_train.shape[2]
    scaler = Scaler.fit(data.x_train.reshape(-1, channels))
    x_train = torch.as_tensor(scaler.transform(data.x_train), dtype=torch.float32)
    x_test = torch.as_tensor(scaler.transform(data.x_test), dtype=torch.float32)
    net = build_model(config.model, channels=channels, out=len(data.classes), period=1,
                      lookback=data.x_train.shape[1], classify=True)
    out = fit(net, x_train, torch.as_tensor(data.y_train), torch.nn.functional.cross_entropy, config.train,
              config.batch_size, None, run)
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(x_test[i:i + 256]).argmax(-1) for i in range(0, len(x_test), 256)]).numpy()
    out.update(params=sum(p.numel() for p in net.parameters()))
    return pred, out
