"""Sequential recommenders: popularity, GRU4Rec, SASRec, BERT4Rec, and any registry mixer as encoder.

All learned models embed item ids (0 = padding) and score every item by a dot product with the same
item embedding table (tied output, as in RecBole). Sequences are right-padded: item ``t`` of a user
sits at position ``t``, so a causal encoder never reads padding before a real item.

- ``gru4rec`` (Hidasi et al. 2016; RecBole's CE variant): embedding 64 -> dropout 0.3 -> 1-layer GRU(128)
  -> Linear(128, 64), next-item cross-entropy over all items.
- ``sasrec`` (Kang & McAuley 2018, Self-Attentive Sequential Recommendation): item + learned position
  embedding, LayerNorm, dropout, 2 post-norm Transformer layers (2 heads, d 64, FFN 256, GELU,
  dropout 0.5 on attention and hidden states, RecBole's SASRec.yaml), causal mask.
- ``bert4rec`` (Sun et al. 2019, BERT4Rec): the same encoder without the causal mask, dropout 0.2, a
  [MASK] token (id n_items + 1); cloze training masks each item with probability 0.2 and predicts the
  masked ones; at test time a [MASK] is appended to the history and its output scores the next item.
  Output head Linear -> GELU -> LayerNorm, plus a per-item bias (RecBole's BERT4Rec).
- ``encoder=<registry name>``: item embedding -> dropout -> n_layers of (RMSNorm -> mixer -> dropout ->
  residual -> RMSNorm -> MLP -> dropout -> residual) -> RMSNorm. Under the ``next`` objective
  (SASRec-style) the mixer must be causal; under ``cloze`` (BERT4Rec-style) a causal mixer is run
  bidirectionally (``PaddedBidirectional``: the backward copy reads each sequence reversed within its
  own length, so padding never enters either direction's state).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.mixers import Bidirectional
from rnnzoo.models.block import MLP

MODELS = ("pop", "gru4rec", "sasrec", "bert4rec")
OBJECTIVES = ("next", "cloze")


@dataclass
class RecConfig:
    n_items: int                     # real items, ids 1..n_items (0 = padding)
    model: str = "sasrec"            # one of MODELS; ignored when encoder is set
    encoder: str | None = None       # registry mixer name: replaces the Transformer encoder
    objective: str | None = None     # "next" | "cloze"; None: "cloze" for bert4rec, else "next"
    max_len: int = 50
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 2
    inner_size: int = 256
    dropout: float | None = None     # None: RecBole's default (sasrec 0.5, bert4rec 0.2, gru4rec 0.3)
    mask_ratio: float = 0.2
    gru_hidden: int = 128
    mixer_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_items < 1:
            raise ValueError(f"n_items must be >= 1, got {self.n_items}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.objective is None:
            self.objective = "cloze" if self.model == "bert4rec" else "next"
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.encoder is None and self.model != "pop" and self.objective != ("cloze" if self.model == "bert4rec"
                                                                               else "next"):
            raise ValueError(f"model {self.model!r} has a fixed objective; objective={self.objective!r} "
                             f"applies to --encoder models only")
        if self.encoder is not None:
            mixers.make_config(self.encoder, self.d_model, **self.mixer_options)  # unknown name/options raise
            if self.objective == "next" and not mixers.get(self.encoder).causal:
                raise ValueError(f"the next-item objective needs a causal encoder; {self.encoder!r} is not "
                                 f"causal (use objective='cloze')")
        if self.dropout is None:  # RecBole defaults; an encoder takes those of its objective's Transformer
            key = ("bert4rec" if self.objective == "cloze" else "sasrec") if self.encoder else self.model
            self.dropout = {"sasrec": 0.5, "bert4rec": 0.2, "gru4rec": 0.3, "pop": 0.0}[key]
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")

    @property
    def mask_token(self) -> int:
        return self.n_items + 1

    @property
    def name(self) -> str:
        return f"{self.encoder}-{self.objective}" if self.encoder else self.model


class Popularity(nn.Module):
    """Scores every item by its training interaction count, the same list for every user."""

    def __init__(self, counts: torch.Tensor):
        super().__init__()
        self.register_buffer("counts", counts.double())

    def score(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.counts[None].expand(seq.shape[0], -1)


class SeqRec(nn.Module):
    """Embedding -> sequence encoder -> dot product with the item table. seq: [B, T] right-padded ids."""

    def __init__(self, config: RecConfig):
        super().__init__()
        c = self.config = config
        self.cloze = c.objective == "cloze"
        d = c.d_model
        self.item_emb = nn.Embedding(c.n_items + 1 + self.cloze, d, padding_idx=0)
        self.dropout = nn.Dropout(c.dropout)
        self.pos_emb = self.emb_norm = self.head = self.bias = None
        if c.encoder is not None:
            self.layers = nn.ModuleList(MixerLayer(c, bidirectional=self.cloze and mixers.get(c.encoder).causal)
                                        for _ in range(c.n_layers))
            self.out_norm = nn.RMSNorm(d)
            nn.init.normal_(self.item_emb.weight, std=0.02)
        elif c.model == "gru4rec":
            self.gru = nn.GRU(d, c.gru_hidden, batch_first=True)
            self.proj = nn.Linear(c.gru_hidden, d)
            nn.init.xavier_normal_(self.item_emb.weight)
            for name, p in self.gru.named_parameters():
                if name.startswith("weight"):
                    nn.init.xavier_uniform_(p)
        else:  # sasrec / bert4rec
            self.pos_emb = nn.Embedding(c.max_len, d)
            self.emb_norm = nn.LayerNorm(d, eps=1e-12)
            layer = nn.TransformerEncoderLayer(d, c.n_heads, c.inner_size, c.dropout, activation="gelu",
                                               layer_norm_eps=1e-12, batch_first=True)
            self.transformer = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
            if self.cloze:
                self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d, eps=1e-12))
                self.bias = nn.Parameter(torch.zeros(c.n_items + 1))
            for m in self.modules():  # RecBole/BERT init: N(0, 0.02) weights, zero biases, unit LayerNorm
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.MultiheadAttention):
                    nn.init.normal_(m.in_proj_weight, std=0.02)
                    nn.init.zeros_(m.in_proj_bias)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def hidden(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """seq: [B, T] ids, lengths: [B] -> hidden states [B, T, d_model]."""
        c = self.config
        x = self.item_emb(seq)
        if c.encoder is not None:
            x = self.dropout(x)
            for layer in self.layers:
                x = layer(x, lengths)
            return self.out_norm(x)
        if c.model == "gru4rec":
            h, _ = self.gru(self.dropout(x))
            return self.proj(h)
        t = seq.shape[1]
        x = self.dropout(self.emb_norm(x + self.pos_emb(torch.arange(t, device=seq.device))))
        if self.cloze:
            x = self.transformer(x, src_key_padding_mask=seq == 0)
            return self.head(x)
        causal = nn.Transformer.generate_square_subsequent_mask(t, device=seq.device)
        return self.transformer(x, mask=causal, is_causal=True)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """h: [..., d_model] -> [..., n_items + 1] scores (column 0 = padding, the mask token excluded)."""
        out = h @ self.item_emb.weight[: self.config.n_items + 1].T
        return out if self.bias is None else out + self.bias

    def score(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Histories [B, T] right-padded, lengths [B] -> next-item scores [B, n_items + 1].

        Cloze models expect the appended [MASK] already in ``seq`` (see ``train.eval_batch``).
        """
        h = self.hidden(seq, lengths)
        return self.logits(h[torch.arange(seq.shape[0], device=seq.device), lengths - 1])

    def loss(self, seq: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over all items at labelled positions; labels [B, T] with -100 elsewhere."""
        h = self.hidden(seq, lengths)
        keep = labels != -100
        return nn.functional.cross_entropy(self.logits(h[keep]).float(), labels[keep])


class MixerLayer(nn.Module):
    """Pre-norm residual layer around a registry mixer, with RecBole-style dropout on both branches."""

    def __init__(self, c: RecConfig, bidirectional: bool):
        super().__init__()
        self.norm1, self.norm2 = nn.RMSNorm(c.d_model), nn.RMSNorm(c.d_model)
        self.mixer = (PaddedBidirectional(c.encoder, c.d_model, **c.mixer_options) if bidirectional
                      else mixers.build(c.encoder, c.d_model, **c.mixer_options))
        self.mlp = MLP(c.d_model, c.inner_size / c.d_model)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        h = self.mixer.forward_padded(h, lengths) if isinstance(self.mixer, PaddedBidirectional) else self.mixer(h)[0]
        x = x + self.dropout(h)
        return x + self.dropout(self.mlp(self.norm2(x)))


class PaddedBidirectional(Bidirectional):
    """``Bidirectional`` for right-padded batches: the backward copy reads x[len-1], ..., x[0], then padding."""

    def forward_padded(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x: [B, T, d_model], lengths: [B] -> [B, T, d_model]; outputs at padded positions are junk."""
        return self.both_directions(x, lambda t: reverse_padded(t, lengths))


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first lengths[b] steps, leave the padding after them in place. x: [B, T, ...]."""
    t = torch.arange(x.shape[1], device=x.device)[None]
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return x.gather(1, idx.view(*idx.shape, *[1] * (x.dim() - 2)).expand_as(x))


def build_model(config: RecConfig, item_counts: torch.Tensor | None = None) -> nn.Module:
    """``Popularity`` for model 'pop' (needs item_counts [n_items + 1]), else a ``SeqRec``."""
    if config.model == "pop" and config.encoder is None:
        if item_counts is None or item_counts.shape != (config.n_items + 1,):
            raise ValueError(f"the popularity model needs item_counts of shape ({config.n_items + 1},)")
        return Popularity(item_counts)
    return SeqRec(config)
