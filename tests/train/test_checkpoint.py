import dataclasses
import json

import pytest
import torch

from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.tasks import MarkovConfig
from rnnzoo.train import TrainConfig, Trainer, lm_loss
from rnnzoo.train.checkpoint import (
    SIDECAR,
    CheckpointError,
    load_checkpoint,
    read_sidecar,
    save_checkpoint,
    write_sidecar,
)

TASK = MarkovConfig(vocab_size=16, seq_len=12)


class Killed(Exception):
    pass


def trainer(out_dir, steps=9, kill_at=None, resume=False, mixer="gru"):
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(16, 16, 1, mixer))

    def batch_fn(step):
        if step == kill_at:
            raise Killed
        return TASK.make("train", 4, step)

    def noisy_loss(m, batch):  # draws from the global RNG, so a resume that forgot the RNG state diverges
        loss, metrics = lm_loss(m, batch)
        return loss + 1e-3 * torch.rand(()), metrics

    def eval_fn(m):
        return {"loss": float(lm_loss(m, TASK.make("test", 4, 0))[0])}

    cfg = TrainConfig(steps=steps, log_every=1, progress=False, out_dir=str(out_dir), warmup_steps=3, eval_every=2,
                      early_stop_metric="loss", early_stop_patience=100, checkpoint_every=2, resume=resume)
    return Trainer(model, cfg, batch_fn, noisy_loss, eval_fn)


def losses(history):
    return {h["step"]: h["loss"] for h in history if "loss" in h}


@pytest.mark.parametrize("mixer", ["gru", "attention"])
def test_resume_after_kill_gives_exactly_the_uninterrupted_losses(tmp_path, mixer):
    full = trainer(tmp_path / "full", mixer=mixer)
    full.fit()
    killed = trainer(tmp_path / "run", kill_at=5, mixer=mixer)
    with pytest.raises(Killed):
        killed.fit()
    assert read_sidecar(tmp_path / "run")["step"] == 4
    resumed = trainer(tmp_path / "run", resume=True, mixer=mixer)
    resumed.fit()
    after = losses(resumed.history)
    assert sorted(after) == [5, 6, 7, 8, 9]
    assert after == {s: v for s, v in losses(full.history).items() if s > 4}  # exact, not approximate
    for p, q in zip(full.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)


def test_the_resume_test_can_fail(tmp_path, monkeypatch):
    """Reloading weights without AdamW moments, or without the RNG state, changes the curve."""
    full = trainer(tmp_path / "full")
    full.fit()
    expected = {s: v for s, v in losses(full.history).items() if s > 4}
    with pytest.raises(Killed):
        trainer(tmp_path / "run", kill_at=5).fit()
    t = trainer(tmp_path / "run")
    t.config.checkpoint_every, t.config.out_dir = 0, None  # writes nothing: the run directory stays as it is
    t.step = load_checkpoint(tmp_path / "run", t.model)["step"]  # weights only, fresh optimizer
    t.fit()
    assert losses(t.history) != expected
    monkeypatch.setattr("rnnzoo.train.checkpoint._set_rng_state", lambda state: None)
    t = trainer(tmp_path / "run", resume=True)
    t.config.checkpoint_every = 0
    t.fit()
    assert losses(t.history) != expected


def small_model(**kw):
    torch.manual_seed(0)
    return LanguageModel(LMConfig(16, 16, 1, "lstm", **kw))


def test_tied_weights_are_stored_once_and_retied(tmp_path):
    model = small_model()
    save_checkpoint(tmp_path, model, step=3)
    meta = read_sidecar(tmp_path)
    assert meta["aliases"] == {"head.weight": "embed.weight"}
    other = LanguageModel(LMConfig(16, 16, 1, "lstm"))
    load_checkpoint(tmp_path, other)
    assert other.head.weight is other.embed.weight
    for (n, p), q in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(p, q), n


def test_old_files_are_removed_and_sidecar_points_to_newest(tmp_path):
    model = small_model()
    save_checkpoint(tmp_path, model, step=1)
    save_checkpoint(tmp_path, model, step=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [SIDECAR, "model-2.safetensors"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_damaged_weight_file_is_refused_naming_the_file(tmp_path, damage):
    model = small_model()
    opt = torch.optim.AdamW(model.parameters())
    save_checkpoint(tmp_path, model, step=1, optimizer=opt)
    path = tmp_path / "model-1.safetensors"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(data[:100] + b"\x00garbage\xff" + data[110:])
    else:
        path.unlink()
    with pytest.raises(CheckpointError, match=r"model-1\.safetensors.*(truncated|corrupt|missing)"):
        load_checkpoint(tmp_path, small_model())


def test_corrupt_optimizer_file_and_missing_or_garbage_sidecar(tmp_path):
    model = small_model()
    save_checkpoint(tmp_path, model, step=1, optimizer=torch.optim.AdamW(model.parameters()))
    (tmp_path / "optim-1.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match=r"optim-1\.pt"):
        load_checkpoint(tmp_path, small_model(), optimizer=torch.optim.AdamW(model.parameters()))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere", small_model())
    (tmp_path / SIDECAR).write_text("{garbage")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path, small_model())


def test_weight_file_swapped_under_a_valid_sidecar_is_refused(tmp_path):
    """A well-formed safetensors file that is not the one the sidecar recorded fails the checksum."""
    save_checkpoint(tmp_path, small_model(), step=1)
    save_checkpoint(tmp_path / "b", LanguageModel(LMConfig(16, 16, 1, "lstm")), step=1)
    (tmp_path / "model-1.safetensors").write_bytes((tmp_path / "b" / "model-1.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path, small_model())


def test_mismatched_model_config_is_refused(tmp_path):
    save_checkpoint(tmp_path, small_model(), step=1)
    with pytest.raises(CheckpointError, match=r"differs in \['d_model'\]"):
        load_checkpoint(tmp_path, LanguageModel(LMConfig(16, 32, 1, "lstm")))
    with pytest.raises(CheckpointError, match=r"mixer"):
        load_checkpoint(tmp_path, LanguageModel(LMConfig(16, 16, 1, "gru")))


def test_optimizer_file_is_loaded_weights_only(tmp_path, monkeypatch):
    model = small_model()
    save_checkpoint(tmp_path, model, step=1, optimizer=torch.optim.AdamW(model.parameters()))
    seen = {}
    real = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_checkpoint(tmp_path, small_model(), optimizer=torch.optim.AdamW(model.parameters()))
    assert seen.get("weights_only") is True
    assert json.loads((tmp_path / SIDECAR).read_text())["model_config"]["mixer"] == "lstm"


def test_resume_removes_temp_files_and_drops_metrics_after_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Killed):
        trainer(run, kill_at=5).fit()
    # what a kill -9 after step 6, in the middle of saving step 6, leaves behind
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "loss": 1.0}\n{"step": 6, "loss": 1.0}\n{"step": 6, "ev')
    (run / ".model-6.safetensors.x1y2.tmp").write_bytes(b"\0" * 4096)
    resumed = trainer(run, resume=True)
    resumed.fit()
    assert not list(run.glob(".*.tmp"))
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == list(range(1, 10))  # each step once: the records after the checkpoint at 4 were dropped
    assert len({r["run_id"] for r in records}) == 1  # one run id, kept across the resume


def test_resume_restores_the_saved_config_and_refuses_unsafe_changes(tmp_path, capsys):
    trainer(tmp_path, steps=4).fit()
    t = trainer(tmp_path, steps=6, resume=True)
    t.run_config = dataclasses.replace(t.run_config, lr=0.5, seed=3)
    with pytest.raises(ValueError, match=r"lr 0.001 -> 0.5, seed 0 -> 3.*--override-config"):
        t.fit()
    t = trainer(tmp_path, steps=6, resume=True)  # more steps: applied and reported
    t.fit()
    assert t.step == 6 and "changed settings: steps 4 -> 6" in capsys.readouterr().err


def edited_sidecar(tmp_path, edit, keep_checksum=False):
    trainer(tmp_path, steps=2).fit()
    meta = json.loads((tmp_path / SIDECAR).read_text())
    edit(meta)
    if keep_checksum:
        (tmp_path / SIDECAR).write_text(json.dumps(meta))
    else:
        write_sidecar(tmp_path, meta)  # a consistent checksum: the fields themselves are checked


@pytest.mark.parametrize("field", ["step", "vocab"])
def test_an_edited_sidecar_fails_its_checksum(tmp_path, field):
    edit = {"step": lambda m: m.update(step=9), "vocab": lambda m: m["extra"].update(vocab=["<unk>", "a"])}[field]
    edited_sidecar(tmp_path, edit, keep_checksum=True)
    with pytest.raises(CheckpointError, match="sha256 does not match its contents"):
        read_sidecar(tmp_path)


@pytest.mark.parametrize("edit,message", [
    (lambda m: m.update(rng="garbage"), "field 'rng' must be"),
    (lambda m: m["rng"].update(torch="!!not base64!!"), "field 'rng' is not a saved RNG state"),
    (lambda m: m.pop("step"), "field 'step' is missing"),
    (lambda m: m.update(step="4"), "field 'step' must be an integer"),
    (lambda m: m["extra"].pop("trainer"), "field 'extra.trainer' is missing"),
    (lambda m: m.update(model_config=None), "field 'model_config' is null"),
    (lambda m: m["files"]["model"].update(name="../../etc/passwd"), "field 'files' must be"),
    (lambda m: m.update(aliases={"head.weight": "nothing"}), "field 'aliases' names 'nothing'"),
    (lambda m: m.update(scheduler={"x": 1}), "field 'scheduler'"),
], ids=["rng", "rng_text", "no_step", "step_text", "no_trainer", "null_model_config", "path", "alias", "scheduler"])
def test_hand_edited_sidecar_fields_are_checkpoint_errors_naming_the_field(tmp_path, edit, message):
    edited_sidecar(tmp_path, edit)
    with pytest.raises(CheckpointError, match=message):
        trainer(tmp_path, steps=3, resume=True).fit()
