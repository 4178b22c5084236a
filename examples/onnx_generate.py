"""Generate text from an exported character LM with onnxruntime and numpy only (no torch, no rnnzoo).

    rnnzoo lm train --mixer gla --steps 300 --out runs/lm
    rnnzoo export --checkpoint runs/lm --format onnx --out runs/lm/step.onnx
    python examples/onnx_generate.py runs/lm/step.onnx --prompt "def " --tokens 80

The sidecar ``step.onnx.json`` written by ``rnnzoo export`` gives the state tensors' shapes (zeros start a
sequence) and the vocabulary (id 0 is the unknown character). Decoding is greedy.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import onnxruntime as ort


def generate(model_path: str, prompt: str, tokens: int) -> str:
    meta = json.load(open(model_path + ".json"))
    if meta["format"] != "onnx" or not meta.get("vocab"):
        raise SystemExit(f"{model_path}.json: not an ONNX character-LM export")
    vocab = meta["vocab"]
    ids = {c: i for i, c in enumerate(vocab) if i}
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    state = [np.zeros(s["shape"], dtype=s["dtype"]) for s in meta["state"]]
    out, logits = [], None
    for ch in prompt:  # feed the prompt one character at a time, then continue greedily
        logits, *state = session.run(None, {"token": np.array([ids.get(ch, 0)], dtype=np.int64),
                                            **dict(zip(meta["inputs"][1:], state))})
    for _ in range(tokens):
        nxt = int(logits[0].argmax())
        out.append(vocab[nxt] if nxt else "\ufffd")
        logits, *state = session.run(None, {"token": np.array([nxt], dtype=np.int64),
                                            **dict(zip(meta["inputs"][1:], state))})
    return prompt + "".join(out)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="step.onnx written by `rnnzoo export --format onnx`")
    p.add_argument("--prompt", default="def ")
    p.add_argument("--tokens", type=int, default=80)
    a = p.parse_args()
    print(generate(a.model, a.prompt, a.tokens))
