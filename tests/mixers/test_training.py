"""Every mixer learns a real task (slow; `pytest -m slow tests/mixers/test_training.py`).

Causal mixers: a 2-layer LanguageModel (d_model 64) trained on the quick suite's MQAR (2 key-value pairs,
T=16, vocab 16, 1000 steps) through the bench's own ``train_and_eval``. Chance is 1/8 (the 8 possible values).
Copying *a* value from the context without binding it to its key gives 0.5 (one of the two values), a
plateau many models sit on for a while. Two bars: every mixer must beat chance clearly (> 0.3); every mixer
that can bind content must get past the copy plateau (> 0.75). Mixers whose state cannot depend on which
key came with which value are exempt from the second: s4d and lmu (linear time-invariant memories: the same
kernel for every input) and aaren (its attention query is a learned constant, not a function of the input).
So are mixers that never read their state with the current token (``STATE_IS_OUTPUT``: minGRU and minLSTM,
whose output is the state itself): the lookup of a key's value is left to the MLPs between layers, and
within the budgets measured it stays on the copy plateau; they must still beat chance.
Mixers that leave the plateau later than 1000 steps (classic RNNs whose whole state passes through a
nonlinearity at every step, among others) get a longer budget for the second bar (``SLOW_BINDERS``),
measured on seeds 0, 1 and 2.

Non-causal mixers (hydra): a 2-block encoder where position t must output token t+3 (the input read
backwards in time, which a causal model cannot see: it stays at chance 1/16); bar 0.9.
"""

import dataclasses
import functools

import pytest
import torch
from torch import nn

from rnnzoo import mixers
from rnnzoo.bench.runner import train_and_eval
from rnnzoo.bench.suites import QUICK
from rnnzoo.models import Block
from rnnzoo.train import TrainConfig, Trainer

CAUSAL = [n for n in mixers.names() if mixers.get(n).causal]
NONCAUSAL = [n for n in mixers.names() if not mixers.get(n).causal]
# lmu: a fixed Legendre delay memory of relu(W_u x) (measured 2026-12-03, seed 0, 1000 steps: 0.516 with the
# default window theta 128, 0.289 with theta 256)
NO_CONTENT_RECALL = {"s4d", "aaren", "lmu"}
# mingru, minlstm: gates and candidate read x_t only and the output is h_t itself (no output gate, no query of
# the state by the current token), as in Feng et al. 2024 (Sec. 3) and lucidrains' minLM (its optional conv is
# off by default), so only an MLP between layers can form the key-value product. Measured 2026-12-03, seed 0:
# mingru 0.535 at 1000 steps and 0.553 at 3000, minlstm 0.527 and 0.520 (copy plateau 0.5)
STATE_IS_OUTPUT = {"mingru", "minlstm"}
# linear attention without fla's short q/k/v convolution stays on the copy plateau at this budget (seed 0,
# 2026-11-25: linear_attention 0.525, lightning 0.527, gla 0.537, lightnet 0.525, based 0.537; with the conv
# all pass, gla 0.998, lightnet 1.0, based 0.996; Based and Zoology pair it with one): the binding bar is
# checked on their conv variant, the chance bar on the plain mixer
# gsa (fla's layer has the conv off by default, 2026-12-03, seed 0): 0.492 without it
NEEDS_SHORT_CONV = {"linear_attention", "lightning", "gla", "lightnet", "based", "gsa"}
RECALL = next(run for run in QUICK.tasks if run.spec.startswith("mqar"))
# steps for the binding bar where 1000 leave these on the copy plateau (measured 2026-11-25, seeds 0/1/2: at 1000
# steps elman 0.504 / 0.521 / 0.557, slstm 0.748 / 0.787 / 0.824; at 3000, elman 0.902 / 0.840 / 0.795,
# slstm (seeds 1/2) 0.982 / 1.0; slstm at 2000 was 0.971 / 0.729, still on the edge)
# routing_attention (2026-12-03, seeds 0/1/2): 0.547 / 0.543 / 0.691 at 1000 steps, 1.0 / 1.0 / 1.0 at 3000;
# with one cluster (the forward of attention to 1e-7, another init stream) 0.531 at seed 0, and attention
# itself is 1.0 / 1.0 / 0.578 at 1000: leaving the copy plateau by step 1000 depends on the init
# pgn (2026-12-03): 0.664 at 1000 steps (seed 0), 0.975 / 0.961 / 0.996 at 3000 (seeds 0/1/2); its history
# read (HIE) is positional, content meets content only in the per-token gate
SLOW_BINDERS = {"elman": 3000, "slstm": 3000, "routing_attention": 3000, "pgn": 3000}
LOOKAHEAD = 3


@functools.lru_cache(maxsize=None)
def recall_accuracy(spec: str, steps: int) -> tuple[float, float]:
    """(accuracy, final loss), cached: the chance and binding bars share one training run per (spec, steps)."""
    run = dataclasses.replace(RECALL, steps=steps)
    record = train_and_eval(spec, run, d_model=64, seed=0, n_layers=2, test_n=256)
    return record["accuracy"][str(16)], record["final_loss"]


@pytest.mark.slow
@pytest.mark.parametrize("name", CAUSAL)
def test_two_layer_lm_beats_chance_on_associative_recall(name):
    accuracy, loss = recall_accuracy(name, RECALL.steps)
    assert accuracy > 0.3, f"{name}: MQAR accuracy {accuracy:.3f} (chance 0.125), final loss {loss:.3f}"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in CAUSAL if n not in NO_CONTENT_RECALL | STATE_IS_OUTPUT])
def test_two_layer_lm_binds_keys_to_values(name):
    spec = f"{name}:use_short_conv=True" if name in NEEDS_SHORT_CONV else name
    accuracy, loss = recall_accuracy(spec, SLOW_BINDERS.get(name, RECALL.steps))
    assert accuracy > 0.75, f"{name}: MQAR accuracy {accuracy:.3f} (copy plateau 0.5), final loss {loss:.3f}"


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
