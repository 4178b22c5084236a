"""Regression suite of a hostile-input probe: every bad value is refused before work starts, with a one-line
``ValueError`` that names the problem, or runs correctly; nothing is silently wrong and nothing is a traceback
from deep inside torch. Categories: bad tensors and states, bad configs (here); bad files, concurrent writers
and interrupted saves (tests/train, tests/bench)."""

import math

import pytest
import torch

from rnnzoo import mixers
from tests.mixers.test_contract import CAUSAL, D_MODEL, make

OTHER_DTYPES = [torch.float16, torch.bfloat16, torch.float64]


# -- bad tensors and states ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", OTHER_DTYPES, ids=str)
@pytest.mark.parametrize("name", mixers.names())
def test_input_in_another_dtype_than_the_parameters_names_both(name, dtype):
    with pytest.raises(ValueError, match=rf"{dtype}.*parameters are torch.float32"):
        make(name)(torch.randn(2, 5, D_MODEL).to(dtype))


@pytest.mark.parametrize("name", mixers.names())
def test_meta_input_is_checked_without_reading_values(name):
    mixer = make(name)
    with pytest.raises(ValueError, match="meta"):
        mixer(torch.randn(2, 5, D_MODEL, device="meta"))


@pytest.mark.parametrize("bad", ["nan", "inf"])
@pytest.mark.parametrize("name", CAUSAL)
def test_non_finite_state_is_refused(name, bad):
    mixer = make(name)
    _, state = mixer(torch.randn(2, 4, D_MODEL))
    i = next(i for i, t in enumerate(state) if t.is_floating_point() and t.numel())
    poisoned = tuple(t.clone(memory_format=torch.contiguous_format) for t in state)
    poisoned[i].view(-1)[0] = float(bad)
    with pytest.raises(ValueError, match=rf"state\[{i}\] contains NaN or \+Inf"):
        mixer(torch.randn(2, 4, D_MODEL), poisoned)
    with pytest.raises(ValueError, match=rf"state\[{i}\] contains NaN or \+Inf"):
        mixer.step(torch.randn(2, D_MODEL), poisoned)


@pytest.mark.parametrize("name", CAUSAL)
def test_state_in_another_dtype_or_on_meta_is_refused(name):
    mixer = make(name)
    _, state = mixer(torch.randn(2, 4, D_MODEL))
    i = next(i for i, t in enumerate(state) if t.is_floating_point() and t.numel())
    other = tuple(t.double() if j == i else t for j, t in enumerate(state))
    with pytest.raises(ValueError, match=rf"state\[{i}\] is torch.float64"):
        mixer(torch.randn(2, 4, D_MODEL), other)
    meta = tuple(t.to("meta") if j == i else t for j, t in enumerate(state))
    with pytest.raises(ValueError, match=rf"state\[{i}\] is on meta"):
        mixer(torch.randn(2, 4, D_MODEL), meta)


def test_a_non_tensor_state_is_refused():
    mixer = make("gru")
    with pytest.raises(ValueError, match="tuple of tensors"):
        mixer(torch.randn(2, 4, D_MODEL), [torch.zeros(2, D_MODEL)])


# -- bad configs ---------------------------------------------------------------------------------------
BAD_TYPES = {int: ["abc", 16.5, True], float: ["abc", True], bool: ["yes", 1], str: [3]}


@pytest.mark.parametrize("name", mixers.names())
def test_config_fields_are_type_checked(name):
    from rnnzoo.validate import field_types

    for field, allowed in field_types(mixers.get(name).config_class).items():
        if field == "d_model":
            continue
        base = next((t for t in (bool, int, float, str) if t in allowed), None)
        if base is None:
            continue
        for value in BAD_TYPES[base]:
            if any(isinstance(value, t) and not (t is int and isinstance(value, bool)) for t in allowed):
                continue
            with pytest.raises(ValueError, match=rf"{field}.*{type(value).__name__}"):
                mixers.build(name, D_MODEL, **{field: value})


def test_float_d_model_is_refused():
    with pytest.raises(ValueError, match="d_model"):
        mixers.build("lstm", 32.0)


@pytest.mark.parametrize("value", [0, -1])
@pytest.mark.parametrize("name", mixers.names())
def test_zero_or_negative_numeric_options_are_refused_or_run_finite(name, value):
    """Every numeric option at 0 and -1: a ValueError at build, or a mixer whose output is finite."""
    from rnnzoo.validate import field_types

    for field, allowed in field_types(mixers.get(name).config_class).items():
        if field == "d_model" or not ({int, float} & set(allowed)) or bool in allowed:
            continue
        try:
            mixer = make(name, **{field: value})
        except ValueError:
            continue
        y, _ = mixer(torch.randn(2, 6, D_MODEL))
        assert torch.isfinite(y).all(), f"{name}({field}={value}) built but returns NaN/Inf"


def test_attention_rotary_base_must_be_positive():
    for base in (0.0, -10000.0, math.nan):
        with pytest.raises(ValueError, match="rotary_base"):
            mixers.build("attention", 16, rotary_base=base)


# -- bad files, concurrent writers, interrupted saves ----------------------------------------------------
# (run directories in detail: tests/test_rundir.py, tests/train/test_checkpoint.py, tests/apps/test_lm.py)
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = str(Path(__file__).resolve().parents[1])

# trains 12 steps, checkpoint every 2; with a kill step, SIGKILLs itself between writing that step's weight file
# and renaming it into place (a kill -9 in the middle of a save)
_TRAIN = """
import os, signal, sys, torch
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.tasks import MarkovConfig
from rnnzoo.train import Trainer, TrainConfig, lm_loss
out, kill_step, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
real_replace = os.replace
def replace(src, dst):
    if os.path.basename(dst) == f"model-{kill_step}.safetensors":
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
os.replace = replace
torch.manual_seed(0)
task = MarkovConfig(vocab_size=16, seq_len=12)
cfg = TrainConfig(steps=12, log_every=1, progress=False, out_dir=out, warmup_steps=2, checkpoint_every=2,
                  resume=resume)
t = Trainer(LanguageModel(LMConfig(16, 16, 1, "gru")), cfg, lambda s: task.make("train", 4, s), lm_loss)
t.fit()
print(",".join(str(h["loss"]) for h in t.history if "loss" in h))
"""


def _train(out, kill_step=0, resume=False):
    env = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", _TRAIN, str(out), str(kill_step), "1" if resume else "0"],
                          capture_output=True, text=True, env=env, timeout=120)


def test_kill_9_during_a_save_then_resume_leaves_no_temp_files_and_no_duplicate_records(tmp_path):
    killed = _train(tmp_path, kill_step=6)
    assert killed.returncode == -9
    assert list(tmp_path.glob(".model-6.safetensors.*.tmp")) and (tmp_path / ".lock").exists()  # left behind
    resumed = _train(tmp_path, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "stale lock" in resumed.stderr  # the dead process's lock is taken over, with a warning
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / ".lock").exists()
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 13)) and len({r["run_id"] for r in records}) == 1


def test_a_second_writer_is_refused_while_the_first_holds_the_run(tmp_path):
    from rnnzoo.rundir import open_run

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from rnnzoo.rundir import open_run\n"
         "with open_run(sys.argv[1]):\n    print('ready', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": REPO})
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(ValueError, match=f"in use by pid {holder.pid} "):  # this process is the second writer
            with open_run(tmp_path, resume=True):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_a_run_directory_that_is_a_file_or_holds_a_run_is_refused(tmp_path):
    from rnnzoo.rundir import check_run_dir

    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        check_run_dir(tmp_path / "f" / "run")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.json").write_text("{}")
    with pytest.raises(ValueError, match="already holds a run"):
        check_run_dir(tmp_path / "run")


# -- found by re-running the probe after the fixes -----------------------------------------------------
@pytest.mark.parametrize("name", CAUSAL)
def test_minus_inf_is_refused_outside_log_space_state_slots(name):
    mixer = make(name)
    _, state = mixer(torch.randn(2, 4, D_MODEL))
    i = next(i for i, t in enumerate(state) if t.is_floating_point() and t.numel() and i not in mixer.log_space_state)
    poisoned = tuple(t.clone(memory_format=torch.contiguous_format) for t in state)
    poisoned[i].view(-1)[0] = float("-inf")
    with pytest.raises(ValueError, match=rf"state\[{i}\] contains NaN or \+Inf or -Inf"):
        mixer(torch.randn(2, 4, D_MODEL), poisoned)


@pytest.mark.parametrize("name,option,value", [
    ("gla", "gate_logit_normalizer", -1.0), ("hyena", "sine_freq", -1.0), ("lightnet", "gate_low_rank_dim", 0),
    ("mamba", "dt_init_floor", -1.0), ("mlstm", "conv_size", 0), ("s4d", "dt_min", 0.0), ("s4d", "dt_max", -1.0),
    ("moneta", "p", 1e9)])
def test_degenerate_options_are_refused_naming_the_option(name, option, value):
    with pytest.raises(ValueError, match=option):
        mixers.build(name, D_MODEL, **{option: value})


def test_negative_beam_diversity_is_refused():
    from rnnzoo.models.generate import GenerationConfig

    with pytest.raises(ValueError, match="diversity"):
        GenerationConfig(strategy="diverse_beam", num_beams=4, num_groups=2, diversity=-1.0)


def test_a_comma_separated_inter_file_is_named_as_such(tmp_path):
    from rnnzoo.apps.rec.data import load_dataset

    path = tmp_path / "bad.inter"
    path.write_text("user_id:token,item_id:token,rating:float,timestamp:float\n1,2,3,4\n")
    with pytest.raises(ValueError, match="comma-separated"):
        load_dataset(str(path))


def test_rotary_shapes_are_checked():
    from rnnzoo.ops import apply_rotary

    for x, pos in ((torch.randn(1, 9, 2, 4), torch.arange(8)[None]), (torch.randn(1, 8, 4), torch.arange(8)[None])):
        with pytest.raises(ValueError, match="apply_rotary"):
            apply_rotary(x, pos)


def test_minus_inf_gates_are_refused_where_a_fast_form_cannot_take_them():
    from rnnzoo.ops import diagonal_scan

    x, g = torch.randn(1, 6, 3), -torch.rand(1, 6, 3)
    g[0, 3] = float("-inf")
    with pytest.raises(ValueError, match="finite gates"):
        diagonal_scan(x, g, mode="log")
    assert torch.isfinite(diagonal_scan(x, g, mode="chunk")[0]).all()


@pytest.mark.parametrize("bad", ["nan", "inf", "x"])
def test_a_non_finite_timestamp_is_refused_naming_file_and_line(tmp_path, bad):
    from rnnzoo.apps.rec.data import read_interactions

    path = tmp_path / "u.data"
    path.write_text(f"1\t2\t5\t100\n1\t3\t4\t{bad}\n")
    with pytest.raises(ValueError, match=r"u.data:2: timestamp .* not a finite number"):
        read_interactions(path)


def test_non_utf8_interactions_are_refused_naming_the_file(tmp_path):
    from rnnzoo.apps.rec.data import read_interactions

    path = tmp_path / "u.data"
    path.write_bytes(b"1\t2\t5\t100\n1\t\xff\xfe\t4\t101\n")
    with pytest.raises(ValueError, match="u.data: not UTF-8"):
        read_interactions(path)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_is_refused_and_a_sum_that_overflows_is_not(bad):
    from rnnzoo.mixers.base import _all_finite

    x = torch.randn(2, 5, D_MODEL)
    x[1, 3, 2] = bad
    with pytest.raises(ValueError, match="contains NaN or Inf"):
        make("gla")(x)
    assert not _all_finite(x)
    assert _all_finite(torch.full((4, 8), 3e38))  # finite values whose sum is inf: the elementwise check decides
