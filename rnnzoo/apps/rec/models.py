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
- ``encoder=<registry name>``: item embedding -> dropout -> n_layers ``rnnzoo.models.Block`` (RMSNorm -> mixer
  -> dropout -> residual -> RMSNorm -> MLP -> dropout -> residual) -> RMSNorm. Under the ``next`` objective
  (SASRec-style) the mixer must be causal; under ``cloze`` (BERT4Rec-style) a causal mixer is run as
  ``Bidirectional``, and the Block, given the lengths, has the backward copy read each sequence reversed
  within its own length, so padding never enters either direction's state.

- ``items='text'``: any of the learned models above with the item table computed from item text
  (``TextItems``: the mean word embedding of each item's sentence) instead of one vector per item id.
- ``recformer`` (Li et al. 2023): users and items as text through one bidirectional encoder
  (``rec.recformer``).

Classes: ``Popularity``; ``SeqRec`` (item table, tied scores, loss) with one subclass per encoder family:
``GRU4Rec``, ``TransformerRec`` (sasrec, bert4rec), ``MixerRec`` (encoder=...); ``Recformer`` in its own file.
Every model has ``recommend(item_seq, k)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.apps.rec.actr import base_level_activation
from rnnzoo.apps.rec.contrastive import cross_subsequence_pairs, info_nce
from rnnzoo.apps.rec.data import PAD
from rnnzoo.apps.rec.recommend import recommend
from rnnzoo.apps.rec.text import TYPE_VALUE, ItemTokens
from rnnzoo.config_args import option
from rnnzoo.labels import IGNORE
from rnnzoo.mixers import Bidirectional
from rnnzoo.models.block import Block

MODELS = ("pop", "gru4rec", "sasrec", "bert4rec", "recformer")
OBJECTIVES = ("next", "cloze")
ITEMS = ("id", "text")


@dataclass
class RecConfig:
    n_items: int | None = option(None, "real items, ids 1..n_items (0 = padding); None: train_rec takes it from the "
                                       "data", derived=True)
    arch: str = option("sasrec", "the recommender; ignored when encoder is set, except recformer, whose encoder "
                                 "it then picks", choices=MODELS)
    encoder: str | None = option(None, "registry mixer as the sequence encoder, replacing the Transformer, with "
                                       "options as in gla:num_heads=2 (see `rnnzoo list`); recformer: None is "
                                       "attention, a causal mixer runs bidirectionally", spec_of="mixer_options")
    items: str = option("id", "item representation of gru4rec, sasrec, bert4rec and encoder models: 'id' (a "
                              "learned vector per item) or 'text' (the mean word embedding of the item's sentence "
                              "from the .item file, so items never trained on still get one)", choices=ITEMS)
    item_words: int = option(12, "text models: words kept per item sentence, keys included")
    text_history: int = option(8, "recformer: most recent history items it reads as text (the paper reads 50 "
                                   "items, 1024 tokens; 8 keeps a CPU run short)")
    examples_per_epoch: int = option(2048, "recformer: (history, next item) examples drawn per epoch from all "
                                           "training targets (ml-100k has ~97k; all of them per epoch is too slow "
                                           "on a CPU)")
    temperature: float = option(0.05, "recformer: softmax temperature over cosine similarities (the paper's)")
    refresh_epochs: int = option(20, "recformer: stage-1 epochs, re-encoding every item at each epoch start; "
                                    "the epochs after it keep the item embeddings frozen (stage 2)")
    objective: str | None = option(None, "for encoder: 'next' (SASRec-style next item) or 'cloze' (BERT4Rec-style); "
                                         "None: 'cloze' for bert4rec, else 'next'", choices=OBJECTIVES)
    max_len: int = option(50, "positions the model reads; train_rec takes it from the data", derived=True)
    d_model: int = option(64, "embedding and hidden width")
    n_layers: int = option(2, "encoder layers")
    n_heads: int = option(2, "attention heads (sasrec, bert4rec)")
    inner_size: int = option(256, "feed-forward width (Transformer FFN; MLP of an encoder's blocks)")
    dropout: float | None = option(None, "None: RecBole's default for the model (sasrec 0.5, bert4rec 0.2, "
                                         "gru4rec 0.3; an encoder takes its objective's; recformer 0.1, "
                                         "Longformer's)")
    mask_ratio: float = option(0.2, "cloze: probability that an item is masked")
    last_ratio: float = option(0.5, "cloze: fraction of the training batches made of last-item rows, each a "
                                    "training target's history + [MASK] (the test-time input), drawn from every "
                                    "target (RecBole's ft_ratio); 0: plain cloze")
    gru_hidden: int = option(128, "gru4rec: GRU width")
    mixer_options: dict = option(factory=dict, help="config overrides for the encoder mixer")
    contrastive_weight: float = option(0.0, "ICSRec's cross-subsequence intent contrastive loss (rec.contrastive): "
                                            "weight of its InfoNCE term added to the loss; 0: off (learned models)")
    contrastive_temperature: float = option(1.0, "temperature of that InfoNCE")
    contrastive_pairs: int = option(512, "most (anchor, positive) pairs of subsequences with the same target per "
                                         "batch")
    decoupled: bool = option(False, "DARE: a second item table for attention (queries and keys of every layer) "
                                    "apart from the one that forms the values and scores the items (sasrec, "
                                    "bert4rec)")
    actr: bool = option(False, "repeat-aware scoring: add a learned weight times ACT-R's base-level activation of "
                               "each item in the history (rec.actr) to the scores (learned models)")
    actr_decay: float = option(0.5, "ACT-R decay d of the activation ln(1 + sum lag^-d) (ACT-R's default 0.5)")

    # Fields stay as given (None included; ``dataclasses.replace`` and the CLI re-read them): the defaults that
    # None stands for are the properties ``cloze`` and ``drop``.
    def __post_init__(self) -> None:
        if self.n_items is not None and self.n_items < 1:
            raise ValueError(f"n_items must be >= 1, got {self.n_items}")
        if self.arch not in MODELS:
            raise ValueError(f"arch must be one of {MODELS}, got {self.arch!r}")
        if self.objective is not None and self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES} or None, got {self.objective!r}")
        fixed = "cloze" if self.arch == "bert4rec" else "next"
        if self.arch == "recformer":
            if self.objective not in (None, "next"):
                raise ValueError(f"recformer trains on the next item; objective={self.objective!r} does not apply")
            if self.encoder is not None:
                mixers.make_config(self.encoder, self.d_model, **self.mixer_options)
            for name in ("text_history", "refresh_epochs", "examples_per_epoch"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
            if not self.temperature > 0:
                raise ValueError(f"temperature must be > 0, got {self.temperature}")
        elif self.encoder is None and self.arch != "pop" and self.objective not in (None, fixed):
            raise ValueError(f"arch {self.arch!r} has a fixed objective; objective={self.objective!r} "
                             f"applies to --encoder models only")
        elif self.encoder is not None:
            mixers.make_config(self.encoder, self.d_model, **self.mixer_options)  # unknown name/options raise
            if not self.cloze and not mixers.get(self.encoder).causal:
                raise ValueError(f"the next-item objective needs a causal encoder; {self.encoder!r} is not "
                                 f"causal (use objective='cloze')")
        if self.items not in ITEMS:
            raise ValueError(f"items must be one of {ITEMS}, got {self.items!r}")
        if self.item_words < 1:
            raise ValueError(f"item_words must be >= 1, got {self.item_words}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1) or None, got {self.dropout}")
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
        if not 0 <= self.last_ratio <= 1:
            raise ValueError(f"last_ratio must be in [0, 1], got {self.last_ratio}")
        learned = self.arch != "recformer" and (self.encoder is not None or self.arch != "pop")
        for name, on in (("contrastive_weight", self.contrastive_weight != 0), ("actr", self.actr)):
            if on and not learned:
                raise ValueError(f"{name} applies to gru4rec, sasrec, bert4rec and encoder models, not {self.arch}")
        if self.contrastive_weight < 0 or not self.contrastive_temperature > 0 or self.contrastive_pairs < 1:
            raise ValueError(f"contrastive_weight must be >= 0, contrastive_temperature > 0 and contrastive_pairs "
                             f">= 1, got {self.contrastive_weight}, {self.contrastive_temperature}, "
                             f"{self.contrastive_pairs}")
        if self.decoupled and (self.encoder is not None or self.arch not in ("sasrec", "bert4rec")):
            raise ValueError("decoupled (DARE) embeddings apply to the attention recommenders sasrec and bert4rec")
        if self.decoupled and self.uses_text:
            raise ValueError("decoupled (DARE) embeddings are item-ID tables; items='text' does not apply")
        if not self.actr_decay > 0:
            raise ValueError(f"actr_decay must be > 0, got {self.actr_decay}")

    @property
    def goal(self) -> str:
        """The objective trained: ``objective``, else 'cloze' for bert4rec and 'next' for the others."""
        return self.objective or ("cloze" if self.arch == "bert4rec" else "next")

    @property
    def cloze(self) -> bool:
        return self.goal == "cloze"

    @property
    def drop(self) -> float:
        """``dropout``, else RecBole's default (an encoder takes that of its objective's Transformer)."""
        if self.dropout is not None:
            return self.dropout
        key = ("bert4rec" if self.cloze else "sasrec") if self.encoder and self.arch != "recformer" else self.arch
        return {"sasrec": 0.5, "bert4rec": 0.2, "gru4rec": 0.3, "pop": 0.0, "recformer": 0.1}[key]

    @property
    def mask_token(self) -> int:
        return self.n_items + 1

    @property
    def uses_text(self) -> bool:
        """The model reads item sentences (recformer, or items='text'), so the data needs a .item file."""
        return self.arch == "recformer" or (self.items == "text" and (self.arch != "pop" or self.encoder))

    @property
    def name(self) -> str:
        if self.arch == "recformer":
            return f"recformer-{self.encoder}" if self.encoder else "recformer"
        base = f"{self.encoder}-{self.goal}" if self.encoder else self.arch
        base = f"{base}-text" if self.uses_text else base
        options = (("icl", self.contrastive_weight > 0), ("dare", self.decoupled), ("actr", self.actr))
        return "+".join([base] + [tag for tag, on in options if on])


class Popularity(nn.Module):
    """Scores every item by its training interaction count, the same list for every user."""

    def __init__(self, counts: torch.Tensor):
        super().__init__()
        self.register_buffer("counts", counts.double())

    def score(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.counts[None].expand(seq.shape[0], -1)

    def recommend(self, item_seq, k: int = 10, exclude_seen: bool = True) -> torch.Tensor:
        """History (item ids, oldest first) -> the k best item ids [k] (``rec.recommend.recommend``)."""
        return recommend(self, item_seq, k, exclude_seen)


class TextItems(nn.Module):
    """Item table from text: row i = mean embedding of the value words of item i's sentence (``rec.text``;
    keys, shared by every item, are left out). -> [n_items + 1, d_model]; the padding row (no words) is zero."""

    def __init__(self, tokens: ItemTokens, d_model: int):
        super().__init__()
        self.register_buffer("ids", tokens.ids, persistent=False)  # rebuilt from the data, not saved
        self.register_buffer("keep", (tokens.types == TYPE_VALUE).float(), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(tokens.vocab), d_model))

    def forward(self) -> torch.Tensor:
        summed = torch.einsum("np,npd->nd", self.keep, self.weight[self.ids])
        return summed / self.keep.sum(1, keepdim=True).clamp(min=1)


class SeqRec(nn.Module):
    """Item embedding -> sequence encoder (``hidden``, one subclass per family) -> dot product with the item
    table. seq: [B, T] right-padded ids; cloze models have one more embedding row, [MASK] = n_items + 1.
    With ``items='text'`` the table comes from ``TextItems`` (plus a learned [MASK] row for cloze models)."""

    def __init__(self, config: RecConfig, tokens: ItemTokens | None = None):
        super().__init__()
        if config.n_items is None:
            raise ValueError("RecConfig.n_items is unset; train_rec fills it from the data")
        self.config = config
        self.cloze = config.cloze
        if config.uses_text:
            if tokens is None:
                raise ValueError("items='text' needs the item sentences (tokens from rec.text.tokenize_items)")
            self.item_text = TextItems(tokens, config.d_model)
            self.extra = nn.Parameter(torch.empty(int(self.cloze), config.d_model))  # the [MASK] row
        else:
            self.item_emb = nn.Embedding(config.n_items + 1 + self.cloze, config.d_model, padding_idx=0)
        self.dropout = nn.Dropout(config.drop)
        self.bias: nn.Parameter | None = None  # per-item output bias (BERT4Rec)
        self.actr_weight = nn.Parameter(torch.zeros(())) if config.actr else None
        if self.actr_weight is not None:  # one scalar on the logit scale: a larger step so a short run can move it
            self.actr_weight._lr_scale = 10.0

    def _init_items(self, init) -> None:
        """A subclass's init of the item table (the ID rows, or the word and [MASK] rows of a text table);
        the padding row of an ID table then embeds to zero."""
        if self.config.uses_text:
            init(self.item_text.weight)
            init(self.extra) if self.extra.numel() else None
            return
        init(self.item_emb.weight)
        self._zero_padding()

    def _zero_padding(self) -> None:
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def item_table(self) -> torch.Tensor:
        """[n_items + 1 (+ 1 [MASK] row for cloze), d_model]: the input embeddings and the output scores."""
        if self.config.uses_text:
            return torch.cat([self.item_text(), self.extra])
        return self.item_emb.weight

    def embed(self, seq: torch.Tensor) -> torch.Tensor:
        """seq [B, T] ids -> [B, T, d_model]."""
        return nn.functional.embedding(seq, self.item_table())

    def hidden(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """seq: [B, T] ids, lengths: [B] -> hidden states [B, T, d_model]."""
        raise NotImplementedError

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """h: [..., d_model] -> [..., n_items + 1] scores (column 0 = padding, the mask token excluded)."""
        out = h @ self.item_table()[: self.config.n_items + 1].T
        return out if self.bias is None else out + self.bias

    def repeat_term(self, seq: torch.Tensor) -> torch.Tensor:
        """seq [B, T] -> [B, T, n_items + 1]: the learned weight times the ACT-R activation of every item for the
        prediction at each position, from the items before the predicted one only (``rec.actr``)."""
        c = self.config
        return self.actr_weight * base_level_activation(seq, c.n_items, c.actr_decay, offset=int(not self.cloze))

    def score(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Histories [B, T] right-padded, lengths [B] -> next-item scores [B, n_items + 1].

        Cloze models expect the appended [MASK] already in ``seq`` (see ``batches.eval_batch``).
        """
        h = self.hidden(seq, lengths)
        last = (torch.arange(seq.shape[0], device=seq.device), lengths - 1)
        out = self.logits(h[last])
        return out if self.actr_weight is None else out + self.repeat_term(seq)[last]

    def loss(self, seq: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over all items at labelled positions; labels [B, T] with IGNORE elsewhere. With
        ``contrastive_weight`` (training only) plus that weight times ICSRec's cross-subsequence InfoNCE over
        labelled positions that share a target (``rec.contrastive``)."""
        c = self.config
        h = self.hidden(seq, lengths)
        keep = labels != IGNORE
        logits = self.logits(h[keep])
        if self.actr_weight is not None:
            logits = logits + self.repeat_term(seq)[keep]
        loss = nn.functional.cross_entropy(logits.float(), labels[keep])
        if c.contrastive_weight > 0 and self.training:
            anchor, positive = cross_subsequence_pairs(labels[keep], c.contrastive_pairs)
            if len(anchor) > 1:
                z, y = h[keep], labels[keep]
                loss = loss + c.contrastive_weight * info_nce(z[anchor], z[positive], y[anchor],
                                                              c.contrastive_temperature)
        return loss

    def recommend(self, item_seq, k: int = 10, exclude_seen: bool = True) -> torch.Tensor:
        """History (item ids, oldest first) -> the k best item ids [k] (``rec.recommend.recommend``)."""
        return recommend(self, item_seq, k, exclude_seen)


class GRU4Rec(SeqRec):
    """Embedding -> dropout -> GRU without biases -> Linear back to d_model (RecBole's GRU4Rec, Xavier init)."""

    def __init__(self, config: RecConfig, tokens: ItemTokens | None = None):
        super().__init__(config, tokens)
        self.gru = nn.GRU(config.d_model, config.gru_hidden, bias=False, batch_first=True)  # RecBole: no bias
        self.proj = nn.Linear(config.gru_hidden, config.d_model)
        self._init_items(nn.init.xavier_normal_)
        for name, p in self.gru.named_parameters():
            if name.startswith("weight"):
                nn.init.xavier_uniform_(p)

    def hidden(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(self.dropout(self.embed(seq)))
        return self.proj(h)


class TransformerRec(SeqRec):
    """SASRec (causal mask) or BERT4Rec (cloze: no mask, padding masked as keys, output head and item bias).

    ``decoupled`` (DARE, Feng et al. 2024, *Long-Sequence Recommendation Models Need Decoupled Embeddings*): a
    second item table ``att_emb`` (+ the shared position embedding, its own LayerNorm) gives the queries and keys
    of every layer, while ``item_emb`` starts the residual stream that gives the values and scores the items; so
    ``att_emb`` learns only through the attention weights and ``item_emb`` never through them. DARE's models
    attend from a target over raw history embeddings; in a self-attention stack this means every layer's
    attention pattern is computed from the items and positions alone, not from the contextual states.
    """

    def __init__(self, config: RecConfig, tokens: ItemTokens | None = None):
        super().__init__(config, tokens)
        c, d = config, config.d_model
        self.pos_emb = nn.Embedding(c.max_len, d)
        self.emb_norm = nn.LayerNorm(d, eps=1e-12)
        layer = nn.TransformerEncoderLayer(d, c.n_heads, c.inner_size, c.drop, activation="gelu",
                                           layer_norm_eps=1e-12, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
        for block in self.transformer.layers:  # RecBole's FeedForward drops out after its second Linear only;
            block.dropout = nn.Identity()      # torch's layer also drops the GELU output (its ``dropout``)
        if self.cloze:
            self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d, eps=1e-12))
            self.bias = nn.Parameter(torch.zeros(c.n_items + 1))
        if c.decoupled:
            self.att_emb = nn.Embedding(c.n_items + 1 + self.cloze, d, padding_idx=0)
            self.att_norm = nn.LayerNorm(d, eps=1e-12)
        for m in self.modules():  # RecBole/BERT init: N(0, 0.02) weights, zero biases, unit LayerNorm
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.MultiheadAttention):
                nn.init.normal_(m.in_proj_weight, std=0.02)
                nn.init.zeros_(m.in_proj_bias)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        if config.uses_text:
            self._init_items(lambda w: nn.init.normal_(w, std=0.02))
        else:  # the ID table was drawn first in the loop above
            self._zero_padding()
        if c.decoupled:
            with torch.no_grad():
                self.att_emb.weight[0].zero_()

    def hidden(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        t = seq.shape[1]
        pos = self.pos_emb(torch.arange(t, device=seq.device))
        x = self.dropout(self.emb_norm(self.embed(seq) + pos))
        if self.config.decoupled:
            a = self.dropout(self.att_norm(self.att_emb(seq) + pos))
            mask = None if self.cloze else nn.Transformer.generate_square_subsequent_mask(t, device=seq.device)
            pad = seq == PAD if self.cloze else None
            for layer in self.transformer.layers:
                x = _decoupled_layer(layer, x, a, mask, pad)
            return self.head(x) if self.cloze else x
        if self.cloze:
            return self.head(self.transformer(x, src_key_padding_mask=seq == PAD))
        causal = nn.Transformer.generate_square_subsequent_mask(t, device=seq.device)
        return self.transformer(x, mask=causal, is_causal=True)


def _decoupled_layer(layer: nn.TransformerEncoderLayer, x: torch.Tensor, a: torch.Tensor,
                     mask: torch.Tensor | None, pad: torch.Tensor | None) -> torch.Tensor:
    """The post-norm encoder ``layer`` with queries and keys from ``a`` [B, T, d] and values from ``x`` [B, T, d]
    -> [B, T, d] (the same modules and order as ``layer(x)``, whose self-attention reads x three times)."""
    att = layer.self_attn(a, a, x, attn_mask=mask, key_padding_mask=pad, need_weights=False)[0]
    x = layer.norm1(x + layer.dropout1(att))
    return layer.norm2(x + layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(x))))))


class MixerRec(SeqRec):
    """Embedding -> dropout -> ``Block``s of a registry mixer (dropout on both branches) -> RMSNorm. Under the
    cloze objective a causal mixer runs as ``Bidirectional``, each row reversed within its own length."""

    def __init__(self, config: RecConfig, tokens: ItemTokens | None = None):
        super().__init__(config, tokens)
        c = config
        bidirectional = self.cloze and mixers.get(c.encoder).causal

        def mixer():
            return (Bidirectional(c.encoder, c.d_model, **c.mixer_options) if bidirectional
                    else mixers.build(c.encoder, c.d_model, **c.mixer_options))

        self.layers = nn.ModuleList(Block(mixer(), c.inner_size / c.d_model, c.drop) for _ in range(c.n_layers))
        self.out_norm = nn.RMSNorm(c.d_model)
        self._init_items(lambda w: nn.init.normal_(w, std=0.02))

    def hidden(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.embed(seq))
        for layer in self.layers:
            x, _ = layer(x, lengths=lengths)
        return self.out_norm(x)


def build_model(config: RecConfig, item_counts: torch.Tensor | None = None,
                tokens: ItemTokens | None = None) -> nn.Module:
    """``Popularity`` for arch 'pop' (needs item_counts [n_items + 1]); ``Recformer`` for arch 'recformer' and
    a ``MixerRec`` when an encoder is set (both need ``tokens`` when they read text, see ``uses_text``); else
    ``GRU4Rec`` or ``TransformerRec`` (sasrec, bert4rec)."""
    if config.arch == "recformer":
        from rnnzoo.apps.rec.recformer import Recformer

        if tokens is None or config.n_items is None:
            raise ValueError("recformer needs n_items and the item sentences (rec.text.tokenize_items)")
        return Recformer(config, tokens)
    if config.arch == "pop" and config.encoder is None:
        if config.n_items is None or item_counts is None or item_counts.shape != (config.n_items + 1,):
            raise ValueError(f"the popularity model needs n_items (got {config.n_items}) and item_counts of "
                             f"shape (n_items + 1,)")
        return Popularity(item_counts)
    if config.encoder is not None:
        return MixerRec(config, tokens)
    return GRU4Rec(config, tokens) if config.arch == "gru4rec" else TransformerRec(config, tokens)
