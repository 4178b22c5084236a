"""``rnnzoo inspect``: plot a mixer's implicit attention matrix (``--matrix``), or a trained language model's state
norm and effective rank along a text far beyond its training length (``--checkpoint``)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnzoo.config_args import add_arguments, from_args, option
from rnnzoo.io import atomic_write_json
from rnnzoo.validate import check_types, positive


@dataclass
class InspectConfig:
    checkpoint: str | None = option(None, "a character LM checkpoint directory (`rnnzoo lm train --out`); None: a "
                                          "freshly initialised --mixer on random input (with --matrix)")
    matrix: bool = option(False, "plot the implicit attention matrix (Mixer.materialize) instead of the state "
                                 "along the sequence")
    mixer: str = option("gla", "registry mixer for --matrix without a checkpoint, with options as in "
                               "gla:num_heads=2", spec_of="mixer_options")
    mixer_options: dict = option(factory=dict, help="config overrides for the mixer")
    d_model: int = option(64, "width of the freshly built mixer", minimum=1)
    length: int = option(64, "tokens read: the matrix is length x length; the state trajectory runs this far",
                         minimum=1)
    layer: int = option(0, "block whose mixer's matrix is plotted (with a checkpoint)", minimum=0)
    every: int = option(64, "tokens between two state measurements", minimum=1)
    seed: int = option(0, "seed of the fresh mixer and its random input")
    out: str = option("inspect.png", "plot path; the numbers go beside it as .json")

    def __post_init__(self) -> None:
        check_types(self)
        positive(self, "length", "every", "d_model")


def inspect(cfg: InspectConfig) -> dict:
    """Run ``rnnzoo inspect``: writes the plot at ``cfg.out`` and its numbers beside it; returns a summary."""
    from rnnzoo.inspection.plots import plot_matrix, plot_trajectory
    from rnnzoo.inspection.states import layer_matrix, state_trajectory

    if not cfg.matrix and cfg.checkpoint is None:
        raise ValueError("the state trajectory needs a trained model: give --checkpoint (or --matrix)")
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if cfg.checkpoint is None:
        from rnnzoo import mixers

        torch.manual_seed(cfg.seed)
        mixer = mixers.build(cfg.mixer, cfg.d_model, **cfg.mixer_options).eval()
        with torch.no_grad():
            m = mixer.materialize(torch.randn(1, cfg.length, cfg.d_model))
        what = f"{cfg.mixer} (fresh, d_model={cfg.d_model}) on random input"
    else:
        model, tokens = _model_and_text(cfg.checkpoint, cfg.length)
        if not cfg.matrix:
            rows = state_trajectory(model, tokens, cfg.every)
            plot_trajectory(rows, out, f"{model.config.mixer}: state along the test text")
            atomic_write_json(out.with_suffix(".json"), {"checkpoint": cfg.checkpoint, "layers": rows})
            return {"plot": str(out), **{f"layer {r['layer']} norm first/last": (r["norm"][0], r["norm"][-1])
                                         for r in rows}}
        m = layer_matrix(model, tokens, cfg.layer)
        what = f"{model.config.mixer} layer {cfg.layer} on the test text"
    plot_matrix(m[0], out, f"implicit attention matrix: {what}")
    atomic_write_json(out.with_suffix(".json"), {"what": what, "shape": list(m.shape),
                                                 "row_abs_sum_last": m[0, :, -1].abs().sum(-1).tolist()})
    return {"plot": str(out), "matrix shape": tuple(m.shape)}


def _model_and_text(checkpoint: str, length: int):
    """The LM saved in ``checkpoint`` and the first ``length`` characters of the standard-library test split [1, T]."""
    from rnnzoo.apps.lm import load_corpus, load_lm

    model, vocab = load_lm(checkpoint)
    text = load_corpus()["test"][:length]
    return model, torch.from_numpy(vocab.encode(text))[None]


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="plot a mixer's implicit attention matrix or a trained LM's state norms and "
                                       "effective rank along a sequence",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  rnnzoo inspect --matrix --mixer mamba2 --length 48 --out m.png\n"
                              "  rnnzoo inspect --checkpoint runs/lm --length 8192 --out states.png")
    add_arguments(p, InspectConfig)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    for key, value in inspect(from_args(InspectConfig, args)).items():
        print(f"{key}: {value}")
    return 0
