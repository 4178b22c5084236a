"""Recformer (Li et al. 2023, Text Is All You Need: Learning Language Representations for Sequential
Recommendation): users and items as text, encoded by one bidirectional encoder.

Input (Sec. 2.2): ``[CLS]`` followed by the sentences of the user's last ``text_history`` items, most recent
first (Recformer reverses the history so the latest items survive truncation), each sentence its first
``item_words`` words (``rec.text``). Embedding of a token (Eq. 1): LayerNorm(word + token position + token
type ([CLS], key, value) + item position (0 for [CLS], j for the j-th most recent item)). Encoder: ``n_layers``
pre-norm ``Block``s of a registry mixer (Recformer uses Longformer; here ``attention`` by default), a causal
mixer run as ``Bidirectional`` with each row reversed within its own length (padding never enters either
direction); a non-causal registry mixer (``hydra``) runs as it is and also reads the padding. An item's embedding is the same encoder over its own sentence alone (Sec. 2.3).

The representation is the mean output over a row's real tokens ([CLS] included), not the paper's [CLS] output:
without pre-training, a randomly initialised encoder gives every input nearly the same [CLS] output (mean
cosine 0.999 between ml-100k items), which leaves the temperature-0.05 softmax flat; the mean starts at 0.96
and learned about 5x faster (valid NDCG@10 0.0097 against 0.0018 after 64 steps of the default run).

Score (Eq. 7): cos(h_user, I_item) / temperature (0.05, the paper's). Fine-tuning (Sec. 2.4.2, two stages):
softmax cross-entropy over the whole catalogue against an item embedding matrix I that is encoded without
gradients; stage 1 re-encodes I at the start of every epoch (``refresh_epochs`` epochs), stage 2 keeps the
last I frozen and trains the encoder on. Two departures: the paper restarts stage 2 from stage 1's best
checkpoint (here training continues from the last stage-1 weights in the same optimiser run), and stage 1
here also encodes each batch's target items anew with gradients (their rows of I replaced), because the
item side has had no pre-training to start from: the paper pre-trains on Amazon item text (masked language
modelling plus item-item contrastive), which is out of reach offline, so everything here is learned
in-domain.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.apps.rec.recommend import recommend
from rnnzoo.apps.rec.text import CLS_TOKEN, TYPE_CLS, ItemTokens
from rnnzoo.mixers import Bidirectional
from rnnzoo.models.block import Block


def pack(tokens: torch.Tensor, types: torch.Tensor, item_pos: torch.Tensor, valid: torch.Tensor
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slots [B, S] (tokens, types, item positions; ``valid`` marks the real ones) -> the real ones moved left
    after a [CLS]: (tokens, types, item positions [B, 1 + max real], lengths [B]), right-padded with 0."""
    b = tokens.shape[0]
    lengths = valid.sum(1) + 1
    col = valid.cumsum(1)  # a real slot's column after the [CLS] at column 0
    row = torch.arange(b, device=tokens.device)[:, None].expand_as(col)
    outs = []
    for src, first in ((tokens, CLS_TOKEN), (types, TYPE_CLS), (item_pos, 0)):
        out = torch.zeros(b, int(lengths.max()), dtype=src.dtype, device=src.device)
        out[:, 0] = first
        out[row[valid], col[valid]] = src[valid]
        outs.append(out)
    return (*outs, lengths)


class Recformer(nn.Module):
    """seq: [B, T] right-padded item ids -> scores [B, n_items + 1] against the cached item embeddings."""

    def __init__(self, config, tokens: ItemTokens):
        super().__init__()
        c, d = config, config.d_model
        self.config = config
        self.register_buffer("tok_ids", tokens.ids, persistent=False)  # rebuilt from the data, not saved
        self.register_buffer("tok_types", tokens.types, persistent=False)
        self.register_buffer("tok_lengths", tokens.lengths, persistent=False)
        p = tokens.ids.shape[1]
        self.word = nn.Embedding(len(tokens.vocab), d, padding_idx=0)
        self.token_pos = nn.Embedding(1 + c.text_history * p, d)
        self.token_type = nn.Embedding(4, d)
        self.item_pos = nn.Embedding(1 + c.text_history, d)
        self.emb_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(c.drop)
        name = c.encoder or "attention"
        opts = c.mixer_options

        def mixer():
            return Bidirectional(name, d, **opts) if mixers.get(name).causal else mixers.build(name, d, **opts)

        self.layers = nn.ModuleList(Block(mixer(), c.inner_size / d, c.drop) for _ in range(c.n_layers))
        self.out_norm = nn.RMSNorm(d)
        for m in self.modules():
            if isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
        # the item embedding matrix I of the fine-tuning stages (saved: stage 2 scores against a frozen one)
        self.register_buffer("item_cache", torch.zeros(c.n_items + 1, d))

    def encode(self, tokens, types, item_pos, lengths) -> torch.Tensor:
        """Packed rows [B, S] (see ``pack``), lengths [B] -> mean output over each row's real tokens [B, d_model]."""
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.word(tokens) + self.token_pos(pos) + self.token_type(types) + self.item_pos(item_pos)
        x = self.dropout(self.emb_norm(x))
        for layer in self.layers:
            x, _ = layer(x, lengths=lengths)
        real = (pos[None] < lengths[:, None]).to(x.dtype)[..., None]
        return (self.out_norm(x) * real).sum(1) / real.sum(1)

    def encode_items(self, ids: torch.Tensor) -> torch.Tensor:
        """Item ids [N] -> their sentence embeddings [N, d_model] (item position 1, as a one-item history)."""
        tokens, types = self.tok_ids[ids], self.tok_types[ids]
        valid = torch.arange(tokens.shape[1], device=ids.device)[None] < self.tok_lengths[ids][:, None]
        return self.encode(*pack(tokens, types, torch.ones_like(tokens), valid))

    def encode_histories(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """seq [B, T] right-padded, lengths [B] -> user embeddings [B, d_model] from the last text_history items."""
        h = self.config.text_history
        j = torch.arange(h, device=seq.device)[None]
        idx = (lengths[:, None] - 1 - j).clamp(min=0)  # most recent first
        recent = seq.gather(1, idx) if seq.shape[1] else seq.new_zeros(len(seq), h)
        has = j < lengths[:, None]
        recent = recent.masked_fill(~has, 0)
        tokens, types = self.tok_ids[recent], self.tok_types[recent]  # [B, H, P]
        p = tokens.shape[2]
        valid = torch.arange(p, device=seq.device) < self.tok_lengths[recent][..., None]
        item_pos = (j + 1)[..., None].expand_as(tokens)
        return self.encode(*pack(tokens.flatten(1), types.flatten(1), item_pos.flatten(1), valid.flatten(1)))

    @torch.no_grad()
    def refresh_items(self, chunk: int = 512) -> None:
        """Re-encode every item into ``item_cache`` (dropout off), the per-epoch update of stage 1."""
        training = self.training
        self.eval()
        ids = torch.arange(self.config.n_items + 1, device=self.item_cache.device)
        for i in range(0, len(ids), chunk):
            self.item_cache[i:i + chunk] = self.encode_items(ids[i:i + chunk])
        self.train(training)

    def score(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Histories [B, T], lengths [B] -> cos(user, item) / temperature [B, n_items + 1]."""
        user = nn.functional.normalize(self.encode_histories(seq, lengths), dim=-1)
        return user @ nn.functional.normalize(self.item_cache, dim=-1).T / self.config.temperature

    def loss(self, seq: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
             encode_targets: bool = False) -> torch.Tensor:
        """Cross-entropy of the next items targets [B] over the whole catalogue (padding excluded) against
        ``item_cache``; with ``encode_targets`` the batch's target rows are encoded anew, with gradients."""
        items = self.item_cache
        if encode_targets:
            ids = targets.unique()
            items = items.index_put((ids,), self.encode_items(ids))
        user = nn.functional.normalize(self.encode_histories(seq, lengths), dim=-1)
        logits = user @ nn.functional.normalize(items, dim=-1).T / self.config.temperature
        logits[:, 0] = -torch.inf
        return nn.functional.cross_entropy(logits.float(), targets)

    def recommend(self, item_seq, k: int = 10, exclude_seen: bool = True) -> torch.Tensor:
        """History (item ids, oldest first) -> the k best item ids [k] (``rec.recommend.recommend``)."""
        return recommend(self, item_seq, k, exclude_seen)
