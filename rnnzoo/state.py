"""Recurrent states as values: save and load them, move them, cut their gradient history.

```python
from rnnzoo import state as states
y, s = mixer(x)                                   # s: tuple of [B, ...] tensors
states.save("prompt.safetensors", s, mixer)       # bit-exact, with the mixer's name and config
s = states.load("prompt.safetensors", mixer)      # refused for another mixer or config; CPU tensors
s = states.to(s, device="cuda", dtype=torch.float64)   # integer bookkeeping (positions) keeps its dtype
logits, s = model.forward_with_state(tokens, states.detach_state(s))  # truncated BPTT
```

A state is what a mixer returns (a tuple of tensors, batch first) or what a ``LanguageModel`` returns (a list
with one such tuple per block); every function here takes either. The file is safetensors: tensor
``"{layer}.{index}"`` holds ``state[index]`` of block ``layer`` (layer 0 for a single mixer), and the
metadata holds the format, whether the state is a mixer's or a model's, the tensors per layer, and each
layer's mixer name (the registry name, else ``module.Class``) with its config as JSON. ``load`` given a
mixer or model refuses a file whose mixers or configs differ, or whose tensors do not fit its ``init_state``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save
from torch import nn

from rnnzoo.io import atomic_write_bytes
from rnnzoo.mixers.base import Mixer, State

FORMAT = "rnnzoo.state/1"
AnyState = State | list[State]  # one mixer's, or a model's (one per block)


def save(path: str | Path, state: AnyState, mixer_or_model: nn.Module) -> None:
    """Write ``state`` (of ``mixer_or_model``: a Mixer, or a model with ``blocks`` of mixers) to ``path``,
    atomically; the tensors are stored as they are (dtype, shape, bytes), copied to the CPU."""
    kind, layers = _layers(state)
    found = _mixers(mixer_or_model)
    if len(found) != len(layers):
        raise ValueError(f"the state has {len(layers)} layer(s) but {type(mixer_or_model).__name__} has "
                         f"{len(found)} mixer(s)")
    tensors = {f"{i}.{j}": t.detach().to("cpu", copy=True).contiguous()  # a copy: views never share storage
               for i, layer in enumerate(layers) for j, t in enumerate(layer)}
    metadata = {"format": FORMAT, "kind": kind, "layout": json.dumps([len(layer) for layer in layers]),
                "mixers": json.dumps([_describe(m) for m in found])}
    atomic_write_bytes(path, st_save(tensors, metadata=metadata))


def load(path: str | Path, mixer_or_model: nn.Module | None = None) -> AnyState:
    """The state saved at ``path``, on the CPU: a tuple of tensors for a mixer's, a list of tuples for a model's.
    With ``mixer_or_model``: ValueError unless it has the same mixers with the same configs as the saved one,
    and the tensors fit its ``init_state`` (ranks, sizes, kinds)."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, RuntimeError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a readable safetensors file ({e})") from None
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not an rnnzoo state file (metadata format {metadata.get('format')!r}, "
                         f"expected {FORMAT!r})")
    try:
        kind, layout, saved = metadata["kind"], json.loads(metadata["layout"]), json.loads(metadata["mixers"])
        layers = [tuple(tensors.pop(f"{i}.{j}") for j in range(n)) for i, n in enumerate(layout)]
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: damaged rnnzoo state file (metadata or tensor {e} missing or malformed)") from None
    if tensors or kind not in ("mixer", "model") or (kind == "mixer" and len(layers) != 1) or len(saved) != len(layers):
        raise ValueError(f"{path}: damaged rnnzoo state file (tensors {sorted(tensors) or 'all'} do not match its "
                         f"layout {layout} of kind {kind!r})")
    if mixer_or_model is not None:
        _check_fits(path, layers, saved, kind, mixer_or_model)
    return layers[0] if kind == "mixer" else layers


def to(state: AnyState, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> AnyState:
    """``state`` on ``device`` with its floating tensors in ``dtype``; integer tensors (bookkeeping such as an
    attention cache's position) keep theirs. None leaves that part as it is."""
    return _map(state, lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None))


def detach_state(state: AnyState) -> AnyState:
    """``state`` cut from the graph that produced it: the next window's backward pass stops here (truncated
    BPTT) and the previous window's graph can be freed. Values are unchanged."""
    return _map(state, torch.Tensor.detach)


def _map(state: AnyState, fn) -> AnyState:
    kind, layers = _layers(state)
    layers = [tuple(fn(t) for t in layer) for layer in layers]
    return layers[0] if kind == "mixer" else layers


def _layers(state: AnyState) -> tuple[str, list[State]]:
    def is_mixer_state(s) -> bool:
        return isinstance(s, tuple) and all(isinstance(t, torch.Tensor) for t in s)

    if is_mixer_state(state):
        return "mixer", [state]
    if isinstance(state, list) and all(is_mixer_state(s) for s in state):
        return "model", list(state)
    raise ValueError(f"a state is a tuple of tensors (a mixer's) or a list of such tuples (a model's), "
                     f"got {type(state).__name__}")


def _mixers(mixer_or_model: nn.Module) -> list[Mixer]:
    if isinstance(mixer_or_model, Mixer):
        return [mixer_or_model]
    blocks = getattr(mixer_or_model, "blocks", None)
    if isinstance(blocks, nn.ModuleList) and all(isinstance(getattr(b, "mixer", None), Mixer) for b in blocks):
        return [b.mixer for b in blocks]
    raise ValueError(f"{type(mixer_or_model).__name__} is neither a Mixer nor a model with blocks of mixers")


def _describe(mixer: Mixer) -> dict:
    """{"mixer": name, "config": the config as JSON values}: what a state file must match."""
    cls = type(mixer)
    name = getattr(cls, "registry_name", None) or f"{cls.__module__}.{cls.__qualname__}"
    config = getattr(mixer, "config", None)
    config = asdict(config) if is_dataclass(config) else None
    return {"mixer": name, "config": json.loads(json.dumps(config, sort_keys=True, default=str))}


def _check_fits(path: Path, layers: list[State], saved: list[dict], kind: str, mixer_or_model: nn.Module) -> None:
    found = _mixers(mixer_or_model)
    want = "mixer" if isinstance(mixer_or_model, Mixer) else "model"
    if kind != want or len(found) != len(layers):
        raise ValueError(f"{path} holds a {kind} state of {len(layers)} layer(s); {type(mixer_or_model).__name__} "
                         f"is a {want} of {len(found)}")
    for i, (mixer, entry) in enumerate(zip(found, saved)):
        have = _describe(mixer)
        if have != entry:
            diff = sorted(k for k in {*(have["config"] or {}), *(entry.get("config") or {})}
                          if (have["config"] or {}).get(k) != (entry.get("config") or {}).get(k))
            what = (f"mixer {entry.get('mixer')!r}, not {have['mixer']!r}" if have["mixer"] != entry.get("mixer")
                    else f"another {have['mixer']} config (differs in {', '.join(diff)})")
            raise ValueError(f"{path}: layer {i} state is for {what}")
        state = layers[i]
        if state:
            mixer._check_state(state, state[0].shape[0])  # ranks, sizes and kinds against its init_state
