"""Character-level language modelling on real text, reported in bits per character.

Default corpus: the ``.py`` sources of the Python standard library that runs rnnzoo
(``sysconfig.get_paths()["stdlib"]``, ``site-packages``/``dist-packages`` excluded), read as UTF-8 in sorted
relative-path order. Each file goes to one split by a hash of its relative path (POSIX form):
``int(sha1(path)[:8], 16) % 100`` < 90 -> train, < 95 -> valid, else test, so the split is the same on
every machine with the same Python version and adding a file never moves the others. A user text file is
split by position instead: first 90 % train, next 5 % valid, last 5 % test.

The vocabulary is every character of the train split, sorted by code point, after id 0 = ``<unk>``;
characters of valid/test outside it become ``<unk>`` (counted like any other character in the bits per
character). A prompt containing such a character is refused.

```python
from rnnzoo.config_args import override     # fields by name, keeping the app's defaults
result = train_lm(override(LMTrainConfig(), mixer="lstm", n_layers=2, d_model=128, steps=2000, out_dir="runs/lm"))
result["test_bpc"]
print(generate_text("runs/lm", "def ", GenerationConfig(strategy="beam", num_beams=4, max_new_tokens=200)))
```

``LMTrainConfig`` nests ``model`` (``LMConfig``, ``vocab_size`` set from the corpus) and ``train``
(``TrainConfig``) with this app's defaults; ``override`` changes fields by name, as the CLI flags do.
"""

from __future__ import annotations

import hashlib
import math
import os
import sysconfig
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnzoo.config_args import from_dict, option
from rnnzoo.labels import IGNORE
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.models.generate import GenerationConfig, generate
from rnnzoo.objectives.meap import meap_loss
from rnnzoo.provenance import provenance
from rnnzoo.rundir import open_train_run, write_results
from rnnzoo.train import TrainConfig, Trainer, lm_loss
from rnnzoo.train.checkpoint import CheckpointError, load_checkpoint, read_sidecar
from rnnzoo.train.device import autocast, model_device, resolve_device
from rnnzoo.train.tbptt import TBPTTLoss, stream_batches
from rnnzoo.validate import check_types, positive

SPLITS = ("train", "valid", "test")
UNK = "<unk>"


def stdlib_sources() -> list[tuple[str, Path]]:
    """(relative POSIX path, path) of every standard-library ``.py`` file, sorted by relative path."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [(p.relative_to(root).as_posix(), p) for p in root.rglob("*.py")
             if not {"site-packages", "dist-packages"} & set(p.relative_to(root).parts)]
    return sorted(files)


def split_of(relative_path: str) -> str:
    bucket = int(hashlib.sha1(relative_path.encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 90 else "valid" if bucket < 95 else "test"


def stdlib_documents() -> dict[str, list[str]]:
    """{"train", "valid", "test"} -> the texts of the split's standard-library files, in relative-path order."""
    parts: dict[str, list[str]] = {s: [] for s in SPLITS}
    for rel, p in stdlib_sources():
        parts[split_of(rel)].append(p.read_text(encoding="utf-8", errors="replace"))
    return parts


def document_starts(documents: list[str]) -> torch.Tensor:
    """Offsets [n] (int64) of each document's first character in ``"\n".join(documents)``."""
    sizes = torch.tensor([len(d) + 1 for d in documents], dtype=torch.long)
    return torch.cat((torch.zeros(1, dtype=torch.long), sizes.cumsum(0)[:-1]))


def load_corpus(path: str | None = None, documents: dict[str, list[str]] | None = None) -> dict[str, str]:
    """{"train", "valid", "test"} -> text: the standard-library corpus (``documents``, read by
    ``stdlib_documents`` when not given), or the text file at ``path``."""
    if path is None:
        splits = {s: "\n".join(v) for s, v in (documents or stdlib_documents()).items()}
        where = f"the standard library at {sysconfig.get_paths()['stdlib']}"
    else:
        p = Path(path)
        text = read_utf8(p)
        a, b = int(len(text) * 0.9), int(len(text) * 0.95)
        splits = {"train": text[:a], "valid": text[a:b], "test": text[b:]}
        where = str(p)
    short = [s for s in SPLITS if len(splits[s]) < 2]
    if short:
        raise ValueError(f"corpus from {where} is empty or too short: split(s) {short} have fewer than 2 "
                         f"characters (sizes { {s: len(t) for s, t in splits.items()} })")
    return splits


def read_utf8(path: Path) -> str:
    """The text of the UTF-8 file ``path``; ValueError naming the file (and the byte offset) for a directory,
    a binary file or bytes that are not UTF-8."""
    if path.is_dir():
        raise ValueError(f"corpus {path} is a directory; give a UTF-8 text file")
    if not path.is_file():
        raise FileNotFoundError(f"corpus file {path} does not exist")
    data = path.read_bytes()
    nul = data.find(b"\0")
    if nul >= 0:
        raise ValueError(f"corpus {path} is binary, not UTF-8 text (NUL byte at offset {nul})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"corpus {path} is not UTF-8 text: byte {data[e.start]:#04x} at offset {e.start} "
                         f"({e.reason})") from None


@dataclass(frozen=True)
class Vocab:
    """Characters by id; id 0 is ``<unk>``."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        return cls((UNK, *sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str, strict: bool = False) -> np.ndarray:
        """text -> int64 ids [len(text)]; unknown characters -> 0, or ValueError when ``strict``."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        known = np.array([ord(c) for c in self.chars[1:]], dtype=np.uint32)
        idx = np.searchsorted(known, codes).clip(max=len(known) - 1)
        found = known[idx] == codes
        if strict and not found.all():
            bad = sorted({text[i] for i in np.flatnonzero(~found)})
            raise ValueError(f"characters {bad!r} are not in the model's vocabulary ({len(self) - 1} characters)")
        return np.where(found, idx + 1, 0).astype(np.int64)

    def decode(self, ids) -> str:
        return "".join(self.chars[i] if i else "\ufffd" for i in ids)


@dataclass
class LMTrainConfig:
    """The model and trainer configs nested, plus what only this app has (corpus, batching, scoring)."""

    model: LMConfig = option(factory=lambda: LMConfig(d_model=128, n_layers=2, mixer="lstm"))
    train: TrainConfig = option(factory=lambda: TrainConfig(
        steps=2000, lr=3e-3, warmup_steps=None, eval_every=500, log_every=None, checkpoint_every=250,
        out_dir="runs/lm"))
    batch_size: int = option(32, "global batch (split over processes under torchrun)")
    seq_len: int = option(128, "characters per training window")
    eval_chars: int = option(100_000, "characters of valid/test scored (from the split's start); 0 = all")
    corpus: str | None = option(None, "a UTF-8 text file instead of the standard-library corpus")
    tbptt: bool = option(False, "truncated BPTT: train over the train split as one stream in batch_size rows, "
                                "seq_len characters a step, carrying each row's detached state to the next "
                                "window (rnnzoo.train.tbptt); default: independent random windows")
    pack_files: bool = option(False, "cut training windows at file boundaries and run the pieces packed "
                                     "(cu_seqlens): no character is predicted from another file's text")
    meap: float = option(0.0, "MEAP: fraction of each training window's input characters replaced by <unk> "
                              "(targets unchanged; rnnzoo.objectives.meap); 0: off")

    def __post_init__(self) -> None:
        check_types(self)  # eval_chars: an int >= 0
        positive(self, "seq_len", "batch_size")
        if not 0 <= self.meap < 1:
            raise ValueError(f"meap must be a fraction in [0, 1), got {self.meap}")
        if self.pack_files and self.corpus is not None:
            raise ValueError("pack_files needs the standard-library corpus: a single text file has no file "
                             "boundaries")


def file_starts(n_chars: int, documents: list[str]) -> torch.Tensor:
    """[n_chars] bool: True where one of ``documents`` starts in their ``"\n"``-joined text."""
    start = torch.zeros(n_chars, dtype=torch.bool)
    start[document_starts(documents)] = True
    return start


def training_windows(train: torch.Tensor, batch_size: int, seq_len: int, gen: torch.Generator,
                     file_start: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """(inputs, targets) [batch_size, seq_len] of random windows of ``train`` [N]; with ``file_start`` [N] bool
    (``pack_files``), targets that start a file are IGNORE and the starts [batch_size, seq_len] come third."""
    starts = torch.randint(0, len(train) - seq_len - 1, (batch_size, 1), generator=gen)
    window = train[starts + torch.arange(seq_len + 1)]
    if file_start is None:
        return window[:, :-1], window[:, 1:]
    at_start = file_start[(starts + torch.arange(seq_len + 1)).cpu()]
    # a file's first character is not predicted from the file before it
    targets = window[:, 1:].masked_fill(at_start[:, 1:].to(window.device), IGNORE)
    return window[:, :-1], targets, at_start[:, :-1]


def packed_lm_loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
    """``lm_loss`` on windows cut at file boundaries. batch = (inputs [B, T], targets [B, T] (IGNORE where the
    next character starts a file), starts [B, T] bool: a file starts there); the B rows and their file pieces run
    as packed sequences of one row (``cu_seqlens``)."""
    inputs, targets, starts = batch
    starts = starts.clone()
    starts[:, 0] = True
    flat = starts.flatten()
    cu = torch.cat((flat.nonzero().squeeze(1), flat.new_full((1,), flat.numel(), dtype=torch.long)))
    logits = model(inputs.reshape(1, -1), cu_seqlens=cu)
    targets = targets.flatten()
    loss = nn.functional.cross_entropy(logits[0].float(), targets, ignore_index=IGNORE)
    with torch.no_grad():
        mask = targets != IGNORE
        acc = ((logits[0].argmax(-1) == targets) & mask).sum() / mask.sum().clamp(min=1)
    return loss, {"acc": float(acc)}


def bits_per_char(model: nn.Module, ids: torch.Tensor, seq_len: int, batch_size: int = 32) -> float:
    """Mean next-character cross-entropy in bits over ``ids`` [N], scored in independent windows of
    ``seq_len`` + 1 characters (each window starts from the zero state), on the model's device."""
    ids = ids.to(model_device(model))
    n = (len(ids) - 1) // seq_len
    if n == 0:
        raise ValueError(f"need more than seq_len={seq_len} characters to score, got {len(ids)}")
    windows = ids[: n * seq_len + 1].unfold(0, seq_len + 1, seq_len)  # [n, seq_len + 1], overlapping by 1
    total = 0.0
    with torch.no_grad():
        for chunk in windows.split(batch_size):
            logits = model(chunk[:, :-1])
            total += float(nn.functional.cross_entropy(logits.flatten(0, 1).float(), chunk[:, 1:].flatten(),
                                                       reduction="sum"))
    return total / (n * seq_len) / math.log(2)


# bytes of activations kept for the backward pass per (token x d_model x layer): measured 114-180 over lstm, gla,
# mamba and attention (d_model 128, 2 layers, 32 x 1024 tokens, float32); rounded up
ACTIVATION_BYTES = 192


def train_step_bytes(cfg: LMTrainConfig, n_params: int) -> int:
    """Estimated peak memory of one training step: float32 weights, gradients and two AdamW moments, the
    activations kept for backward, and the logits (with their float copy and gradient)."""
    tokens = cfg.batch_size * cfg.seq_len
    m = cfg.model
    return 16 * n_params + ACTIVATION_BYTES * tokens * m.d_model * m.n_layers + 12 * tokens * m.vocab_size


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes; None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(cfg: LMTrainConfig, n_params: int) -> None:
    """Refuse a run whose training step would not fit into the available memory; warn above half of it."""
    need, have = train_step_bytes(cfg, n_params), available_memory()
    if have is None:
        return
    what = (f"a training step of batch_size={cfg.batch_size} x seq_len={cfg.seq_len} with d_model="
            f"{cfg.model.d_model}, {cfg.model.n_layers} layers needs about {need / 2**30:.1f} GiB")
    if need > have:
        raise ValueError(f"{what}, more than the {have / 2**30:.1f} GiB available; lower --batch-size or --seq-len")
    if need > have / 2:
        warnings.warn(f"{what}, more than half of the {have / 2**30:.1f} GiB available", stacklevel=3)


def train_lm(cfg: LMTrainConfig) -> dict:
    """Train a character LM; returns {"test_bpc", "valid_bpc", "params", ...} and writes it to out_dir/lm.json.
    ``out_dir`` is checked and locked (``rnnzoo.rundir.open_run``) before the corpus is read."""
    with open_train_run(cfg.train) as run:
        return _train_lm(cfg, run)


def _train_lm(cfg: LMTrainConfig, run) -> dict:
    documents = stdlib_documents() if cfg.pack_files else None
    corpus = load_corpus(cfg.corpus, documents)
    vocab = Vocab.from_text(corpus["train"])
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=len(vocab)))
    with torch.device("meta"):  # counts parameters without allocating them
        n_params = sum(p.numel() for p in LanguageModel(cfg.model).parameters())
    check_memory(cfg, n_params)
    data = {s: torch.from_numpy(vocab.encode(t)) for s, t in corpus.items()}
    if len(data["train"]) <= cfg.seq_len + 1:
        raise ValueError(f"train split has {len(data['train'])} characters; need more than seq_len={cfg.seq_len}")
    scored = {s: data[s][: cfg.eval_chars + 1] if cfg.eval_chars else data[s] for s in ("valid", "test")}
    seq_len = min(cfg.seq_len, min(len(v) for v in scored.values()) - 1)
    seed = cfg.train.seed
    torch.manual_seed(seed)
    model = LanguageModel(cfg.model)
    train = data["train"]

    file_start = file_starts(len(train), documents["train"]) if documents is not None else None

    def batch_fn(step: int) -> tuple[torch.Tensor, ...]:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        return training_windows(train, cfg.batch_size, cfg.seq_len, gen, file_start)

    loss_fn = packed_lm_loss if cfg.pack_files else lm_loss
    if cfg.tbptt:
        if cfg.pack_files:
            raise ValueError("--tbptt and --pack-files contradict each other: a truncated-BPTT stream carries state "
                             "across windows, packing cuts it at file boundaries; choose one")
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ValueError("tbptt runs in one process: its stream of windows is not split between ranks")
        batch_fn, _ = stream_batches(train, cfg.batch_size, cfg.seq_len)  # cut on the CPU; the Trainer moves it
        loss_fn = TBPTTLoss()
    if cfg.meap:
        if cfg.tbptt:
            raise ValueError("--meap works on independent windows; it is not implemented for --tbptt")
        loss_fn = meap_loss(cfg.meap, 0, loss_fn)  # <unk> (id 0) never occurs in the train split: it is the mask
    trainer = Trainer(
        model, cfg.train, batch_fn, loss_fn,
        eval_fn=lambda m: {"valid_bpc": bits_per_char(m, scored["valid"], seq_len)},
        checkpoint_extra={"vocab": list(vocab.chars)}, run_config=cfg, run=run,
    )
    train = train.to(trainer.device)  # batch_fn reads it at call time: windows are cut where the model trains
    summary = trainer.fit()
    model.eval()
    result = {"mixer": cfg.model.mixer, "n_layers": cfg.model.n_layers, "d_model": cfg.model.d_model,
              "steps": summary["steps"], "params": sum(p.numel() for p in model.parameters()),
              "vocab_size": len(vocab), "valid_bpc": bits_per_char(model, scored["valid"], seq_len),
              "test_bpc": bits_per_char(model, scored["test"], seq_len), "scored_chars": len(scored["test"]) - 1,
              "train_seconds": summary["train_seconds"], "config": asdict(cfg),
              "provenance": provenance()}
    if trainer.is_main:
        write_results(cfg.train.out_dir, result, "lm.json")
    trainer.close()  # leaves the process group under torchrun, once the model is no longer used
    return result


def load_train_config(checkpoint_dir: str | Path) -> LMTrainConfig:
    """The LMTrainConfig a checkpoint of ``train_lm`` was written with (saved by the Trainer as ``run_config``;
    older versions saved it as ``lm_train_config``, also in the flat form)."""
    extra = read_sidecar(checkpoint_dir)["extra"]
    return from_dict(LMTrainConfig, extra["run_config"] if "run_config" in extra else extra["lm_train_config"])


def load_lm(checkpoint_dir: str | Path, device: str = "cpu") -> tuple[LanguageModel, Vocab]:
    """Rebuild the model and vocabulary saved by ``train_lm`` in ``checkpoint_dir``, on ``device``
    (``rnnzoo.train.device.resolve_device`` names; checkpoints load on any device, whichever they trained on)."""
    meta = read_sidecar(checkpoint_dir)
    if meta.get("model_class") != "LanguageModel" or "vocab" not in meta["extra"]:
        raise CheckpointError(f"{checkpoint_dir} is not a character LM checkpoint (written by `rnnzoo lm train`)")
    if not isinstance(meta.get("model_config"), dict):
        raise CheckpointError(f"{checkpoint_dir}: field 'model_config' of the checkpoint sidecar is "
                              f"{type(meta.get('model_config')).__name__}, not the language model's config")
    model = LanguageModel(LMConfig(**meta["model_config"]))
    load_checkpoint(checkpoint_dir, model)
    return model.to(resolve_device(device)).eval(), Vocab(tuple(meta["extra"]["vocab"]))


def generate_text(checkpoint_dir: str | Path, prompt: str, config: GenerationConfig,
                  draft_dir: str | Path | None = None) -> list[str]:
    """Continuations of ``prompt``: one for greedy/sample, ``num_beams`` (best first) for beam strategies.
    ``draft_dir``: a smaller character LM with the same vocabulary drafts tokens (speculative decoding)."""
    if not prompt:
        raise ValueError("prompt is empty; give at least one character")
    model, vocab = load_lm(checkpoint_dir, config.device)
    draft = None
    if draft_dir is not None:
        draft, draft_vocab = load_lm(draft_dir, config.device)
        if draft_vocab != vocab:
            raise ValueError(f"draft {draft_dir} has another vocabulary than {checkpoint_dir} "
                             f"({len(draft_vocab)} vs {len(vocab)} characters); train both on the same corpus")
    ids = torch.from_numpy(vocab.encode(prompt, strict=True))[None].to(model_device(model))
    with autocast(model_device(model), config.dtype):
        return [vocab.decode(row.tolist()) for row in generate(model, ids, config, draft=draft)]
