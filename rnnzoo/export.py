"""Export a language model's one-token ``step`` as a graph: ``torch.export`` (.pt2) or ONNX.

The exported function is ``StepGraph``: (token [B] int64, *state tensors) -> (logits [B, V], *next state
tensors), the model's state flattened in ``torch.utils._pytree`` order, with the same numbers as
``LanguageModel.step``. Mixers whose step is a fixed-size recurrence export; a mixer whose state grows with
the sequence (attention's KV cache) or whose step branches on values cannot, and ``export_step`` names the
reason. ``exportable()`` tries every registry mixer and is what ``docs/export.md`` reports.

A sidecar ``<file>.json`` records what a runtime needs to drive the graph without rnnzoo: the input and
output names, each state tensor's shape and dtype (zeros start a sequence), the vocabulary of a character LM.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils import _pytree as pytree

from rnnzoo.models.lm import LanguageModel

FORMATS = ("onnx", "torch-export")


class StepGraph(nn.Module):
    """``LanguageModel.step`` with its state as a flat tuple of tensors (validation is done once, at export,
    on the example: a graph cannot branch on tensor values)."""

    def __init__(self, model: LanguageModel, batch_size: int = 1):
        super().__init__()
        self.model = model.eval()
        example = model.init_state(batch_size)
        self.state_example, self.state_spec = pytree.tree_flatten(example)
        if not all(isinstance(t, torch.Tensor) for t in self.state_example):
            raise ValueError("the model's state holds non-tensor leaves; it cannot be a graph input")

    def forward(self, token: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        states = pytree.tree_unflatten(list(state), self.state_spec)
        x = self.model.embed(token)
        new = []
        for block, s in zip(self.model.blocks, states):
            h, s = block.mixer._step(block.norm1(x), s)
            x = block._mlp(x + h)
            new.append(s)
        logits = self.model.head(self.model.norm(x))
        return (logits, *pytree.tree_flatten(new)[0])


def why_not_exportable(model: LanguageModel) -> str | None:
    """A sentence saying why the model's step cannot be a fixed graph, or None when nothing rules it out."""
    for block in model.blocks:
        if block.mixer.state_size is None:
            return f"{type(block.mixer).__name__}'s state grows with the sequence (a cache), so the step's " \
                   "input and output shapes differ"
    return None


def export_step(model: LanguageModel, path: str | Path, fmt: str, *, batch_size: int = 1,
                vocab: tuple[str, ...] | None = None) -> dict:
    """Write the step graph of ``model`` to ``path`` in ``fmt`` ("onnx" or "torch-export") and its sidecar
    ``path.json``; returns the sidecar's content. Raises ValueError naming the reason when it cannot."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    reason = why_not_exportable(model)
    if reason:
        raise ValueError(f"cannot export {model.config.mixer}: {reason}")
    path = Path(path)
    graph = StepGraph(model, batch_size)
    token = torch.zeros(batch_size, dtype=torch.int64)
    args = (token, *graph.state_example)
    with torch.no_grad():  # the eager step validates the example's values, which the traced graph cannot
        model.step(token, model.init_state(batch_size))
    names_in = ["token"] + [f"state_{i}" for i in range(len(graph.state_example))]
    names_out = ["logits"] + [f"next_state_{i}" for i in range(len(graph.state_example))]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # torch.export.save wants its suffix
    try:
        # the ONNX exporter prints its progress and warns about its own internals: keep the CLI's output clean
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "torch-export":
                program = torch.export.export(graph, args, strict=False)
                torch.export.save(program, str(tmp))
            else:
                torch.onnx.export(graph, args, str(tmp), input_names=names_in, output_names=names_out,
                                  dynamo=True, external_data=False, verbose=False)
    except Exception as e:  # a mixer's step that no exporter can trace: the exporter's most telling line
        tmp.unlink(missing_ok=True)
        raise ValueError(f"cannot export {model.config.mixer} to {fmt}: {_reason(e)}") from None
    tmp.replace(path)
    meta = {"format": fmt, "mixer": model.config.mixer, "n_layers": model.config.n_layers,
            "vocab_size": model.config.vocab_size, "batch_size": batch_size, "inputs": names_in,
            "outputs": names_out, "state": [{"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
                                            for t in graph.state_example],
            "vocab": list(vocab) if vocab is not None else None}
    side = path.with_name(path.name + ".json")
    side.write_text(json.dumps(meta, indent=1) + "\n")
    return meta


_TELLING = ("data-dependent", "unsupported", "not supported", "no onnx", "complex", "cannot", "could not")


def _reason(e: Exception) -> str:
    """One line from an exporter's (often very long) message: the first that says what failed, else the first."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    for line in lines:
        if any(word in line.lower() for word in _TELLING) and "step 1/3" not in line and "step 3/3" not in line:
            return f"{type(e).__name__}: {line[:300]}"
    return f"{type(e).__name__}: {lines[0][:300] if lines else ''}"


def check_export(model: LanguageModel, path: str | Path, tokens: int = 64, first_token: int = 1) -> float:
    """Greedy-generate ``tokens`` tokens with ``model.step`` and with the exported file at ``path`` (onnxruntime
    for ONNX, ``torch.export.load`` for .pt2), each feeding back its own argmax; returns the max abs difference
    of their logits (and raises if the two choose different tokens)."""
    path = Path(path)
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    state = model.init_state(meta["batch_size"])
    flat = pytree.tree_flatten(state)[0]
    if meta["format"] == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def run(token, flat):
            out = session.run(None, {"token": token.numpy(), **{n: t.numpy() for n, t in zip(meta["inputs"][1:], flat)}})
            return [torch.from_numpy(o) for o in out]
    else:
        program = torch.export.load(str(path)).module()

        def run(token, flat):
            return list(program(token, *flat))
    token = torch.full((meta["batch_size"],), first_token, dtype=torch.int64)
    worst = 0.0
    with torch.no_grad():
        for i in range(tokens):
            logits, state = model.step(token, state)
            out = run(token, flat)
            worst = max(worst, (out[0] - logits).abs().max().item())
            flat = out[1:]
            token, theirs = logits.argmax(-1), out[0].argmax(-1)
            if not torch.equal(token, theirs):
                raise AssertionError(f"the export chose token {theirs.tolist()} at step {i}, the model {token.tolist()}")
    return worst
