"""Inference: the top-k next items for a history, from a model in memory or a `rnnzoo rec --out` directory.

```python
items = recommend(model, [12, 7, 301], k=10)                 # LongTensor [10] of item ids, best first
model, data = load_recommender("runs/sasrec")                # rebuilt from results.json + best.safetensors
rows = recommend_for_user("runs/sasrec", user="196", k=10)   # [(item token, item sentence or ""), ...]
```
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from rnnzoo.apps.rec.data import SequenceData
from rnnzoo.train.device import model_device


def recommend(model: nn.Module, item_seq, k: int = 10, exclude_seen: bool = True) -> torch.Tensor:
    """History ``item_seq`` (item ids, oldest first) -> the ``k`` best-scored item ids [k], distinct, best first
    (ties: lower id first).

    The model reads the last ``max_len`` items (a cloze model the last max_len - 1 plus [MASK]); padding is
    never recommended, and with ``exclude_seen`` neither is any item of the history.
    """
    seq = torch.as_tensor(item_seq, dtype=torch.long).flatten()
    config = getattr(model, "config", None)  # Popularity has none: its list does not depend on the history
    n_items = config.n_items if config is not None else model.counts.shape[0] - 1
    if len(seq) == 0:
        raise ValueError("item_seq is empty: a recommendation needs at least one item of history")
    if int(seq.min()) < 1 or int(seq.max()) > n_items:
        raise ValueError(f"item ids must be in [1, {n_items}], got range [{int(seq.min())}, {int(seq.max())}]")
    candidates = n_items - (len(seq.unique()) if exclude_seen else 0)
    if not 1 <= k <= candidates:
        raise ValueError(f"k must be in [1, {candidates}] (the items left to recommend), got {k}")
    inputs = seq
    if config is not None:
        if getattr(config, "cloze", False):
            inputs = torch.cat([seq[len(seq) - config.max_len + 1:], torch.tensor([config.mask_token])])
        else:
            inputs = seq[-config.max_len:]
    device = model_device(model)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        scores = model.score(inputs[None].to(device), torch.tensor([len(inputs)], device=device))[0].float().cpu()
    model.train(was_training)
    scores[0] = -torch.inf
    if exclude_seen:
        scores[seq] = -torch.inf
    return scores.sort(descending=True, stable=True).indices[:k]  # ties: lower id first, as in the metrics


def load_recommender(checkpoint: str | Path) -> tuple[nn.Module, SequenceData]:
    """A ``rnnzoo rec --out`` directory -> (the best-validation model in eval mode, the run's data)."""
    from rnnzoo.apps.rec.models import build_model
    from rnnzoo.apps.rec.train import RecTrainConfig, load_data, text_tokens
    from rnnzoo.config_args import from_dict

    checkpoint = Path(checkpoint)
    results = checkpoint / "results.json"
    if not results.is_file():
        raise ValueError(f"{checkpoint}: no results.json; --checkpoint takes a directory written by "
                         f"`rnnzoo rec --out DIR`")
    saved = json.loads(results.read_text()).get("run_config")
    if saved is None:
        raise ValueError(f"{results}: written before runs saved their settings; train the model again")
    config = from_dict(RecTrainConfig, saved)
    data = load_data(config)
    model_config = dataclasses.replace(config.model, n_items=data.n_items, max_len=data.max_len)
    model = build_model(model_config, torch.as_tensor(data.item_popularity()), text_tokens(data, model_config))
    weights = checkpoint / "best.safetensors"
    if model_config.arch != "pop" or model_config.encoder:
        if not weights.is_file():
            raise ValueError(f"{checkpoint}: no best.safetensors (the run ended before its first evaluation)")
        model.load_state_dict(safetensors.torch.load_file(weights))
    return model.eval(), data


def recommend_for_user(checkpoint: str | Path, user: str, k: int = 10,
                       exclude_seen: bool = True) -> list[tuple[str, str]]:
    """The top ``k`` items after the user's whole history (validation and test items included) ->
    [(item token, item sentence or "" without a .item file)], best first."""
    model, data = load_recommender(checkpoint)
    if user not in data.user_tokens:
        raise ValueError(f"unknown user {user!r}: not among the {data.n_users} users of the run's data")
    history = data.sequences[data.user_tokens.index(user)]
    ids = recommend(model, history, k, exclude_seen)
    return [(data.item_tokens[i], data.item_text[i] if data.item_text else "") for i in ids.tolist()]
