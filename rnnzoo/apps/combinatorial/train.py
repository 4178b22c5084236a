"""Train and evaluate a sequence-to-sequence / pointer model on one combinatorial task.

```python
from rnnzoo.config_args import override     # fields by name, keeping the app's defaults
r = train_seq2seq(override(Seq2SeqTrainConfig(), task="convex_hull", n=10, encoder="lstm", decoder="lstm", beams=4,
                          out_dir="runs/hull"))
r["eval"]["10"]["beam"]["area_coverage"]
model, cfg = load_model("runs/hull")
evaluate(model, cfg, 10, order="ascending", beams=4)       # the same test instances, inputs sorted by x
```

Training batches are a pure function of (seed, step) with the size n drawn per batch from [n_min, n];
evaluation uses fixed instances (seed + 1,000,003) per size, decoded greedily (all of them) and by beam
search (the first ``beam_eval_size``). Metrics: ``exact`` (the whole output sequence right; for the hull, the
same vertex set forming a simple polygon), ``area_coverage`` (hull: area of the predicted polygon over the
true hull's, 0 when it is not a simple polygon), ``tour_length`` / ``optimal_length`` / ``gap`` (tsp: mean
predicted over mean optimal length, minus 1; ``best_of_beam`` picks the shortest of the beam's tours).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from torch import nn

from rnnzoo.apps.combinatorial import data
from rnnzoo.apps.combinatorial.solvers import check_points, is_simple_polygon, polygon_area, tour_length
from rnnzoo.config_args import from_dict, option
from rnnzoo.labels import IGNORE
from rnnzoo.models.generate import decode, search_beams
from rnnzoo.models.seq2seq import END, Seq2Seq, Seq2SeqConfig, Seq2SeqDecoder
from rnnzoo.provenance import provenance
from rnnzoo.rundir import open_train_run, write_results
from rnnzoo.train import TrainConfig, Trainer
from rnnzoo.train.device import model_device
from rnnzoo.validate import check_types

EVAL_SEED = 1_000_003
# smallest instance with something to learn: 2 numbers to sort, 3 points for a hull or a tour
MIN_N = {"sort": 2, "reverse": 1, "convex_hull": 3, "tsp": 3}


@dataclass
class Seq2SeqTrainConfig:
    """The model and trainer configs nested, plus the task, its sizes and the evaluation. The model's source
    and head fields (``src_vocab``, ``in_features``, ``tgt_vocab``, ``allow_end``, ``max_len``) follow from
    the task and ``n`` and are set here."""

    model: Seq2SeqConfig = option(factory=Seq2SeqConfig)
    train: TrainConfig = option(factory=lambda: TrainConfig(
        steps=2000, lr=2e-3, weight_decay=0.0, betas=(0.9, 0.999), warmup_steps=None, eval_every=None,
        log_every=50))
    task: str = option("sort", "combinatorial task", choices=data.TASKS)
    n: int = option(10, "instance size (the largest trained and accepted)")
    n_min: int | None = option(None, "smallest training/eval size; None: n")
    batch_size: int = option(128, "instances per training batch")
    beams: int = option(4, "beam width of the final evaluation")
    eval_size: int = option(1000, "greedy-decoded evaluation instances per size")
    beam_eval_size: int = option(200, "of those, also beam-decoded")
    train_order: str = option("random", "input order of the training instances (set tasks, by first coordinate)",
                              choices=data.ORDERS)
    eval_orders: tuple[str, ...] = option(("random",), f"comma-separated input orders evaluated, of {data.ORDERS}")

    def __post_init__(self) -> None:
        data.check_task(self.task)
        check_types(self)
        if self.n < MIN_N[self.task]:
            raise ValueError(f"n must be >= {MIN_N[self.task]} for {self.task}, got n={self.n}")
        if self.task == "tsp" and self.n > 12:
            raise ValueError(f"tsp targets are exact (Held-Karp) only up to n=12, got n={self.n}")
        if not 1 <= self.smallest_n <= self.n:
            raise ValueError(f"need 1 <= n_min <= n, got n_min={self.n_min}, n={self.n}")
        if self.smallest_n < MIN_N[self.task]:
            raise ValueError(f"n_min must be >= {MIN_N[self.task]} for {self.task}, got n_min={self.smallest_n}")
        if self.beams < 1:
            raise ValueError(f"beams must be >= 1, got {self.beams}")
        for order in (self.train_order, *self.eval_orders):
            if order not in data.ORDERS:
                raise ValueError(f"input order {order!r} is not one of {data.ORDERS}")
        if self.task == "reverse" and (self.train_order, *self.eval_orders) != ("random", "random"):
            raise ValueError("input orders apply to the set tasks (sort, convex_hull, tsp), not reverse")
        pointer = self.task in data.POINTER_TASKS
        self.model = replace(self.model, src_vocab=None if pointer else data.DIGITS,
                             in_features=data.in_features(self.task) if pointer else None,
                             tgt_vocab=None if pointer else data.DIGITS + 1, allow_end=self.task == "convex_hull",
                             max_len=self.n)

    @property
    def smallest_n(self) -> int:
        """The smallest training/eval size: ``n_min``, or ``n`` when it is None (resolved here, not stored, so
        a config copied with another ``n`` does not keep the old one)."""
        return self.n if self.n_min is None else self.n_min


def build_model(cfg: Seq2SeqTrainConfig) -> Seq2Seq:
    return Seq2Seq(cfg.model)


def seq2seq_loss(model: nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
    src, targets = batch
    logits = model(src, targets)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE)
    with torch.no_grad():
        mask = targets != IGNORE
        acc = ((logits.argmax(-1) == targets) & mask).sum() / mask.sum()
    return loss, {"acc": float(acc)}


def _tensors(task: str, src: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    src_t = torch.as_tensor(src, dtype=torch.long if task == "reverse" else torch.float32)
    return src_t, torch.as_tensor(targets, dtype=torch.long)


def predict(model: Seq2Seq, task: str, src, beams: int = 1) -> list[list[int]]:
    """Decode the answers to a batch of instances as input indices (sort order, hull, tour) or reversed
    digits. src: [B, n, features] points / numbers or [B, n] digits. beams > 1: beam search, best hypothesis."""
    data.check_task(task)
    src = np.asarray(src)
    if src.ndim < 2 or src.shape[0] == 0 or src.shape[1] == 0:
        raise ValueError(f"empty input: need a non-empty batch of non-empty instances, got shape {src.shape}")
    if task != "reverse":
        for i, inst in enumerate(src):
            check_points(inst, f"instance {i}")
    src_t = _tensors(task, src, np.zeros((len(src), 1), np.int64))[0].to(model_device(model))
    steps = data.target_len(task, src.shape[1])
    with torch.no_grad():
        if beams == 1:
            out = decode(Seq2SeqDecoder(model, src_t), steps, lambda lp: lp.argmax(-1))
        else:
            out = torch.stack([search_beams(Seq2SeqDecoder(model, src_t[i:i + 1]), steps, beams)[0][0]
                               for i in range(len(src))])
    return [_answer(task, row) for row in out.tolist()]


def _answer(task: str, row: list[int]) -> list[int]:
    if END in row:
        row = row[:row.index(END)]
    return [t - 1 for t in row]


def score(task: str, src: np.ndarray, targets: np.ndarray, answers: list[list[int]]) -> dict[str, float]:
    """Task metrics of decoded ``answers`` against exact ``targets`` (both as from ``make_batch``)."""
    truth = [_answer(task, [t for t in row if t != IGNORE]) for row in targets.tolist()]
    exact = [a == t for a, t in zip(answers, truth)]
    if task == "convex_hull":
        cover, exact = [], []
        for pts, a, t in zip(src, answers, truth):
            simple = is_simple_polygon(pts, a)
            cover.append(polygon_area(pts, a) / polygon_area(pts, t) if simple else 0.0)
            exact.append(simple and sorted(a) == sorted(t))
        return {"exact": float(np.mean(exact)), "area_coverage": float(np.mean(cover)),
                "not_simple": float(np.mean([c == 0 for c in cover]))}
    if task == "tsp":
        pred = np.array([tour_length(p, a) for p, a in zip(src, answers)])
        opt = np.array([tour_length(p, t) for p, t in zip(src, truth)])
        return {"exact": float(np.mean(np.abs(pred - opt) < 1e-9)), "tour_length": float(pred.mean()),
                "optimal_length": float(opt.mean()), "gap": float(pred.mean() / opt.mean() - 1)}
    return {"exact": float(np.mean(exact))}


def best_of_beam_tsp(model: Seq2Seq, src: np.ndarray, beams: int) -> list[list[int]]:
    """TSP: the shortest tour among the beam's hypotheses (a search over the model's candidates)."""
    src_t = torch.as_tensor(src, dtype=torch.float32, device=model_device(model))
    out = []
    with torch.no_grad():
        for i in range(len(src)):
            tokens, _ = search_beams(Seq2SeqDecoder(model, src_t[i:i + 1]), src.shape[1], beams)
            tours = [_answer("tsp", row) for row in tokens.tolist()]
            out.append(min(tours, key=lambda t: tour_length(src[i], t)))
    return out


def evaluate(model: Seq2Seq, cfg: Seq2SeqTrainConfig, n: int, order: str = "random",
             beams: int | None = None) -> dict:
    """Greedy (and, with beams > 1, beam) metrics on the fixed evaluation instances of size n."""
    src, targets = data.make_batch(cfg.task, [cfg.train.seed + EVAL_SEED, n], cfg.eval_size, n)
    if order != "random":
        src, targets = data.reorder(cfg.task, src, targets, order)
    model.eval()
    result = {"greedy": score(cfg.task, src, targets, predict(model, cfg.task, src))}
    if beams and beams > 1:
        k = min(cfg.beam_eval_size, cfg.eval_size)
        s, t = src[:k], targets[:k]
        result["beam"] = score(cfg.task, s, t, predict(model, cfg.task, s, beams))
        result["greedy_on_beam_subset"] = score(cfg.task, s, t, predict(model, cfg.task, s))
        if cfg.task == "tsp":
            result["best_of_beam"] = score(cfg.task, s, t, best_of_beam_tsp(model, s, beams))
    return result


def train_seq2seq(cfg: Seq2SeqTrainConfig) -> dict:
    """Train on ``cfg.task`` with the shared Trainer, evaluate every size in [n_min, n] and every input
    order in ``cfg.eval_orders``; writes ``results.json`` (atomically) to ``cfg.train.out_dir`` when set."""
    with open_train_run(cfg.train) as run:
        return _train_seq2seq(cfg, run)


def _train_seq2seq(cfg: Seq2SeqTrainConfig, run) -> dict:
    seed, out_dir = cfg.train.seed, cfg.train.out_dir
    torch.manual_seed(seed)
    model = build_model(cfg)

    def batch_fn(step: int):
        n = int(np.random.default_rng([seed, step, 7]).integers(cfg.smallest_n, cfg.n + 1))
        src, targets = data.make_batch(cfg.task, [seed, step], cfg.batch_size, n)
        if cfg.train_order != "random":
            src, targets = data.reorder(cfg.task, src, targets, cfg.train_order)
        return _tensors(cfg.task, src, targets)

    # the periodic (during training) evaluation: 200 instances, greedy only
    small = replace(cfg, eval_size=min(200, cfg.eval_size))

    def eval_fn(m):
        return {"exact_greedy": evaluate(m, small, cfg.n, cfg.train_order)["greedy"]["exact"]}

    trainer = Trainer(model, cfg.train, batch_fn=batch_fn, loss_fn=seq2seq_loss, eval_fn=eval_fn, run_config=cfg,
                      run=run)
    summary = trainer.fit()
    start = time.perf_counter()
    results = {}
    for order in cfg.eval_orders:
        for n in range(cfg.smallest_n, cfg.n + 1):
            key = str(n) if order == "random" else f"{n}/{order}"
            results[key] = evaluate(model, cfg, n, order, cfg.beams)
    out = {"config": asdict(cfg), "params": sum(p.numel() for p in model.parameters()),
           "train_seconds": summary["train_seconds"], "eval_seconds": time.perf_counter() - start,
           "final_loss": summary["final_loss"], "eval": results, "provenance": provenance()}
    if out_dir:
        write_results(out_dir, out)
        _save_weights(model, Path(out_dir) / WEIGHTS)
    trainer.close()  # leaves the process group under torchrun, once the model is no longer used
    return out


def load_model(out_dir: str | Path) -> tuple[Seq2Seq, Seq2SeqTrainConfig]:
    """The trained model (eval mode) and config that ``train_seq2seq`` saved in ``out_dir`` (also the flat
    config of older versions)."""
    path = Path(out_dir)
    missing = [f for f in ("results.json", WEIGHTS) if not (path / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{path} has no {' or '.join(missing)}; train with out_dir={str(path)!r} first")
    cfg = from_dict(Seq2SeqTrainConfig, json.loads((path / "results.json").read_text())["config"])
    model = build_model(cfg)
    try:
        safetensors.torch.load_model(model, path / WEIGHTS)
    except Exception as e:  # truncated/corrupt file or weights of another configuration
        raise ValueError(f"cannot load {path / WEIGHTS}: {e}") from e
    return model.eval(), cfg


WEIGHTS = "model.safetensors"


def _save_weights(model: nn.Module, path: Path) -> None:
    """safetensors weights (shared/tied tensors stored once), written to a temp file and renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    safetensors.torch.save_model(model, str(tmp))
    os.replace(tmp, path)
