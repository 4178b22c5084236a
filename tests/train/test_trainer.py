import json

import pytest
import torch
from torch import nn

from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.tasks import MarkovConfig
from rnnzoo.train import TrainConfig, Trainer, lm_loss, param_groups, warmup_cosine

TASK = MarkovConfig(vocab_size=16, seq_len=16)


def run(steps=6, seed=0, out_dir=None, **cfg):
    torch.manual_seed(seed)
    model = LanguageModel(LMConfig(16, 16, 1, "gru"))
    trainer = Trainer(model, TrainConfig(steps=steps, seed=seed, log_every=1, progress=False, out_dir=out_dir,
                                         warmup_steps=2, **cfg),
                      batch_fn=lambda step: TASK.make("train", 4, seed * 1000 + step), loss_fn=lm_loss,
                      eval_fn=lambda m: {"loss": float(lm_loss(m, TASK.make("test", 8, 0))[0])})
    return trainer.fit(), trainer


def test_same_seed_same_losses_and_different_seed_differs():
    a = [h["loss"] for h in run()[1].history if "loss" in h]
    b = [h["loss"] for h in run()[1].history if "loss" in h]
    c = [h["loss"] for h in run(seed=1)[1].history if "loss" in h]
    assert a == b and a != c


def test_writes_metrics_and_summary(tmp_path):
    summary, _ = run(out_dir=str(tmp_path))
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "loss" in r] == list(range(1, 7))
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["steps"] == summary["steps"] == 6
    assert saved["provenance"]["torch"] and "commit" in saved["provenance"]  # the code behind the run


def test_grad_accum_of_identical_micro_batches_equals_one_big_step():
    def one(accum):
        torch.manual_seed(0)
        model = LanguageModel(LMConfig(16, 16, 1, "lstm"))
        batch = TASK.make("train", 4, 0)
        Trainer(model, TrainConfig(steps=1, grad_accum=accum, progress=False, grad_clip=0, warmup_steps=1),
                batch_fn=lambda step: batch, loss_fn=lm_loss).fit()
        return torch.cat([p.flatten() for p in model.parameters()])

    torch.testing.assert_close(one(1), one(3))


def test_early_stopping_stops_when_metric_does_not_improve():
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(16, 16, 1, "gru"))
    summary = Trainer(model, TrainConfig(steps=50, eval_every=1, early_stop_metric="score", early_stop_patience=3,
                                         progress=False),
                      batch_fn=lambda step: TASK.make("train", 4, step), loss_fn=lm_loss,
                      eval_fn=lambda m: {"score": 1.0}).fit()
    assert summary["stopped_early"] and summary["steps"] == 4 and summary["best"]["step"] == 1


def test_param_groups_respect_hints_and_skip_tied_duplicates():
    model = LanguageModel(LMConfig(16, 16, 1, "lstm"))
    model.blocks[0].mixer.weight_hh._no_weight_decay = True
    model.blocks[0].mixer.bias_hh._lr_scale = 0.1
    groups = param_groups(model, lr=1.0, weight_decay=0.5)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    by_param = {id(p): g for g in groups for p in g["params"]}
    assert by_param[id(model.blocks[0].mixer.weight_hh)]["weight_decay"] == 0.0
    assert by_param[id(model.blocks[0].mixer.weight_ih)]["weight_decay"] == 0.5
    assert by_param[id(model.blocks[0].mixer.bias_hh)]["lr"] == pytest.approx(0.1)
    assert by_param[id(model.norm.weight)]["weight_decay"] == 0.0


def test_warmup_then_cosine_to_min_ratio():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, warmup_steps=4, total_steps=20, min_ratio=0.1)
    lrs = []
    for _ in range(20):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:])) and lrs[-1] == pytest.approx(0.1, abs=0.01)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="log_every"):
        TrainConfig(log_every=0)


@pytest.mark.parametrize("field,value,message", [
    ("steps", 0, "TrainConfig.steps must be >= 1, got 0"),
    ("steps", -3, "TrainConfig.steps must be >= 1, got -3"),  # the field's own bound, not the generic >= 0
    ("grad_accum", -1, "TrainConfig.grad_accum must be >= 1, got -1"),
    ("log_every", -2, "TrainConfig.log_every must be >= 1, got -2"),
    ("checkpoint_every", -1, "TrainConfig.checkpoint_every must be >= 0, got -1"),
])
def test_an_int_below_its_range_names_the_fields_own_bound(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_none_intervals_follow_the_number_of_steps():
    r = TrainConfig(steps=400, warmup_steps=None, eval_every=None, log_every=None).resolved()
    assert (r.warmup_steps, r.eval_every, r.log_every) == (40, 80, 20)
    r = TrainConfig(steps=5000, warmup_steps=None, eval_every=None, log_every=None).resolved()
    assert (r.warmup_steps, r.eval_every, r.log_every) == (100, 1000, 50)
    assert TrainConfig(steps=3, warmup_steps=7).resolved() == TrainConfig(steps=3, warmup_steps=7)  # given: kept
    summary, trainer = run(steps=10, eval_every=None)
    assert trainer.config.eval_every == 2 and [h["step"] for h in summary["evals"]] == [2, 4, 6, 8, 10]


@pytest.mark.slow
def test_compiled_training_matches_eager_losses():
    eager = [h["loss"] for h in run(steps=3)[1].history if "loss" in h]
    compiled = [h["loss"] for h in run(steps=3, compile=True)[1].history if "loss" in h]
    assert compiled == pytest.approx(eager, rel=1e-4, abs=1e-5)
