"""Print README's mixer table from the registry: one row per mixer, grouped by family, with each class's
``paper``, ``state_formula`` and ``fast_path``. README.md holds this output between the
``<!-- mixer-table:start -->`` and ``<!-- mixer-table:end -->`` markers; ``tests/test_readme.py`` checks
that the two agree, so the claims live in the mixer classes alone.

    python scripts/readme_table.py          # paste the output between the markers

A new mixer needs one line in ``FAMILY`` (its registry name and family) and a ``docs/mixers/<name>.md``.
"""

from __future__ import annotations

from rnnzoo import mixers

# registry name -> family, in the order the rows appear
FAMILY = {
    "elman": "classic RNNs", "lstm": "classic RNNs", "gru": "classic RNNs", "slstm": "classic RNNs",
    "attention": "attention", "sliding_attention": "attention", "fox": "attention",
    "path": "attention", "deltaformer": "attention",
    "linear_attention": "linear attention", "based": "linear attention", "retnet": "linear attention",
    "lightning": "linear attention", "gla": "linear attention", "lightnet": "linear attention",
    "hgrn": "linear attention", "mlstm": "linear attention", "rwkv6": "linear attention",
    "hgrn2": "linear attention",
    "gsa": "linear attention",
    "deltanet": "delta rule", "gated_deltanet": "delta rule", "deltaproduct": "delta rule", "mom": "delta rule",
    "rwkv7": "delta rule", "kda": "delta rule", "gdn2": "delta rule",
    "log_linear_gated_deltanet": "delta rule",
    "mingru": "gated linear RNNs", "minlstm": "gated linear RNNs", "rglru": "gated linear RNNs",
    "s4d": "state space", "mamba": "state space", "mamba2": "state space", "hydra": "state space",
    "lmu": "state space", "log_linear_mamba2": "state space",
    "comba": "delta rule",
    "longhorn": "state space", "mamba3": "state space",
    "hyena": "convolutional", "tcnca": "convolutional", "pgn": "convolutional",
    "aaren": "attention as RNN",
    "combiner": "sparse / conditional attention", "routing_attention": "sparse / conditional attention",
    "seqboat": "sparse / conditional attention",
    "titans": "test-time-learned memory", "titans_mac": "test-time-learned memory",
    "atlas": "test-time-learned memory", "moneta": "test-time-learned memory", "yaad": "test-time-learned memory",
    "memora": "test-time-learned memory", "mesanet": "test-time-learned memory",
    "ttt": "test-time-learned memory",
}


def check_family() -> None:
    """Every registered mixer has a family and every family entry is registered; else one ValueError naming them."""
    registered = set(mixers.names())
    missing = sorted(registered - set(FAMILY))
    if missing:
        raise ValueError(f"registered mixers without a family in scripts/readme_table.py FAMILY: {missing}")
    stale = sorted(set(FAMILY) - registered)
    if stale:
        raise ValueError(f"FAMILY in scripts/readme_table.py names mixers that are not registered: {stale}")


def table() -> str:
    """The markdown table, one row per registered mixer, families in FAMILY's order."""
    check_family()
    rows = ["| family | mixer | paper | state (floats per sequence) | fast training path |",
            "|---|---|---|---|---|"]
    by_family: dict[str, list[str]] = {}
    for name, family in FAMILY.items():
        by_family.setdefault(family, []).append(name)
    for family, names in by_family.items():
        for i, name in enumerate(names):
            cls = mixers.get(name)
            state = cls.state_formula if cls.causal else "none (bidirectional, no recurrent step)"
            fast = cls.fast_path or "none: the recurrent loop"
            cells = [family if i == 0 else "", f"[`{name}`](docs/mixers/{name}.md)", cls.paper, state, fast]
            rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(table(), end="")
