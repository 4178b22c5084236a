"""State collapse (Chen et al. 2024, Stuffed Mamba: State Collapse and State Capacity of RNN-Based Long-Context
Modeling): Mamba-style models trained on short sequences fail beyond their training length because a few state
channels blow up; the paper's mitigations are forgetting more (a larger dt), normalising the state, and training
on sequences longer than the state's capacity.

Character LMs (mamba, mamba2 and a gla control; 2 layers, d_model 64) train on windows of ``train_len`` characters
of the standard-library corpus (the ``rnnzoo lm`` corpus), then read ``eval_len`` characters of its test split in
one stream. Recorded per run: bits/char in position buckets, and per layer the state norm and effective rank
along the stream. Variants: ``base``; ``long`` (windows of ``long_len``, the same characters per step); ``tbptt``
(sliding training windows: each row's state carried, detached, into its next window). Evaluation-time
mitigations on ``base``: ``forget`` (dt bias + ``dt_shift``, mamba and mamba2) and ``statenorm`` (after each piece
of ``piece`` tokens, every row's memory is scaled down to the largest norm it had within the training length).
Passkey retrieval (``rnnzoo.tasks.passkey``) is trained at ``train_len`` and scored at 1x, 4x and 16x, with the
same evaluation modes. Seed-0 LMs are saved under ``runs/state_collapse/<model>`` for ``rnnzoo inspect``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnzoo.config_args import option
from rnnzoo.inspection.states import effective_rank, memory_tensor
from rnnzoo.labels import IGNORE
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.state import detach_state
from rnnzoo.studies.charlm import stdlib_ids
from rnnzoo.studies.records import cost_lines, coverage, study_records
from rnnzoo.tasks.passkey import Passkey

CLAIM = ("Mamba and Mamba-2 trained on short sequences collapse beyond their training length (loss and passkey "
         "accuracy degrade as a few state channels explode); forgetting more, normalising the state or training "
         "on longer sequences prevents it.")
NAME = "state_collapse"
# (model, training variant); the evaluation modes each is read with
LM_RUNS = [("mamba", "base"), ("mamba", "long"), ("mamba2", "base"), ("mamba2", "long"), ("mamba2", "tbptt"),
           ("gla", "base")]
MODES = {"mamba": ("plain", "forget", "statenorm"), "mamba2": ("plain", "forget", "statenorm"),
         "gla": ("plain", "statenorm")}
QUICK = dict(steps=30, passkey_steps=30, eval_len=512, eval_rows=2, seeds=(0,))


@dataclass
class Config:
    quick: bool = option(False, "a few minutes: 30 steps, one seed, evaluation to 512 characters")
    seeds: tuple[int, ...] = option((0, 1, 2), "training seeds")
    out_dir: str = option("results/studies/state_collapse", "JSONL records (resumable)")
    doc: str = option("docs/studies/state_collapse.md", "the study's page; its plots go beside it")
    steps: int = option(1000, "optimiser steps per LM", minimum=1)
    passkey_steps: int = option(1500, "optimiser steps per passkey model (1500: where mamba learns the task)", minimum=1)
    batch_size: int = option(16, "windows per step at train_len", minimum=1)
    d_model: int = option(64, "model width", minimum=1)
    n_layers: int = option(2, "blocks", minimum=1)
    train_len: int = option(64, "training window (characters)", minimum=8)
    long_len: int = option(256, "training window of the 'long' variant", minimum=8)
    eval_len: int = option(2048, "characters read at evaluation", minimum=8)
    eval_rows: int = option(4, "test streams read at evaluation", minimum=1)
    piece: int = option(32, "tokens per call at evaluation (statenorm acts between pieces)", minimum=1)
    dt_shift: float = option(1.0, "added to the dt bias (before softplus) by the 'forget' mode")


# -- models and training ---------------------------------------------------------------------------------------
def build(mixer: str, vocab: int, cfg: Config) -> LanguageModel:
    options = {"d_state": 16, "headdim": 32} if mixer == "mamba2" else {}
    return LanguageModel(LMConfig(vocab_size=vocab, d_model=cfg.d_model, n_layers=cfg.n_layers, mixer=mixer,
                                  mixer_options=options))


def train(model: LanguageModel, batches, steps: int, carry: bool = False, lr: float = 3e-3) -> float:
    """AdamW at ``lr`` with 10% warmup and clipping at 1; ``batches(step)`` -> (inputs, targets) [B, T]. ``carry``:
    each step continues from the previous step's detached state (sliding windows). Returns the last loss."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, steps // 10)
    state, loss = None, torch.tensor(float("nan"))
    model.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / warm)
        inputs, targets = batches(step)
        logits, state = model.forward_with_state(inputs, state if carry else None)
        state = detach_state(state)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return loss.item()


def more_forgetting(model: LanguageModel, shift: float) -> LanguageModel:
    """A copy whose Mamba / Mamba-2 dt bias is raised by ``shift``: larger steps, faster decay exp(dt A)."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        for block in model.blocks:
            m = block.mixer
            (m.dt_proj.bias if hasattr(m, "dt_proj") else m.dt_bias).add_(shift)
    return model


def read(model: LanguageModel, tokens: torch.Tensor, piece: int, ref_len: int | None) -> tuple[torch.Tensor, list]:
    """tokens [B, T] in pieces -> (logits [B, T, V], per layer (norm [n], rank [n] or [])) measured after each
    piece. ``ref_len``: state normalisation, each row's memory scaled down after every piece to the largest norm
    it had within the first ref_len tokens."""
    model.eval()
    out, state, ceiling = [], None, None
    trace = [([], []) for _ in model.blocks]
    with torch.no_grad():
        for start in range(0, tokens.shape[1], piece):
            logits, state = model.forward_with_state(tokens[:, start:start + piece], state)
            out.append(logits)
            mems = [memory_tensor(s) for s in state]
            norms = [m.flatten(1).norm(dim=1) for m in mems]
            if ref_len is not None:
                if start + piece <= ref_len or ceiling is None:
                    ceiling = norms if ceiling is None else [torch.maximum(c, n) for c, n in zip(ceiling, norms)]
                else:
                    for m, n, c in zip(mems, norms, ceiling):
                        m.mul_((c / n.clamp_min(1e-30)).clamp(max=1.0).view(-1, *[1] * (m.dim() - 1)))
                    norms = [m.flatten(1).norm(dim=1) for m in mems]
            for (ns, rs), m, n in zip(trace, mems, norms):
                ns.append(n.mean().item())
                if m.dim() >= 3:
                    rs.append(effective_rank(m.float()).mean().item())
    return torch.cat(out, 1), trace


def sliding_nll(model: LanguageModel, tokens: torch.Tensor, targets: torch.Tensor, window: int) -> torch.Tensor:
    """Bits per target [B, T] when every token is read with at most 2 * window and at least window tokens of
    context (windows of 2 * window, stride window, each from the zero state; the first scores its whole span):
    the same characters as the stream, read within the training regime."""
    model.eval()
    b, t = tokens.shape
    out = torch.empty(b, t)
    with torch.no_grad():
        for start in range(0, t, window):
            lo = max(0, start - window)
            logits = model(tokens[:, lo:start + window])
            nll = F.cross_entropy(logits.transpose(1, 2), targets[:, lo:start + window], reduction="none")
            out[:, start:start + window] = nll[:, start - lo:] / math.log(2)
    return out


# -- the two experiments ---------------------------------------------------------------------------------------
def buckets(cfg: Config) -> list[tuple[int, int]]:
    edges = [0, cfg.train_len, 4 * cfg.train_len, 16 * cfg.train_len, 32 * cfg.train_len]
    edges = sorted({min(e, cfg.eval_len) for e in edges})
    return list(zip(edges[:-1], edges[1:]))


def lm_run(mixer: str, variant: str, seed: int, cfg: Config, data: dict) -> dict:
    torch.manual_seed(seed)
    model = build(mixer, data["vocab"], cfg)
    ids, gen = data["train"], torch.Generator().manual_seed(seed)
    length = cfg.long_len if variant == "long" else cfg.train_len
    rows = max(1, cfg.batch_size * cfg.train_len // length)  # the same characters per step
    stride = (len(ids) - length - 1) // cfg.batch_size

    def windows(step):
        if variant == "tbptt":  # row r reads its own stretch of the corpus, window after window
            starts = torch.arange(cfg.batch_size)[:, None] * stride + step * length
        else:
            starts = torch.randint(0, len(ids) - length - 1, (rows, 1), generator=gen)
        w = ids[starts + torch.arange(length + 1)]
        return w[:, :-1], w[:, 1:]

    loss = train(model, windows, cfg.steps, carry=variant == "tbptt")
    if seed == 0 and variant == "base":
        save_lm(model, data["chars"], Path("runs") / NAME / mixer)
    test = data["test"]
    offsets = torch.linspace(0, len(test) - cfg.eval_len - 2, cfg.eval_rows).long()
    stream = test[offsets[:, None] + torch.arange(cfg.eval_len + 1)]
    sliding = sliding_nll(model, stream[:, :-1], stream[:, 1:], cfg.train_len)
    result = {"train_loss": loss, "eval": {}, "sliding_bpc": {f"{a}-{b}": sliding[:, a:b].mean().item()
                                                              for a, b in buckets(cfg)}}
    for mode in MODES[mixer] if variant == "base" else ("plain",):
        m = more_forgetting(model, cfg.dt_shift) if mode == "forget" else model
        logits, trace = read(m, stream[:, :-1], cfg.piece, cfg.train_len if mode == "statenorm" else None)
        nll = F.cross_entropy(logits.transpose(1, 2), stream[:, 1:], reduction="none") / math.log(2)  # [B, T]
        result["eval"][mode] = {
            "bpc": {f"{a}-{b}": nll[:, a:b].mean().item() for a, b in buckets(cfg)},
            "norm": [t[0] for t in trace], "rank": [t[1] for t in trace]}
    return result


def passkey_run(mixer: str, seed: int, cfg: Config) -> dict:
    task = Passkey(seq_len=cfg.train_len, key_len=2, filler_len=8)
    torch.manual_seed(seed)
    model = build(mixer, task.vocab_size, cfg)
    train(model, lambda step: task.make("train", 2 * cfg.batch_size, seed * 100_000 + step), cfg.passkey_steps)
    out = {}
    for mode in MODES[mixer]:
        m = more_forgetting(model, cfg.dt_shift) if mode == "forget" else model
        for mult in (1, 4, 16):
            inputs, targets = task.at_length(cfg.train_len * mult).make("test", 64, seed)
            logits, _ = read(m, inputs, cfg.piece, cfg.train_len if mode == "statenorm" else None)
            out[f"{mode}@{mult}x"] = task.score(logits, targets)
    return {"accuracy": out}


def save_lm(model: LanguageModel, chars: tuple[str, ...], directory: Path) -> None:
    """A checkpoint ``rnnzoo inspect --checkpoint`` (and ``rnnzoo lm``) reads."""
    from rnnzoo.train.checkpoint import save_checkpoint

    save_checkpoint(directory, model, step=0, extra={"vocab": list(chars)})


# -- the study ---------------------------------------------------------------------------------------------------
def run(cfg: Config) -> dict:
    torch.set_num_threads(1)
    if cfg.quick:
        cfg = replace(cfg, **{k: v for k, v in QUICK.items()})
    records = study_records(Path(cfg.out_dir) / "runs.jsonl", ("kind", "model", "variant", "seed"), asdict(cfg))
    data = None
    for seed in cfg.seeds:
        for mixer, variant in LM_RUNS:
            if records.get(kind="lm", model=mixer, variant=variant, seed=seed) is None:
                data = data or stdlib_ids()
            records.run(lambda: {**lm_run(mixer, variant, seed, cfg, data), "config": asdict(cfg)},
                        kind="lm", model=mixer, variant=variant, seed=seed)
        for mixer in MODES:
            records.run(lambda: {**passkey_run(mixer, seed, cfg), "config": asdict(cfg)},
                        kind="passkey", model=mixer, variant="base", seed=seed)
    rows = records.current(cfg.seeds)
    return write_doc(rows, cfg)


def _mean_std(values: list[float]) -> str:
    a = np.array(values, dtype=float)
    return f"{a.mean():.3f} ± {a.std():.3f}" if len(a) > 1 else f"{a.mean():.3f}"


def write_doc(rows: list[dict], cfg: Config) -> dict:
    from rnnzoo.studies.state_collapse_plots import plot_bpc, plot_states

    doc = Path(cfg.doc)
    doc.parent.mkdir(parents=True, exist_ok=True)
    lm = [r for r in rows if r["kind"] == "lm"]
    pk = [r for r in rows if r["kind"] == "passkey"]
    names = [f"{a}-{b}" for a, b in buckets(cfg)]
    table = ["| model | training | eval mode | " + " | ".join(f"bpc @ {n}" for n in names)
             + f" | bpc @ {names[-1]} minus sliding windows | state norm end / at train_len (last layer) |",
             "|---" * (5 + len(names)) + "|"]
    summary = {}
    n_train = max(1, cfg.train_len // cfg.piece)
    for mixer, variant in LM_RUNS:
        runs = [r for r in lm if r["model"] == mixer and r["variant"] == variant]
        if not runs:
            continue
        for mode in runs[0]["eval"]:
            bpc = [_mean_std([r["eval"][mode]["bpc"][n] for r in runs]) for n in names]
            growth = [r["eval"][mode]["norm"][-1][-1] / r["eval"][mode]["norm"][-1][n_train - 1] for r in runs]
            gap = [r["eval"][mode]["bpc"][names[-1]] - r["sliding_bpc"][names[-1]] for r in runs]
            table.append(f"| {mixer} | {variant} | {mode} | " + " | ".join(bpc)
                         + f" | {_mean_std(gap)} | {_mean_std(growth)} |")
            summary[f"{mixer}/{variant}/{mode} bpc {names[0]} -> {names[-1]}"] = (
                round(float(np.mean([r['eval'][mode]['bpc'][names[0]] for r in runs])), 3),
                round(float(np.mean([r['eval'][mode]['bpc'][names[-1]] for r in runs])), 3))
    modes = list(dict.fromkeys(m for ms in MODES.values() for m in ms))  # plain, forget, statenorm
    keys = sorted({k for r in pk for k in r["accuracy"]},  # records store keys sorted as text: 16x before 1x
                  key=lambda k: (modes.index(k.split("@")[0]), int(k.split("@")[1].rstrip("x"))))
    ptable = ["| model | " + " | ".join(keys) + " |", "|---" * (1 + len(keys)) + "|"]
    for mixer in MODES:
        runs = [r for r in pk if r["model"] == mixer]
        if runs:
            ptable.append(f"| {mixer} | " + " | ".join(_mean_std([r["accuracy"][k] for r in runs])
                                                       if k in runs[0]["accuracy"] else "—" for k in keys) + " |")
    stem = doc.with_suffix("")
    plot_bpc(lm, names, f"{stem}_bpc.png", cfg.train_len)
    plot_states(lm, cfg, f"{stem}_states.png")
    seeds = sorted({r["seed"] for r in rows})
    text = ["# State collapse (Stuffed Mamba)", "", f"**Claim.** {CLAIM}", "",
            f"**Setup.** {__doc__.split(chr(10) + chr(10), 1)[1].strip()}", "",
            f"Scale: {cfg.steps} steps of {cfg.batch_size} x {cfg.train_len} characters, d_model {cfg.d_model}, "
            f"{cfg.n_layers} layers, seeds {seeds} (mean ± std over seeds), evaluation over {cfg.eval_rows} streams "
            f"of {cfg.eval_len} characters. Command: `rnnzoo study state_collapse"
            f"{' --quick' if cfg.quick else ''}`; records: `{cfg.out_dir}/runs.jsonl`.", "",
            *coverage(len(rows), len(cfg.seeds) * (len(LM_RUNS) + len(MODES))),
            "## Language modelling beyond the training length (bits/char by position)", "", *table, "",
            f"![bits per character by position]({Path(f'{stem}_bpc.png').name})", "",
            f"![state norm and effective rank along the stream]({Path(f'{stem}_states.png').name})", "",
            "## Passkey retrieval (accuracy on the key digits; trained at 1x)", "",
            *(ptable if pk else ["No passkey run is recorded yet."]), "",
            "## Verdict", "", *verdict(lm, names), *passkey_verdict(pk), "", *cost_lines(rows), ""]
    doc.write_text("\n".join(text))
    return summary


def passkey_verdict(pk: list[dict], margin: float = 0.05) -> list[str]:
    """Sentences on passkey retrieval: trained at 1x, does accuracy hold at 4x and 16x (within ``margin``), and does
    each evaluation-time mitigation raise the 16x accuracy over the plain read?"""
    def acc(mixer, key):
        values = [r["accuracy"][key] for r in pk if r["model"] == mixer and key in r["accuracy"]]
        return float(np.mean(values)) if values else None

    out = []
    for mixer, modes in MODES.items():
        at = {m: acc(mixer, f"plain@{m}x") for m in (1, 4, 16)}
        if at[1] is None:
            continue
        if at[1] < 0.5:
            out.append(f"- **{mixer}**, passkey: {at[1]:.3f} at the training length: not learnt at this budget, so it "
                       "says nothing about collapse.")
            continue
        drop = at[1] - at[16]
        out.append(f"- **{mixer}**, passkey: {at[1]:.3f} at 1x, {at[4]:.3f} at 4x, {at[16]:.3f} at 16x: "
                   + ("retrieval holds far beyond the training length." if drop <= margin else
                      f"retrieval degrades beyond the training length (-{drop:.3f} at 16x)."))
        for mode in modes:
            if mode != "plain" and acc(mixer, f"{mode}@16x") is not None:
                v = acc(mixer, f"{mode}@16x")
                effect = "helps" if v > at[16] + margin else "hurts" if v < at[16] - margin else "changes little"
                out.append(f"  - {mode}: {v:.3f} at 16x ({effect}, {v - at[16]:+.3f}).")
    return out


def verdict(lm: list[dict], names: list[str], margin: float = 0.05) -> list[str]:
    """Sentences read off the records: collapse = bits/char in the last bucket above the bucket right after the
    training length by more than ``margin``; a mitigation helps when it lowers the last bucket by more than it."""
    def last(mixer, variant, mode):
        runs = [r for r in lm if r["model"] == mixer and r["variant"] == variant and mode in r["eval"]]
        return float(np.mean([r["eval"][mode]["bpc"][names[-1]] for r in runs])) if runs else None

    def sliding(mixer, variant="base"):
        runs = [r for r in lm if r["model"] == mixer and r["variant"] == variant]
        return float(np.mean([r["sliding_bpc"][names[-1]] for r in runs]))

    out = [f"Collapse is judged on the same characters: bits/char at {names[-1]} read in one stream against the "
           f"same characters read in sliding windows of the training regime (margin {margin})."]
    for mixer in MODES:
        far = last(mixer, "base", "plain")
        if far is None:
            continue
        ref = sliding(mixer)
        collapsed = far > ref + margin
        out.append(f"- **{mixer}**: {far:.3f} bits/char at {names[-1]} in one stream, {ref:.3f} in sliding windows: "
                   + ("collapse reproduced (the long state hurts)." if collapsed else
                      "no collapse at this scale (the long state does not hurt)."))
        for variant, mode in [("base", "forget"), ("base", "statenorm"), ("long", "plain"), ("tbptt", "plain")]:
            v = last(mixer, variant, mode)
            if v is None:
                continue
            effect = "helps" if v < far - margin else "hurts" if v > far + margin else "changes little"
            own = "" if variant == "base" else f"; its own stream minus sliding windows: {v - sliding(mixer, variant):+.3f}"
            out.append(f"  - {mode if variant == 'base' else variant + ' training'}: {v:.3f} at {names[-1]} "
                       f"({effect} against base, {v - far:+.3f}{own}).")
    return out
