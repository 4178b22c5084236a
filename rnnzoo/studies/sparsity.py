"""Sparsity in recurrent networks (Darji 2024, Investigating Sparsity in Recurrent Neural Networks; the magnitude
pruning of Narang et al. 2017, Exploring Sparsity in Recurrent Neural Networks).

One-layer character LMs (no MLP, so the recurrence holds the weights) on the standard-library corpus of ``rnnzoo
lm``, for ``lstm``, ``gru`` and the linear recurrence ``mingru``. Two ways to be sparse, at each level of
``levels`` (fraction of weights zero):

- **pruned**: the dense model trained ``steps``, then each prunable matrix cut to its largest-magnitude entries
  (one shot per level, ``torch.nn.utils.prune.l1_unstructured``'s criterion) and fine-tuned ``finetune_steps``
  with the mask held;
- **random graph**: trained from scratch for ``steps`` with a fixed Erdős–Rényi mask: hidden unit j feeds unit i
  with probability 1 - level (every gate of a unit shares its connections).

Prunable: lstm/gru the input and recurrent weights ``weight_ih``, ``weight_hh``; mingru has no recurrent matrix
(its gates read only x_t), so its input and output projections. The random graph masks ``weight_hh`` (mingru:
``in_proj``, its only map into the recurrence). Scored by bits/char on the test split.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnzoo.config_args import option
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.studies.charlm import stdlib_ids
from rnnzoo.studies.records import cost_lines, coverage, fmt_std, study_records

CLAIM = ("Magnitude pruning of the input and recurrent weights of RNNs, with fine-tuning, keeps their accuracy up "
         "to high sparsity (around 80-90% of the weights removed), and RNNs with sparse random-graph recurrent "
         "connectivity train close to dense ones at moderate sparsity.")
NAME = "sparsity"
MODELS = ("lstm", "gru", "mingru")
PRUNED = {"lstm": ("weight_ih", "weight_hh"), "gru": ("weight_ih", "weight_hh"),
          "mingru": ("in_proj.weight", "out_proj.weight")}
GRAPH = {"lstm": ("weight_hh", 4), "gru": ("weight_hh", 3), "mingru": ("in_proj.weight", 2)}  # (matrix, gate blocks)
QUICK = dict(steps=40, finetune_steps=10, levels=(0.0, 0.5, 0.9), seeds=(0,), eval_chars=4096)


@dataclass
class Config:
    quick: bool = option(False, "a few minutes: 40 steps, one seed, three levels")
    seeds: tuple[int, ...] = option((0, 1, 2), "training seeds")
    out_dir: str = option("results/studies/sparsity", "JSONL records (resumable)")
    doc: str = option("docs/studies/sparsity.md", "the study's page; its plot goes beside it")
    levels: tuple[float, ...] = option((0.0, 0.5, 0.8, 0.9, 0.95), "sparsity levels (fraction of weights zero)")
    steps: int = option(400, "training steps of the dense and random-graph models", minimum=1)
    finetune_steps: int = option(100, "fine-tuning steps after pruning", minimum=0)
    d_model: int = option(128, "model width (= hidden size)", minimum=1)
    batch_size: int = option(16, "windows per step", minimum=1)
    seq_len: int = option(64, "characters per training window", minimum=2)
    eval_chars: int = option(32768, "characters of the test split scored", minimum=64)


def build(mixer: str, vocab: int, cfg: Config) -> LanguageModel:
    return LanguageModel(LMConfig(vocab_size=vocab, d_model=cfg.d_model, n_layers=1, mixer=mixer, mlp_ratio=0.0))


def weights(model: LanguageModel, names: tuple[str, ...]) -> dict[str, torch.nn.Parameter]:
    params = dict(model.blocks[0].mixer.named_parameters())
    return {n: params[n] for n in names}


def magnitude_masks(model: LanguageModel, names: tuple[str, ...], level: float) -> dict[str, torch.Tensor]:
    """Per matrix: keep the round((1 - level) * numel) entries of largest magnitude (ties broken by position)."""
    masks = {}
    for n, w in weights(model, names).items():
        keep = w.numel() - round(level * w.numel())
        mask = torch.zeros(w.numel(), dtype=torch.bool)
        mask[w.detach().abs().flatten().argsort(descending=True, stable=True)[:keep]] = True
        masks[n] = mask.view_as(w)
    return masks


def graph_mask(model: LanguageModel, name: str, gates: int, level: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """An Erdős–Rényi mask on ``name`` [gates * n_out, n_in]: edge (i <- j) kept with probability 1 - level, shared
    by the ``gates`` row blocks of unit i."""
    w = weights(model, (name,))[name]
    edges = torch.rand(w.shape[0] // gates, w.shape[1], generator=gen) >= level
    return {name: edges.repeat(gates, 1)}


def apply(model: LanguageModel, masks: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for n, w in weights(model, tuple(masks)).items():
            w.mul_(masks[n])


def train(model: LanguageModel, ids: torch.Tensor, steps: int, cfg: Config, seed: int,
          masks: dict[str, torch.Tensor] | None = None, lr: float = 3e-3) -> None:
    """AdamW on random windows, masks re-applied after every step so pruned weights stay zero."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - cfg.seq_len - 1, (cfg.batch_size, 1), generator=gen)
        w = ids[starts + torch.arange(cfg.seq_len + 1)]
        loss = F.cross_entropy(model(w[:, :-1]).flatten(0, 1), w[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if masks:
            apply(model, masks)


def score(model: LanguageModel, test: torch.Tensor, cfg: Config) -> float:
    from rnnzoo.apps.lm import bits_per_char

    model.eval()
    return bits_per_char(model, test[:cfg.eval_chars], seq_len=256)


def zero_fraction(model: LanguageModel, names: tuple[str, ...]) -> float:
    ws = weights(model, names).values()
    return sum((w == 0).sum().item() for w in ws) / sum(w.numel() for w in ws)


def run(cfg: Config) -> dict:
    torch.set_num_threads(1)
    if cfg.quick:
        cfg = replace(cfg, **QUICK)
    records = study_records(Path(cfg.out_dir) / "runs.jsonl", ("kind", "model", "level", "seed"), asdict(cfg),
                            per_run=("levels",))
    data = None
    for seed in cfg.seeds:
        for mixer in MODELS:
            ident = lambda kind, level: dict(kind=kind, model=mixer, level=level, seed=seed)  # noqa: E731
            todo = [lv for lv in cfg.levels if records.get(**ident("pruned", lv)) is None]
            todo_graph = [lv for lv in cfg.levels if lv > 0 and records.get(**ident("random_graph", lv)) is None]
            if not todo and not todo_graph:
                continue
            data = data or stdlib_ids()
            torch.manual_seed(seed)
            dense = build(mixer, data["vocab"], cfg)
            if todo:
                train(dense, data["train"], cfg.steps, cfg, seed)
            for level in todo:
                def prune(level=level):
                    model = build(mixer, data["vocab"], cfg)
                    model.load_state_dict(dense.state_dict())
                    masks = magnitude_masks(model, PRUNED[mixer], level)
                    apply(model, masks)
                    before = score(model, data["test"], cfg)
                    # level 0 is fine-tuned too, so every level has had the same steps
                    train(model, data["train"], cfg.finetune_steps, cfg, seed + 1, masks)
                    return {"bpc": score(model, data["test"], cfg), "bpc_before_finetune": before,
                            "zero_fraction": zero_fraction(model, PRUNED[mixer]), "config": asdict(cfg)}
                records.run(prune, **ident("pruned", level))
            for level in todo_graph:
                def scratch(level=level):
                    torch.manual_seed(seed)
                    model = build(mixer, data["vocab"], cfg)
                    masks = graph_mask(model, *GRAPH[mixer], level, torch.Generator().manual_seed(seed))
                    apply(model, masks)
                    train(model, data["train"], cfg.steps, cfg, seed, masks)
                    return {"bpc": score(model, data["test"], cfg),
                            "zero_fraction": zero_fraction(model, GRAPH[mixer][:1]), "config": asdict(cfg)}
                records.run(scratch, **ident("random_graph", level))
    rows = [r for r in records.current(cfg.seeds) if r["level"] in cfg.levels]
    return write_doc(rows, cfg)


def _cell(rows: list[dict], kind: str, model: str, level: float) -> list[float]:
    """Bits/char of the runs; the random graph at level 0 is the dense model before fine-tuning (same steps)."""
    if kind == "random_graph" and level == 0:
        return [r["bpc_before_finetune"] for r in rows if r["kind"] == "pruned" and r["model"] == model
                and r["level"] == 0]
    return [r["bpc"] for r in rows if r["kind"] == kind and r["model"] == model and r["level"] == level]


def claim_verdict(rows: list[dict], levels: list[float], margin: float, claimed: float = 0.8) -> list[str]:
    """The paper's claim read off the records: pruning keeps accuracy (within ``margin`` bits/char of the dense
    model) up to ``claimed`` sparsity (the low end of its 80-90%)."""
    if claimed not in levels or 0.0 not in levels:
        return []
    held, missed = [], []
    for model in MODELS:
        dense, cut = _cell(rows, "pruned", model, 0.0), _cell(rows, "pruned", model, claimed)
        if dense and cut:
            (held if np.mean(cut) <= np.mean(dense) + margin else missed).append(
                f"{model} ({np.mean(cut) - np.mean(dense):+.3f})")
    if not held and not missed:
        return []
    return [f"- The claim (pruned models keep their accuracy at {claimed:.0%} sparsity): "
            + (f"reproduced for {', '.join(held)}" if held else "reproduced for none")
            + (f"; not reproduced for {', '.join(missed)}" if missed else "")
            + " (bits/char against dense). Pruning here is one shot after training with a short fine-tuning; a "
              "gradual schedule or longer fine-tuning may close a shortfall (not tested)."]


def write_doc(rows: list[dict], cfg: Config, margin: float = 0.05) -> dict:
    doc = Path(cfg.doc)
    doc.parent.mkdir(parents=True, exist_ok=True)
    levels = sorted({r["level"] for r in rows})
    table = ["| model | sparsity | " + " | ".join(f"{lv:.0%}" for lv in levels) + " |", "|---" * (2 + len(levels)) + "|"]
    summary, verdict = {}, []
    for model in MODELS:
        for kind in ("pruned", "random_graph"):
            cells = [_cell(rows, kind, model, lv) for lv in levels]
            table.append(f"| {model} | {kind.replace('_', ' ')} | " + " | ".join(fmt_std(c) for c in cells) + " |")
            summary[f"{model} {kind} bpc"] = [round(float(np.mean(c)), 3) if c else None for c in cells]
        for kind in ("pruned", "random_graph"):
            if 0.0 not in levels or not _cell(rows, kind, model, 0.0):
                continue
            dense = np.mean(_cell(rows, kind, model, 0.0))  # the dense model with the same training steps
            ok = [lv for lv in levels if _cell(rows, kind, model, lv) and np.mean(_cell(rows, kind, model, lv))
                  <= dense + margin]
            top = max(lv for lv in levels if _cell(rows, kind, model, lv))
            if top == 0.0:
                continue  # only the dense model is recorded yet
            verdict.append(f"- {model}, {kind.replace('_', ' ')}: within {margin} bits/char of dense ({dense:.3f}) up "
                           f"to {max(ok):.0%} sparsity" + ("" if max(ok) == top else
                                                           f"; at {top:.0%}: "
                                                           f"{np.mean(_cell(rows, kind, model, top)):.3f}") + ".")
    verdict += claim_verdict(rows, levels, margin)
    plot = doc.with_name(doc.stem + ".png")
    _plot(rows, levels, plot)
    seeds = sorted({r["seed"] for r in rows})
    text = ["# Sparsity in recurrent networks", "", f"**Claim.** {CLAIM}", "",
            "**Setup.** " + __doc__.split("\n\n", 1)[1].strip(), "",
            f"Scale: d_model {cfg.d_model}, {cfg.steps} steps of {cfg.batch_size} x {cfg.seq_len} characters, "
            f"{cfg.finetune_steps} fine-tuning steps, seeds {seeds} (mean ± std), bits/char on {cfg.eval_chars} test "
            f"characters. Command: `rnnzoo study sparsity{' --quick' if cfg.quick else ''}`; records: "
            f"`{cfg.out_dir}/runs.jsonl`.", "",
            *coverage(len(rows), len(cfg.seeds) * len(MODELS) * (2 * len(cfg.levels) - (0.0 in cfg.levels))),
            "## Bits per character (test) by sparsity", "", *table, "", f"![bits/char vs sparsity]({plot.name})", "",
            "## Verdict", "", *verdict, "", *cost_lines(rows), ""]
    doc.write_text("\n".join(text))
    return summary


def _plot(rows: list[dict], levels: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, model in enumerate(MODELS):
        for kind, ls in (("pruned", "-"), ("random_graph", "--")):
            pts = [(lv, np.mean(_cell(rows, kind, model, lv)), np.std(_cell(rows, kind, model, lv)))
                   for lv in levels if _cell(rows, kind, model, lv)]
            if pts:
                x, y, e = zip(*pts)
                ax.errorbar(np.array(x) * 100, y, yerr=e, ls=ls, marker="o", color=f"C{i}", capsize=2,
                            label=f"{model} {kind.replace('_', ' ')}")
    ax.set_xlabel("sparsity (% of the weights zero)")
    ax.set_ylabel("test bits / char")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
