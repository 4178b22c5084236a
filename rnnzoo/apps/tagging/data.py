"""Character tagging data: every character of Python standard-library source labelled with the type of the
token it belongs to, from Python's own ``tokenize``.

Tags (``TAGS``): ``space`` (whitespace, newlines, and anything no token covers), ``name``, ``keyword``
(``keyword.iskeyword``), ``operator``, ``number``, ``string`` (quotes and prefixes included), ``comment``.
Example (``x = 1  # one``):  ``x`` name, `` `` space, ``=`` operator, `` `` space, ``1`` number, ``  `` space,
``# one`` comment.

Files are split by ``rnnzoo.apps.lm.split_of`` (a hash of the relative path: 90 / 5 / 5 %), so no file
contributes to two splits. Within a split, files are taken in the order of the hash of their path until
``max_chars`` characters; files that ``tokenize`` rejects are skipped and counted.
"""

from __future__ import annotations

import hashlib
import io
import keyword
import tokenize
from dataclasses import dataclass

import numpy as np

from rnnzoo.apps.lm import SPLITS, Vocab, split_of, stdlib_sources

TAGS = ("space", "name", "keyword", "operator", "number", "string", "comment")
_KIND = {tokenize.OP: 3, tokenize.NUMBER: 4, tokenize.STRING: 5, tokenize.COMMENT: 6}
_KIND.update({getattr(tokenize, n): 5 for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, n)})


def tag_source(text: str) -> np.ndarray:
    """text -> tag ids [len(text)] (int64). Raises tokenize.TokenError / SyntaxError on source it cannot read."""
    starts = np.cumsum([0] + [len(line) for line in text.splitlines(keepends=True)])
    tags = np.zeros(len(text), dtype=np.int64)
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        kind = (2 if keyword.iskeyword(tok.string) else 1) if tok.type == tokenize.NAME else _KIND.get(tok.type)
        if kind is not None:
            tags[starts[tok.start[0] - 1] + tok.start[1]: starts[tok.end[0] - 1] + tok.end[1]] = kind
    return tags


@dataclass
class TagData:
    text: dict[str, str]  # split -> the split's files joined by "\n"
    tags: dict[str, np.ndarray]  # split -> [len(text)] tag ids
    files: dict[str, list[str]]  # split -> relative paths used
    skipped: int  # files tokenize rejected


def load_tag_data(max_chars: dict[str, int]) -> TagData:
    """Up to ``max_chars[split]`` characters of whole files per split (at least one file each)."""
    order = sorted(stdlib_sources(), key=lambda f: hashlib.sha1(f[0].encode()).hexdigest())
    texts: dict[str, list[str]] = {s: [] for s in SPLITS}
    tags: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    files: dict[str, list[str]] = {s: [] for s in SPLITS}
    size, skipped = dict.fromkeys(SPLITS, 0), 0
    for rel, path in order:
        split = split_of(rel)
        if size[split] >= max_chars[split]:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            t = tag_source(text)
        except (tokenize.TokenError, SyntaxError):
            skipped += 1
            continue
        texts[split].append(text), tags[split].append(t), files[split].append(rel)
        size[split] += len(text) + 1
        if all(size[s] >= max_chars[s] for s in SPLITS):
            break
    sep = np.zeros(1, dtype=np.int64)  # the "\n" between files is whitespace
    return TagData({s: "\n".join(v) for s, v in texts.items()},
                   {s: np.concatenate([x for t in tags[s] for x in (t, sep)][:-1]) for s in SPLITS}, files, skipped)


def encode(data: TagData) -> tuple[Vocab, dict[str, np.ndarray]]:
    """The train split's character vocabulary (id 0 = unknown) and every split's ids."""
    vocab = Vocab.from_text(data.text["train"])
    return vocab, {s: vocab.encode(t) for s, t in data.text.items()}
