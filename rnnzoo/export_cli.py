"""``rnnzoo export``: a trained character LM's one-token step as ONNX or a torch.export program."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export", help="export a trained LM's step (one token in, logits and next state out) to ONNX or torch.export",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Writes FILE and FILE.json (state shapes, vocabulary), then generates --check-tokens tokens "
                    "greedily with the export and with PyTorch and prints the largest logit difference. From "
                    "Python: rnnzoo.export.export_step(model, path, fmt). ONNX needs the extra rnnzoo[export] "
                    "(onnx, onnxscript, onnxruntime).",
        epilog="examples:\n  rnnzoo export --checkpoint runs/lm --format onnx --out runs/lm/step.onnx\n"
               "  rnnzoo export --checkpoint runs/lm --format torch-export --out runs/lm/step.pt2\n"
               "  python examples/onnx_generate.py runs/lm/step.onnx --prompt 'def '")
    p.add_argument("--checkpoint", required=True, type=Path, help="directory written by `rnnzoo lm train --out`")
    p.add_argument("--format", required=True, choices=("onnx", "torch-export"))
    p.add_argument("--out", required=True, type=Path, help="file to write (refused if it exists, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--check-tokens", type=int, default=64, help="greedy tokens compared after export (default: 64; "
                                                                 "0 skips the check)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnzoo.apps.lm import load_lm
    from rnnzoo.export import check_export, export_step

    if args.out.exists() and not args.overwrite:
        raise ValueError(f"{args.out} exists; pass --overwrite to replace it")
    if args.check_tokens < 0:
        raise ValueError(f"--check-tokens must be >= 0, got {args.check_tokens}")
    model, vocab = load_lm(args.checkpoint)
    meta = export_step(model, args.out, args.format, vocab=vocab.chars)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes) and {args.out}.json: {meta['mixer']}, "
          f"{meta['n_layers']} layers, {len(meta['state'])} state tensors")
    if args.check_tokens:
        diff = check_export(model, args.out, args.check_tokens)
        print(f"checked: {args.check_tokens} greedy tokens, same tokens, max |logit difference| {diff:.2e}")
    return 0
