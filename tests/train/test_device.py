import collections

import pytest
import torch

from rnnzoo import mixers
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.tasks import MarkovConfig
from rnnzoo.train import TrainConfig, Trainer, lm_loss
from rnnzoo.train.device import check_device, model_device, process_group_backend, resolve_device, to_device

TASK = MarkovConfig(vocab_size=16, seq_len=16)
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")


def train(steps=8, device="cpu", dtype="float32", loss_fn=lm_loss, batch_fn=None):
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(16, 32, 1, "gru"))
    trainer = Trainer(model, TrainConfig(steps=steps, lr=1e-2, log_every=1, progress=False, warmup_steps=1,
                                         device=device, dtype=dtype),
                      batch_fn=batch_fn or (lambda step: TASK.make("train", 16, step)), loss_fn=loss_fn,
                      eval_fn=lambda m: {"loss": float(lm_loss(m, TASK.make("test", 8, 0))[0])})
    return trainer.fit(), trainer


def test_bfloat16_autocast_on_cpu_trains_with_float32_weights_and_moments():
    summary, trainer = train(steps=20, dtype="bfloat16")
    losses = [h["loss"] for h in trainer.history if "loss" in h]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert all(s["exp_avg"].dtype == torch.float32 for s in trainer.optimizer.state.values())
    assert trainer.scaler is None and summary["evals"]


def test_bfloat16_runs_the_forward_in_bfloat16():
    seen = []

    def loss_fn(model, batch):
        seen.append(model(batch[0]).dtype)
        return lm_loss(model, batch)

    train(steps=1, dtype="bfloat16", loss_fn=loss_fn)
    assert seen == [torch.bfloat16]


def test_batches_reach_loss_fn_on_the_model_device():
    seen = []

    def loss_fn(model, batch):
        seen.append({t.device.type for t in batch} | {model_device(model).type})
        return lm_loss(model, batch)

    train(steps=2, loss_fn=loss_fn)
    assert seen == [{"cpu"}, {"cpu"}]


def test_to_device_moves_every_tensor_of_nested_batches():
    Pair = collections.namedtuple("Pair", "a b")
    meta = torch.device("meta")
    batch = {"x": torch.ones(2), "rest": [torch.zeros(1), (Pair(torch.ones(1), 3), "name")]}
    moved = to_device(batch, meta)
    assert moved["x"].device == meta and moved["rest"][0].device == meta
    pair = moved["rest"][1][0]
    assert isinstance(pair, Pair) and pair.a.device == meta and pair.b == 3 and moved["rest"][1][1] == "name"
    assert isinstance(moved["rest"], list) and isinstance(moved["rest"][1], tuple)


@NO_GPU
def test_auto_is_cpu_here_and_an_absent_cuda_is_a_one_line_error():
    assert resolve_device("auto") == torch.device("cpu")
    for name in ("cuda", "cuda:1"):
        with pytest.raises(ValueError, match=f"device '{name}' is not available here.*available: cpu") as e:
            TrainConfig(device=name)
        assert "\n" not in str(e.value)


def test_unknown_device_and_dtype_are_refused():
    with pytest.raises(ValueError, match="unknown device 'gpu'; expected one of auto, cpu, cuda, cuda:N, mps"):
        check_device("gpu")
    with pytest.raises(ValueError, match="dtype"):
        TrainConfig(dtype="int8")


@NO_GPU
def test_float16_on_cpu_is_refused():
    with pytest.raises(ValueError, match="float16 needs a GPU"):
        TrainConfig(device="cpu", dtype="float16")
    with pytest.raises(ValueError, match="float16 needs a GPU"):
        TrainConfig(dtype="float16")  # auto is the CPU here


def test_process_group_backend_follows_the_device():
    assert process_group_backend(torch.device("cpu")) == "gloo"
    assert process_group_backend(torch.device("cuda", 1)) == "nccl"
    assert process_group_backend(torch.device("mps")) == "gloo"


def test_checkpoint_of_a_bfloat16_run_loads_on_cpu(tmp_path):
    from rnnzoo.train.checkpoint import load_checkpoint, save_checkpoint

    _, trainer = train(steps=2, dtype="bfloat16")
    save_checkpoint(tmp_path, trainer.model, step=2, optimizer=trainer.optimizer, scheduler=trainer.scheduler)
    model = LanguageModel(LMConfig(16, 32, 1, "gru"))
    _, fresh = train(steps=1)
    load_checkpoint(tmp_path, model, optimizer=fresh.optimizer)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), trainer.model.state_dict().values()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_trains_on_cuda(dtype, tmp_path):
    from rnnzoo.train.checkpoint import load_checkpoint, save_checkpoint

    summary, trainer = train(steps=20, device="cuda", dtype=dtype)
    assert model_device(trainer.model).type == "cuda"
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    losses = [h["loss"] for h in trainer.history if "loss" in h]
    assert sum(losses[-5:]) < sum(losses[:5])
    assert (trainer.scaler is not None) == (dtype == "float16")
    save_checkpoint(tmp_path, trainer.model, step=20, optimizer=trainer.optimizer)
    model = LanguageModel(LMConfig(16, 32, 1, "gru"))
    load_checkpoint(tmp_path, model)
    assert model_device(model).type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", [n for n in mixers.names() if mixers.get(n).causal])
def test_every_causal_mixer_trains_a_step_on_cuda_in_bfloat16(name):
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(16, 32, 1, name))
    trainer = Trainer(model, TrainConfig(steps=1, progress=False, device="cuda", dtype="bfloat16"),
                      batch_fn=lambda step: TASK.make("train", 4, step), loss_fn=lm_loss)
    assert torch.isfinite(torch.tensor(trainer.fit()["final_loss"]))
