"""Every mixer learns a real task (slow; `pytest -m slow tests/mixers/test_training.py`).

Causal mixers: a 2-layer LanguageModel on a small MQAR (associative recall, Zoology) through the same
``train_and_eval`` the bench uses; chance is 1/(vocab/2) = 0.125, the bar is 0.5. Non-causal mixers (hydra):
a 2-block encoder where position t must output token t+3 (the input read backwards in time, which a causal
model cannot see: it stays at chance 1/16); bar 0.9.
"""

import pytest
import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.bench.runner import train_and_eval
from rnnzoo.bench.suites import TaskRun
from rnnzoo.models import Block
from rnnzoo.train import Trainer, TrainConfig

CAUSAL = [n for n in mixers.names() if mixers.get(n).causal]
NONCAUSAL = [n for n in mixers.names() if not mixers.get(n).causal]
LOOKAHEAD = 3
RECALL = TaskRun("mqar:vocab=16:seq_len=16:num_kv_pairs=2", steps=400, lr=3e-3, weight_decay=0.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", CAUSAL)
def test_two_layer_lm_learns_associative_recall(name):
    record = train_and_eval(name, RECALL, d_model=32, seed=0, n_layers=2, test_n=256)
    accuracy = record["accuracy"]["16"]
    assert accuracy > 0.5, f"{name}: MQAR accuracy {accuracy:.3f} (chance 0.125), final loss {record['final_loss']:.3f}"


class Encoder(nn.Module):
    """tokens [B, T] -> logits [B, T, V] through bidirectional blocks."""

    def __init__(self, name: str, vocab: int, d_model: int, n_layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.blocks = nn.ModuleList(Block(mixers.build(name, d_model)) for _ in range(n_layers))
        self.norm = nn.RMSNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for block in self.blocks:
            x, _ = block(x)
        return self.head(self.norm(x))


@pytest.mark.slow
@pytest.mark.parametrize("name", NONCAUSAL)
def test_two_layer_encoder_learns_to_read_ahead(name):
    vocab, length = 16, 16

    def batch(step, n=64, split=0):
        tokens = torch.randint(vocab, (n, length), generator=torch.Generator().manual_seed(step * 2 + split))
        targets = torch.full_like(tokens, -100)  # the last LOOKAHEAD positions have nothing to read
        targets[:, :-LOOKAHEAD] = tokens[:, LOOKAHEAD:]
        return tokens, targets

    def loss_fn(model, b):
        logits = model(b[0])
        return nn.functional.cross_entropy(logits.flatten(0, 1), b[1].flatten()), {}

    torch.manual_seed(0)
    model = Encoder(name, vocab, 32, 2)
    Trainer(model, TrainConfig(steps=400, lr=3e-3, weight_decay=0.0, progress=False), batch, loss_fn).fit()
    inputs, targets = batch(10**6, n=256, split=1)
    with torch.no_grad():
        accuracy = float((model(inputs).argmax(-1) == targets)[:, :-LOOKAHEAD].float().mean())
    assert accuracy > 0.9, f"{name}: look-ahead accuracy {accuracy:.3f} (chance 0.0625)"
