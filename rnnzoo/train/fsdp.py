"""Fully sharded data parallelism (FSDP2, ``torch.distributed.fsdp.fully_shard``) for the Trainer.

```python
shard_model(model, torch.device("cpu"), world_size=2)    # every block, then the root, sharded over ranks
weights, moments = full_state(model, optimizer)          # collective: every rank calls it, rank 0 gets tensors
load_full_state(model, optimizer, weights, moments)      # each rank keeps its own shard of the full tensors
```

Each rank holds 1/world_size of every parameter, gradient and AdamW moment (dim-0 shards, ``DTensor``s); a
block's parameters are all-gathered just before its forward and backward and freed after, and its gradients
are reduce-scattered (averaged over ranks) as its backward finishes. The unit of sharding is each element of
every ``nn.ModuleList`` (a model's blocks) plus the root, which keeps what no block holds (embedding, tied
head, final norm).

Checkpoints stay the single-process format (``rnnzoo.train.checkpoint``): the full state dict is gathered
(``get_model_state_dict`` / ``get_optimizer_state_dict`` with ``full_state_dict``) onto rank 0's CPU and
written as safetensors plus the optimizer file, its moments keyed by parameter index as
``optimizer.state_dict()`` keys them. So a sharded run's checkpoint loads into one process (``rnnzoo
generate``, evaluation, fine-tuning) and a run can resume on another number of processes or with ``ddp``; the
cost is that rank 0 holds the whole model and moments in CPU memory while saving, which torch.distributed
.checkpoint's per-rank shard files would avoid for models larger than one machine's memory.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, fully_shard

GATHER = StateDictOptions(full_state_dict=True, cpu_offload=True)
SCATTER = StateDictOptions(full_state_dict=True)


def shard_model(model: nn.Module, device: torch.device, world_size: int) -> nn.Module:
    """Shard ``model`` in place over the ``world_size`` ranks of the default process group (on ``device``'s
    type); every rank must call it, with the same weights. Returns ``model`` (now also an ``FSDPModule``)."""
    # a block returns its mixer's final state, often a view of its output; no caller changes it in place
    warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")
    mesh = init_device_mesh(device.type, (world_size,))
    for module in list(model.modules()):
        if isinstance(module, nn.ModuleList):
            for unit in module:
                fully_shard(unit, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def is_sharded(model: nn.Module) -> bool:
    return isinstance(model, FSDPModule)


def full_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """(weights {name: CPU tensor}, ``optimizer.state_dict()``-shaped state) of the whole sharded model, on
    rank 0; empty dicts on the other ranks. A collective: every rank calls it."""
    weights = get_model_state_dict(model, options=GATHER)
    if weights:  # gathered separately; tied again so the checkpoint stores a tied weight once, as unsharded
        first = {}
        for name, p in model.named_parameters(remove_duplicate=False):
            weights[name] = weights[first.setdefault(p, name)]
    state = get_optimizer_state_dict(model, optimizer, options=GATHER)
    if not state:
        return weights, {}
    # named by parameter in the gathered dict; numbered in param-group order in optimizer.state_dict()
    index = {name: i for i, name in enumerate(n for g in state["param_groups"] for n in g["params"])}
    return weights, {"state": {index[n]: s for n, s in state["state"].items()},
                     "param_groups": [{**g, "params": [index[n] for n in g["params"]]}
                                      for g in state["param_groups"]]}


def load_full_state(model: nn.Module, optimizer: torch.optim.Optimizer | None, weights: dict,
                    optimizer_state: dict | None) -> None:
    """Load full (unsharded) ``weights`` and ``optimizer.state_dict()``-shaped state into the sharded model and
    its optimizer: each rank keeps its own shard. Every rank calls it with the same full tensors."""
    # the scatters run in the dict's order, which must be the same on every rank (safetensors' is not)
    set_model_state_dict(model, {name: weights[name] for name in model.state_dict()}, options=SCATTER)
    if optimizer is None:
        return
    # the names in the order optimizer.state_dict() numbers its parameters
    names = {p: n for n, p in model.named_parameters()}
    order = [names[p] for g in optimizer.param_groups for p in g["params"]]
    named = {"state": {order[i]: s for i, s in optimizer_state["state"].items()},
             "param_groups": [{**g, "params": [order[i] for i in g["params"]]}
                              for g in optimizer_state["param_groups"]]}
    set_optimizer_state_dict(model, optimizer, named, options=SCATTER)
