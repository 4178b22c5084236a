"""Checkpoints: weights in safetensors, optimizer state in a weights-only torch file, a JSON sidecar.

A checkpoint directory holds

- ``model-<step>.safetensors``: every unique weight tensor once (tied weights, e.g. the LM head that shares
  the embedding, are stored once and listed under ``"aliases"`` in the sidecar, then re-tied on load);
- ``optim-<step>.pt``: ``optimizer.state_dict()``, read back with ``torch.load(weights_only=True)`` so a
  checkpoint can never run pickled code;
- ``checkpoint.json``: step, train config, model config, scheduler state, RNG states, caller extras, the
  name, size and sha256 of the two files above, and a sha256 of the sidecar itself (``"sha256"``, over its
  other fields as sorted compact JSON), so an edited vocabulary or step is refused like a damaged weight file.

Every file is written atomically (temp file + ``os.replace``) and ``checkpoint.json`` is written last, so
a crash at any point leaves the previous complete checkpoint readable; files of older steps are removed
only after the new sidecar is in place. Loading verifies sizes and checksums first and raises
``CheckpointError`` naming the file and the problem (missing, truncated, corrupt, mismatched config), or
naming the sidecar field that is missing or of the wrong kind.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from rnnzoo.io import atomic_write_bytes, atomic_write_json
from rnnzoo.train.fsdp import is_sharded, load_full_state

SIDECAR = "checkpoint.json"
FORMAT_VERSION = 2
FORMATS = (1, 2)  # 1: before the sidecar had its own checksum


class CheckpointError(ValueError):
    """A checkpoint that is missing, incomplete, corrupt or does not fit the model."""


def save_checkpoint(directory: str | Path, model: nn.Module, *, step: int,
                    optimizer: torch.optim.Optimizer | None = None,
                    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                    train_config: Any = None, extra: dict | None = None, weights: dict | None = None,
                    optimizer_state: dict | None = None) -> Path:
    """Write a checkpoint of ``model`` (and optimizer/scheduler/RNG) at ``step`` into ``directory``.
    ``weights`` and ``optimizer_state`` replace ``model.state_dict()`` and ``optimizer.state_dict()``: a sharded
    model passes its gathered full state (``rnnzoo.train.fsdp.full_state``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors, aliases = _unique_state(model.state_dict() if weights is None else weights)
    files = {"model": f"model-{step}.safetensors"}
    blobs = {"model": st_save(tensors)}
    if optimizer is not None:
        files["optimizer"] = f"optim-{step}.pt"
        buf = io.BytesIO()
        torch.save(optimizer.state_dict() if optimizer_state is None else optimizer_state, buf)
        blobs["optimizer"] = buf.getvalue()
    for key, data in blobs.items():
        atomic_write_bytes(directory / files[key], data)
    sidecar = {
        "format": FORMAT_VERSION,
        "step": step,
        "files": {k: {"name": files[k], "bytes": len(blobs[k]), "sha256": hashlib.sha256(blobs[k]).hexdigest()}
                  for k in files},
        "aliases": aliases,
        "model_class": type(model).__name__,
        "model_config": _config_dict(getattr(model, "config", None)),
        "train_config": _config_dict(train_config),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": _rng_state(),
        "extra": extra or {},
    }
    write_sidecar(directory, sidecar)
    keep = {f["name"] for f in sidecar["files"].values()}
    for old in [*directory.glob("model-*.safetensors"), *directory.glob("optim-*.pt")]:
        if old.name not in keep:
            old.unlink(missing_ok=True)
    return directory / SIDECAR


def write_sidecar(directory: str | Path, meta: dict) -> None:
    """Write ``meta`` as ``directory``'s sidecar with its checksum (atomically)."""
    meta = {k: v for k, v in meta.items() if k != "sha256"}
    atomic_write_json(Path(directory) / SIDECAR, {**meta, "format": FORMAT_VERSION, "sha256": _digest(meta)})


def read_sidecar(directory: str | Path) -> dict:
    """The parsed ``checkpoint.json`` of ``directory``; CheckpointError if it is missing, unreadable, fails its
    checksum, or a field is missing or of the wrong kind (naming the field)."""
    path = Path(directory) / SIDECAR
    if not path.is_file():
        raise CheckpointError(f"no checkpoint: {path} does not exist")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"corrupt checkpoint sidecar {path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") not in FORMATS or "files" not in meta:
        raise CheckpointError(f"{path} is not an rnnzoo checkpoint sidecar (format {FORMAT_VERSION})")
    if meta["format"] >= 2 and meta.get("sha256") != _digest({k: v for k, v in meta.items() if k != "sha256"}):
        raise CheckpointError(f"corrupt checkpoint sidecar {path}: its sha256 does not match its contents "
                              f"(edited or damaged)")
    _check_fields(meta, path)
    return meta


def _digest(meta: dict) -> str:
    return hashlib.sha256(json.dumps({**meta, "format": FORMAT_VERSION}, sort_keys=True,
                                     separators=(",", ":")).encode()).hexdigest()


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# field -> (test, what it must be)
_FIELDS = {
    "step": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "files": (lambda v: isinstance(v, dict) and all(
        isinstance(f, dict) and isinstance(f.get("name"), str) and "/" not in f["name"] and "\\" not in f["name"]
        and _is_int(f.get("bytes")) and isinstance(f.get("sha256"), str) for f in v.values()),
        "{key: {name (a file name), bytes, sha256}}"),
    "aliases": (lambda v: isinstance(v, dict) and all(isinstance(a, str) and isinstance(b, str)
                                                      for a, b in v.items()), "{name: name}"),
    "model_class": (lambda v: isinstance(v, str), "a class name"),
    "model_config": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "train_config": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "scheduler": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "rng": (lambda v: isinstance(v, dict) and isinstance(v.get("torch"), str) and isinstance(v.get("python"), list),
            "{torch: base64 text, python: list}"),
    "extra": (lambda v: isinstance(v, dict), "an object"),
}


def _check_fields(meta: dict, path: Path) -> None:
    for name, (ok, what) in _FIELDS.items():
        if name not in meta:
            raise CheckpointError(f"checkpoint sidecar {path}: field {name!r} is missing")
        if not ok(meta[name]):
            raise CheckpointError(f"checkpoint sidecar {path}: field {name!r} must be {what}, got {meta[name]!r:.80}")


def load_checkpoint(directory: str | Path, model: nn.Module, *,
                    optimizer: torch.optim.Optimizer | None = None,
                    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                    restore_rng: bool = False) -> dict:
    """Load weights (and optimizer/scheduler/RNG when given) into place; returns the sidecar dict.

    Refuses, with CheckpointError, a sidecar whose model config differs from ``model.config``, a weight
    file whose tensors do not match the model's names and shapes, and any file that is missing or whose
    size or sha256 differs from what the sidecar recorded (truncated or corrupted).
    """
    directory = Path(directory)
    meta = read_sidecar(directory)
    expected = _config_dict(getattr(model, "config", None))
    if meta["model_config"] is None and expected is not None:
        raise CheckpointError(f"checkpoint sidecar {directory / SIDECAR}: field 'model_config' is null, but the "
                              f"model has a config ({type(model).__name__})")
    if meta["model_config"] != expected:
        diff = sorted(k for k in set(expected or {}) | set(meta["model_config"] or {})
                      if (expected or {}).get(k) != (meta["model_config"] or {}).get(k))
        raise CheckpointError(
            f"model config in {directory / SIDECAR} does not match the model: differs in {diff} "
            f"(checkpoint {meta['model_config']}, model {expected})")
    path, data = _verified(directory, meta, "model")
    try:
        tensors = st_load(data)
    except SafetensorError as e:
        raise CheckpointError(f"corrupt weight file {path}: {e}") from None
    for alias, target in meta["aliases"].items():
        if target not in tensors:
            raise CheckpointError(f"checkpoint sidecar {directory / SIDECAR}: field 'aliases' names {target!r}, "
                                  f"which {path} does not hold")
        tensors[alias] = tensors[target]
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    wrong = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        raise CheckpointError(f"weights in {path} do not fit the model: missing {missing}, "
                              f"unexpected {unexpected}, wrong shape {wrong}")
    optimizer_state = None
    if optimizer is not None:
        path, data = _verified(directory, meta, "optimizer")
        try:
            # saved from wherever the run trained; loaded on CPU, then moved to each parameter's device
            optimizer_state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            if not is_sharded(model):
                optimizer.load_state_dict(optimizer_state)
        except Exception as e:  # unpickling errors come in many types; all mean the same thing here
            raise CheckpointError(f"cannot load optimizer state from {path}: {e}") from None
    if is_sharded(model):
        load_full_state(model, optimizer, tensors, optimizer_state)  # every rank keeps its own shard
    else:
        model.load_state_dict(tensors)
    if scheduler is not None:
        if meta["scheduler"] is None:
            raise CheckpointError(f"{directory / SIDECAR} has no scheduler state")
        try:
            scheduler.load_state_dict(meta["scheduler"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint sidecar {directory / SIDECAR}: field 'scheduler' is not a "
                                  f"scheduler state ({e!r})") from None
    if restore_rng:
        try:
            _set_rng_state(meta["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:  # binascii.Error is a ValueError
            raise CheckpointError(f"checkpoint sidecar {directory / SIDECAR}: field 'rng' is not a saved RNG "
                                  f"state ({e})") from None
    return meta


def _verified(directory: Path, meta: dict, key: str) -> tuple[Path, bytes]:
    if key not in meta["files"]:
        raise CheckpointError(f"{directory / SIDECAR} records no {key} file")
    info = meta["files"][key]
    path = directory / info["name"]
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} is missing")
    data = path.read_bytes()
    if len(data) != info["bytes"]:
        raise CheckpointError(f"checkpoint file {path} is truncated or altered: "
                              f"{len(data)} bytes, the sidecar recorded {info['bytes']}")
    if hashlib.sha256(data).hexdigest() != info["sha256"]:
        raise CheckpointError(f"checkpoint file {path} is corrupt: sha256 differs from the sidecar")
    return path, data


def _unique_state(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """State dict with shared tensors kept once (safetensors refuses shared storage) and an alias map."""
    tensors, aliases, seen = {}, {}, {}
    for name, t in state.items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if t.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[name] = t.detach().contiguous().cpu()
    return tensors, aliases


def _config_dict(config: Any) -> dict | None:
    if config is None:
        return None
    if is_dataclass(config):
        return json.loads(json.dumps(asdict(config)))  # normalise tuples -> lists as the JSON will
    raise TypeError(f"config must be a dataclass, got {type(config).__name__}")


def _rng_state() -> dict:
    def enc(t: torch.Tensor) -> str:
        return base64.b64encode(t.numpy().tobytes()).decode()

    state = {"torch": enc(torch.get_rng_state()), "python": _to_json(random.getstate())}
    if torch.cuda.is_available():
        state["cuda"] = [enc(s) for s in torch.cuda.get_rng_state_all()]
    return state


def _set_rng_state(state: dict) -> None:
    def dec(s: str) -> torch.Tensor:
        return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8)

    torch.set_rng_state(dec(state["torch"]))
    random.setstate(_from_json(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([dec(s) for s in state["cuda"]])


def _to_json(x):
    return [_to_json(v) for v in x] if isinstance(x, tuple) else x


def _from_json(x):
    return tuple(_from_json(v) for v in x) if isinstance(x, list) else x
