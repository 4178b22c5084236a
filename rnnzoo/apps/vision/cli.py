"""``rnnzoo vision digits | moving``: the command-line parsers; they call ``train_digits`` / ``train_moving``."""

from __future__ import annotations

import argparse

from rnnzoo.config_args import config_command, from_args, given

ALIASES = {"arch": "--model", "out_dir": "--out", "n_layers": "--layers"}


def add_parser(sub) -> None:
    from rnnzoo.apps.vision.train_digits import DigitsConfig
    from rnnzoo.apps.vision.train_moving import MovingConfig

    p = sub.add_parser("vision", help="sequential and moving 8x8 digits: mixers, LRCN, pLSTM-2D, ConvLSTM, ConvS5",
                       description="Image sequences from scikit-learn's 8x8 digits (read from its wheel).")
    tasks = p.add_subparsers(dest="task", required=True)
    config_command(
        tasks, "digits", DigitsConfig, call="rnnzoo.apps.vision.train_digits", func=run_digits, aliases=ALIASES,
        help="classify digits read pixel by pixel (any mixer), as moving clips (lrcn, tslstm) or as a grid "
             "(plstm2d, lightnet2d)",
        examples=["rnnzoo vision digits --model sequential --mixer gru --order permuted",
                  "rnnzoo vision digits --model lrcn --mixer gru",
                  "rnnzoo vision digits --model lrcn --mixer gru --clip-digits 3 --clip-frames 4 --lr 1e-3 "
                  "--steps 1500",
                  "rnnzoo vision digits --model tslstm --segments 4",
                  "rnnzoo vision digits --model plstm2d --layers 1 --out runs/plstm",
                  "rnnzoo vision digits --model lightnet2d"])
    config_command(
        tasks, "moving", MovingConfig, call="rnnzoo.apps.vision.train_moving", func=run_moving, aliases=ALIASES,
        help="predict 10 frames of moving digits from 10 (convlstm, convs5)",
        examples=["rnnzoo vision moving --model convs5 --out runs/convs5",
                  "rnnzoo vision moving --model convlstm --steps 600"])


def run_digits(args: argparse.Namespace) -> int:
    from rnnzoo.apps.vision.models import GRID_ARCHS
    from rnnzoo.apps.vision.train_digits import DigitsConfig, train_digits

    cfg = from_args(DigitsConfig, args)
    if cfg.model.arch in GRID_ARCHS and "model.mixer" in given(args):
        raise ValueError(f"--mixer {cfg.model.mixer} does not apply to --model {cfg.model.arch} (a 2-D recurrence of "
                         "its own); drop it or choose --model sequential, lrcn or tslstm")
    r = train_digits(cfg)
    what = r["model"] + (f" {r['mixer']}" if r["mixer"] else "") + (f" ({r['order']})" if r["order"] else "")
    read = f", digit error {r['test']['digit_error']:.4f} ({r['clip_digits']} digits a clip)" if r["clip_digits"] > 1 else ""
    print(f"{what}: test accuracy {r['test']['acc']:.4f}{read}, {r['params']:,} params, train {r['train_seconds']:.0f}s")
    return 0


def run_moving(args: argparse.Namespace) -> int:
    from rnnzoo.apps.vision.train_moving import MovingConfig, train_moving

    r = train_moving(from_args(MovingConfig, args))
    t = r["test"]
    print(f"{r['model']}: future-frame MSE {t['mse_mean']:.4f} (step 1 {t['mse'][0]:.4f}, last {t['mse'][-1]:.4f}), "
          f"SSIM {t['ssim_mean']:.3f}, {r['params']:,} params, train {r['train_seconds']:.0f}s")
    return 0
