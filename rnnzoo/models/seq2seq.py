"""Encoder-decoder with content attention (Bahdanau et al. 2015; Luong et al. 2015), the Pointer Network
head (Vinyals, Fortunato & Jaitly 2015) and the read-process-write set encoder (Vinyals, Bengio & Kudlur
2016, Order Matters).

```python
model = Seq2Seq(Seq2SeqConfig(in_features=2, encoder="lstm", decoder="lstm"))    # pointer net over points
logits = model(points, targets)          # points [B, S, 2], targets [B, T] -> [B, T, S + 1] (teacher forcing)
tokens = decode(Seq2SeqDecoder(model, points), T, lambda lp: lp.argmax(-1))     # greedy, via rnnzoo.models.generate
tokens, scores = search_beams(Seq2SeqDecoder(model, points[:1]), T, num_beams=4)
```

Encoder: source embedding (``nn.Embedding`` for token sources, ``nn.Linear`` for feature sources) -> blocks
of any registry mixer (``bidirectional=True`` wraps causal ones in ``Bidirectional``) -> RMSNorm = memory
``m_j``; or ``encoder="set"``: the read-process-write block, memory = per-element MLP of the inputs (no order),
then ``process_steps`` rounds of an input-less LSTM ``q_t = LSTM(q*_{t-1})``, ``r_t = sum_j softmax(m_j.q_t) m_j``,
``q*_t = [q_t, r_t]`` (Order Matters eq. 3-7). A summary (mean of the memory, or ``q*_T``) is added to every
decoder input.

Decoder: blocks of any causal mixer over the previous outputs (teacher forcing: the targets shifted right);
its output ``h_t`` attends over the memory (``c_t = sum_j softmax(score(h_t, m_j)) m_j``, score Bahdanau
``v^T tanh(W_q h + W_m m)`` or Luong "general" ``h^T W m``) and ``o_t = tanh(W_o [h_t; c_t])``.
Token head: ``logits = W_v o_t``. Pointer head: ``logits_j = score(o_t, m_j)`` over the input positions, the
memory being prefixed by a learned *end* slot at position 0, so output index ``j >= 1`` means input
``j - 1``; the decoder's next input is the embedding of the pointed input. Outputs are masked with -inf: after
the end token only the end token (so finished hypotheses in a beam keep their score), for the pointer head
with ``mask_pointed`` already pointed positions, and without ``allow_end`` the end slot (permutation tasks).
The attention is on top of the decoder (no input feeding), so teacher-forced training is one parallel
decoder pass and step decoding reproduces it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.config_args import option
from rnnzoo.labels import IGNORE
from rnnzoo.mixers.bidirectional import Bidirectional
from rnnzoo.models.block import MLP, Block
from rnnzoo.models.generate import log_probs

END = 0  # the end token (token head) / the end slot (pointer head)
ATTENTIONS = ("bahdanau", "luong")


@dataclass
class Seq2SeqConfig:
    # exactly one of src_vocab / in_features; an app leaves both None and fills one in from its task
    src_vocab: int | None = option(None, "token source ids in [0, src_vocab)", derived=True)
    in_features: int | None = option(None, "feature source [B, S, in_features] (points, numbers)", derived=True)
    tgt_vocab: int | None = option(None, "token head over this vocabulary (END = 0); None: pointer head",
                                   derived=True)
    d_model: int = option(128, "model width")
    n_layers: int = option(1, "blocks in the encoder and in the decoder")
    encoder: str = option("lstm", "registry mixer, with options as in gla:num_heads=2 (see `rnnzoo list`), or 'set' "
                                  "(Order Matters read-process-write)", spec_of="encoder_options")
    encoder_options: dict = option(factory=dict, help="config overrides for the encoder mixer")
    bidirectional: bool = option(False, "wrap a causal encoder mixer in Bidirectional")
    process_steps: int = option(5, "set encoder: attention rounds of the process block")
    decoder: str = option("lstm", "causal registry mixer, with options as for the encoder", spec_of="decoder_options")
    decoder_options: dict = option(factory=dict, help="config overrides for the decoder mixer")
    attention: str = option("bahdanau", "content attention score", choices=ATTENTIONS)
    mask_pointed: bool = option(True, "pointer head: never point at an input twice")
    allow_end: bool = option(True, "pointer head: the end slot may be chosen (False: permutations)", derived=True)
    mlp_ratio: float = option(2.0, "MLP hidden width as a multiple of d_model")
    max_len: int | None = option(None, "longest source accepted (the trained maximum); None: any", derived=True)

    def __post_init__(self) -> None:
        if self.src_vocab is not None and self.in_features is not None:
            raise ValueError(f"set exactly one of src_vocab / in_features, got src_vocab={self.src_vocab}, "
                             f"in_features={self.in_features}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if self.tgt_vocab is not None and self.tgt_vocab < 2:
            raise ValueError(f"tgt_vocab must be >= 2 (END = 0 plus a token), got {self.tgt_vocab}")
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")
        if self.process_steps < 0:
            raise ValueError(f"process_steps must be >= 0, got {self.process_steps}")
        if self.encoder != "set":
            mixers.make_config(self.encoder, self.d_model, **self.encoder_options)
            if self.bidirectional and not mixers.get(self.encoder).causal:
                raise ValueError(f"bidirectional wraps causal mixers; {self.encoder!r} is not causal")
        if not mixers.get(self.decoder).causal:
            raise ValueError(f"the decoder steps token by token and needs a causal mixer; {self.decoder!r} is not")
        mixers.make_config(self.decoder, self.d_model, **self.decoder_options)

    @property
    def pointer(self) -> bool:
        return self.tgt_vocab is None


class Encoding(NamedTuple):
    """A source read once by ``Seq2Seq.encode``; every field is batch-first (beam search reorders rows)."""

    memory: torch.Tensor         # [B, M, d]; M = S + 1 for the pointer head (slot 0 = end)
    glimpse_keys: torch.Tensor   # [B, M, d]
    pointer_keys: torch.Tensor   # [B, M, d] (pointer head) or [B, 0]
    bias: torch.Tensor           # [B, d] summary of the source, added to every decoder input
    inputs: torch.Tensor         # [B, M, d] input embeddings: the decoder's input after pointing at one


class ContentAttention(nn.Module):
    """score(q_t, m_j): Bahdanau (additive) ``v^T tanh(W_q q_t + W_m m_j)`` or Luong general ``q_t^T W m_j``.
    ``keys(memory [B, S, d]) -> [B, S, d]`` once per source; ``scores(q [B, T, d], keys) -> [B, T, S]``."""

    def __init__(self, d_model: int, kind: str):
        super().__init__()
        self.kind = kind
        self.key = nn.Linear(d_model, d_model, bias=False)
        if kind == "bahdanau":
            self.query = nn.Linear(d_model, d_model)
            self.v = nn.Linear(d_model, 1, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key(memory)

    def scores(self, q: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        if self.kind == "luong":
            return q @ keys.transpose(1, 2)
        return self.v(torch.tanh(self.query(q)[:, :, None] + keys[:, None]))[..., 0]


class ReadProcess(nn.Module):
    """Order Matters read + process blocks. x: [B, S, d] -> (memory [B, S, d], summary q*_T -> [B, d]).
    Nothing here depends on the order of the S elements."""

    def __init__(self, d_model: int, steps: int):
        super().__init__()
        self.read = MLP(d_model, 2.0)
        self.steps = steps
        self.cell = nn.LSTMCell(d_model, d_model)  # input r_{t-1}, hidden q_{t-1}: an LSTM on q*_{t-1}
        self.out = nn.Linear(2 * d_model, d_model)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        memory = x + self.read(x)
        b, _, d = memory.shape
        if self.steps == 0:
            return memory, memory.new_zeros(b, d)
        q = c = r = memory.new_zeros(b, d)
        for _ in range(self.steps):
            q, c = self.cell(r, (q, c))
            attn = torch.einsum("bsd,bd->bs", memory, q).softmax(-1)
            r = torch.einsum("bs,bsd->bd", attn, memory)
        return memory, self.out(torch.cat((q, r), -1))


class Seq2Seq(nn.Module):
    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        c = self.config = config
        if c.src_vocab is None and c.in_features is None:
            raise ValueError("set exactly one of src_vocab / in_features, got neither")
        d = c.d_model
        self.src_embed = nn.Embedding(c.src_vocab, d) if c.src_vocab else nn.Linear(c.in_features, d)
        if c.encoder == "set":
            self.encoder = ReadProcess(d, c.process_steps)
        else:
            def enc():
                if c.bidirectional:
                    return Bidirectional(c.encoder, d, **c.encoder_options)
                return mixers.build(c.encoder, d, **c.encoder_options)
            self.encoder = nn.ModuleList(Block(enc(), c.mlp_ratio) for _ in range(c.n_layers))
            self.enc_norm = nn.RMSNorm(d)
        self.decoder = nn.ModuleList(Block(mixers.build(c.decoder, d, **c.decoder_options), c.mlp_ratio)
                                     for _ in range(c.n_layers))
        self.dec_norm = nn.RMSNorm(d)
        self.bridge = nn.Linear(d, d)
        self.start = nn.Parameter(torch.randn(d) * 0.1)  # the decoder's first input
        self.glimpse = ContentAttention(d, c.attention)
        self.combine = nn.Linear(2 * d, d)
        if c.pointer:
            self.end = nn.Parameter(torch.randn(d) * 0.1)  # memory slot 0 = "end"; its input embedding too
            self.point = ContentAttention(d, c.attention)
        else:
            self.tgt_embed = nn.Embedding(c.tgt_vocab, d)
            self.head = nn.Linear(d, c.tgt_vocab)

    # -- encoder ------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor) -> Encoding:
        """src: [B, S] ids or [B, S, in_features] -> ``Encoding``."""
        self._check_source(src)
        x = self.src_embed(src)
        if self.config.encoder == "set":
            memory, summary = self.encoder(x)
        else:
            h = x
            for block in self.encoder:
                h, _ = block(h)
            memory = self.enc_norm(h)
            summary = memory.mean(1)
        if self.config.pointer:
            slot = self.end.expand(x.shape[0], 1, -1)
            memory, x = torch.cat((slot, memory), 1), torch.cat((slot, x), 1)
            pkeys = self.point.keys(memory)
        else:
            pkeys = memory.new_zeros(memory.shape[0], 0)
        return Encoding(memory, self.glimpse.keys(memory), pkeys, self.bridge(summary), x)

    # -- decoder ------------------------------------------------------------------------------
    def forward(self, src: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Teacher forcing. src as in ``encode``; targets [B, T] output ids (-100 = padding, ignored) ->
        masked logits [B, T, V] (V = tgt_vocab, or S + 1 pointer positions) for predicting targets[:, t]."""
        enc = self.encode(src)
        v = self._out_size(enc)
        if targets.dim() != 2 or targets.shape[0] != src.shape[0]:
            raise ValueError(f"targets must be [B, T] with B={src.shape[0]}, got shape {tuple(targets.shape)}")
        valid = targets != IGNORE
        if ((targets[valid] < 0) | (targets[valid] >= v)).any():
            raise ValueError(f"target ids must be in [0, {v}) or {IGNORE}, got range "
                             f"[{int(targets[valid].min())}, {int(targets[valid].max())}]")
        prev = targets.clamp(min=0)[:, :-1]
        x = torch.cat((self.start.expand(src.shape[0], 1, -1), self._embed_out(prev, enc)), 1) + enc.bias[:, None]
        for block in self.decoder:
            x, _ = block(x)
        logits = self._logits(self.dec_norm(x), enc)
        # allowed outputs at step t depend on targets[:, :t]: exclusive cumulative counts
        chosen = nn.functional.one_hot(prev, v).cumsum(1)
        chosen = torch.cat((torch.zeros_like(chosen[:, :1]), chosen), 1).bool()
        return logits.masked_fill(~self._allowed(chosen), float("-inf"))

    def init_decoder(self, enc: Encoding) -> tuple[torch.Tensor, tuple]:
        """First step from an encoding: (masked logits [B, V], state)."""
        b = enc.memory.shape[0]
        chosen = torch.zeros(b, self._out_size(enc), dtype=torch.bool, device=enc.memory.device)
        x = self.start.expand(b, -1)
        return self._step_from(x, enc, [None] * len(self.decoder), chosen)

    def step(self, tokens: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """tokens [B] (the outputs just chosen) -> (masked logits [B, V], state)."""
        enc, mixer_states, chosen = state
        chosen = chosen | nn.functional.one_hot(tokens, chosen.shape[-1]).bool()
        return self._step_from(self._embed_out(tokens[:, None], enc)[:, 0], enc, mixer_states, chosen)

    def _step_from(self, x, enc, mixer_states, chosen):
        x = x + enc.bias
        new = []
        for block, s in zip(self.decoder, mixer_states):
            x, s = block.step(x, s)
            new.append(s)
        logits = self._logits(self.dec_norm(x)[:, None], enc)[:, 0]
        return logits.masked_fill(~self._allowed(chosen), float("-inf")), (enc, new, chosen)

    def _embed_out(self, prev: torch.Tensor, enc) -> torch.Tensor:
        """prev [B, T] output ids -> decoder inputs [B, T, d]: pointed input embeddings or token embeddings."""
        if self.config.pointer:
            return enc.inputs.gather(1, prev[..., None].expand(-1, -1, enc.inputs.shape[-1]))
        return self.tgt_embed(prev)

    def _logits(self, h: torch.Tensor, enc) -> torch.Tensor:
        context = self.glimpse.scores(h, enc.glimpse_keys).softmax(-1) @ enc.memory
        o = torch.tanh(self.combine(torch.cat((h, context), -1)))
        return self.point.scores(o, enc.pointer_keys) if self.config.pointer else self.head(o)

    def _allowed(self, chosen: torch.Tensor) -> torch.Tensor:
        """chosen [..., V] bool (outputs emitted so far) -> allowed next outputs [..., V] bool."""
        allowed = torch.ones_like(chosen)
        if self.config.pointer:
            if self.config.mask_pointed:
                allowed = ~chosen
            allowed[..., END] = self.config.allow_end
        ended = chosen[..., END:END + 1]
        allowed[..., END] |= ~allowed.any(-1)  # nothing left to point at: the end slot
        only_end = torch.zeros_like(allowed)
        only_end[..., END] = True
        return torch.where(ended, only_end, allowed)

    def _out_size(self, enc) -> int:
        return enc.memory.shape[1] if self.config.pointer else self.config.tgt_vocab

    def _check_source(self, src: torch.Tensor) -> None:
        c = self.config
        rank, shape = (2, "[B, S] token ids") if c.src_vocab else (3, f"[B, S, {c.in_features}]")
        if not isinstance(src, torch.Tensor) or src.dim() != rank or (rank == 3 and src.shape[-1] != c.in_features):
            raise ValueError(f"src must be {shape}, got {getattr(src, 'shape', type(src).__name__)}")
        if src.shape[0] == 0 or src.shape[1] == 0:
            raise ValueError(f"src is empty: shape {tuple(src.shape)}; need at least one sequence of length >= 1")
        if c.max_len is not None and src.shape[1] > c.max_len:
            raise ValueError(f"source length {src.shape[1]} exceeds the trained maximum max_len={c.max_len}")
        if c.src_vocab and (int(src.min()) < 0 or int(src.max()) >= c.src_vocab):
            raise ValueError(f"src ids must be in [0, {c.src_vocab}), got range [{int(src.min())}, {int(src.max())}]")


class Seq2SeqDecoder:
    """``rnnzoo.models.generate.StepDecoder`` for a ``Seq2Seq`` model and a source batch ``src``: every decoding
    strategy of ``rnnzoo.models.generate`` (greedy ``decode``, ``search_beams``, diverse beams) runs on it."""

    def __init__(self, model: Seq2Seq, src: torch.Tensor):
        self.model, self.src = model, src

    def start(self) -> tuple[torch.Tensor, tuple]:
        self.model.eval()
        logits, state = self.model.init_decoder(self.model.encode(self.src))
        return log_probs(logits), state

    def step(self, tokens: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        logits, state = self.model.step(tokens, state)
        return log_probs(logits), state

    def reorder(self, state: tuple, index: torch.Tensor) -> tuple:
        enc, mixer_states, chosen = state
        pick = lambda t: t.index_select(0, index)  # noqa: E731
        return (Encoding(*map(pick, enc)), [tuple(map(pick, s)) for s in mixer_states], pick(chosen))
