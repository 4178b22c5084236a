"""Item text: RecBole ``.item`` attributes -> Recformer's key-value sentences -> word tokens.

Recformer (Li et al. 2023, Text Is All You Need: Learning Language Representations for Sequential
Recommendation, Sec. 2.1) flattens an item's attribute dictionary into one sentence
``key_1 value_1 key_2 value_2 ...``. ml-100k's ``.item`` has ``movie_title``, ``release_year`` and
``class``, which become::

    item 1 -> "title: Toy Story year: 1995 genre: Animation Children's Comedy"

Tokenizer: lowercase words (``\\w+``), the vocabulary built from the texts of the items that occur in
training histories only, so a cold item's unseen words map to ``[UNK]`` (Recformer starts from
Longformer's pre-trained BPE vocabulary; pre-training on other text is impossible offline here).
Token types (Recformer's token-type embedding): 0 padding, 1 [CLS], 2 key word, 3 value word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

PAD_TOKEN, CLS_TOKEN, UNK_TOKEN = 0, 1, 2
SPECIALS = ("[PAD]", "[CLS]", "[UNK]")
TYPE_PAD, TYPE_CLS, TYPE_KEY, TYPE_VALUE = 0, 1, 2, 3
KEYS = {"movie_title": "title", "release_year": "year", "class": "genre"}  # ml-100k names -> Recformer-style keys
_WORD = re.compile(r"\w+")


def item_sentence(attributes: dict[str, str]) -> str:
    """{"movie_title": "Toy Story", "release_year": "1995"} -> "title: Toy Story year: 1995" (empty values
    dropped; names other than ml-100k's stay as they are)."""
    return " ".join(f"{KEYS.get(k, k)}: {v.strip()}" for k, v in attributes.items() if v.strip())


def read_item_text(path: str | Path, item_tokens: list[str]) -> list[str]:
    """RecBole ``.item`` file -> one sentence per item id (``item_tokens`` index order; "" for padding and for
    items the file does not list). Columns other than ``item_id`` are the attributes, in file order."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n")
        if not header.strip():
            raise ValueError(f"{path}: empty file; a RecBole .item file starts with a header such as "
                             f"'item_id:token\\tmovie_title:token_seq'")
        names = [c.split(":", 1)[0].strip() for c in header.split("\t")]
        if "item_id" not in names:
            raise ValueError(f"{path}: missing column(s) ['item_id']; header has {names}")
        key = names.index("item_id")
        by_token = {}
        for line_no, line in enumerate(f, start=2):
            row = line.rstrip("\n").split("\t")
            if row == [""]:
                continue
            if len(row) != len(names):
                raise ValueError(f"{path}:{line_no}: expected {len(names)} fields, got {len(row)}: {row!r}")
            by_token[row[key]] = item_sentence({n: v for i, (n, v) in enumerate(zip(names, row)) if i != key})
    return ["" if i == 0 else by_token.get(t, "") for i, t in enumerate(item_tokens)]


def words(text: str) -> list[tuple[str, int]]:
    """Sentence -> [(lowercase word, token type)]: a word ending in ':' in the sentence is a key."""
    out = []
    for part in text.split():
        kind = TYPE_KEY if part.endswith(":") else TYPE_VALUE
        out += [(w, kind) for w in _WORD.findall(part.lower())]
    return out


@dataclass
class ItemTokens:
    """Every item's sentence as word ids: ``ids`` / ``types`` [n_items + 1, P] right-padded (row 0 = padding,
    empty), ``lengths`` [n_items + 1]; ``vocab`` lists the words, index = id (the first three are SPECIALS)."""

    ids: torch.Tensor
    types: torch.Tensor
    lengths: torch.Tensor
    vocab: list[str]


def tokenize_items(texts: list[str], train_items: set[int], max_tokens: int) -> ItemTokens:
    """texts[i]: item i's sentence; the vocabulary comes from the items in ``train_items`` only (words of the
    others are [UNK]); each item keeps its first ``max_tokens`` words."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    vocab = list(SPECIALS)
    index = {w: i for i, w in enumerate(vocab)}
    for i in sorted(train_items):
        for w, _ in words(texts[i]):
            if w not in index:
                index[w] = len(vocab)
                vocab.append(w)
    ids = torch.zeros(len(texts), max_tokens, dtype=torch.long)
    types = torch.zeros_like(ids)
    lengths = torch.zeros(len(texts), dtype=torch.long)
    for i, text in enumerate(texts):
        ws = words(text)[:max_tokens]
        lengths[i] = len(ws)
        for j, (w, kind) in enumerate(ws):
            ids[i, j], types[i, j] = index.get(w, UNK_TOKEN), kind
    return ItemTokens(ids, types, lengths, vocab)
