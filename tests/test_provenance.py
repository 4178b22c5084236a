import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rnnzoo
from rnnzoo.provenance import PACKAGE_DIR, git_state, provenance

FIELDS = {"commit", "dirty", "rnnzoo", "torch", "python", "cpu", "logical_cores", "torch_threads", "platform",
          "date"}
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def test_fields_are_present_and_json_ready():
    p = provenance()
    assert set(p) == FIELDS
    assert p["rnnzoo"] == rnnzoo.__version__ and p["torch"] == torch.__version__
    assert p["torch_threads"] == torch.get_num_threads() and p["logical_cores"] == os.cpu_count()
    assert p["python"].count(".") == 2 and p["platform"]
    assert json.loads(json.dumps(p)) == p


def test_outside_a_git_checkout_commit_and_dirty_are_none(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    assert git_state(tmp_path) == (None, None)


def test_from_another_working_directory_it_still_works(tmp_path):
    # the commit is that of the imported package, whatever the current directory is
    code = "import json; from rnnzoo.provenance import provenance; print(json.dumps(provenance()))"
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR.parent)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout
    p = json.loads(out)
    assert set(p) == FIELDS
    assert p["commit"] == provenance()["commit"]


@needs_git
def test_a_checkout_reports_its_commit_and_uncommitted_edits(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "__init__.py").write_text("x = 1\n")
    git("add", "__init__.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    head = git("rev-parse", "HEAD")
    assert git_state(tmp_path) == (head, False)
    (tmp_path / "__init__.py").write_text("x = 2\n")
    assert git_state(tmp_path) == (head, True)


@needs_git
def test_an_untracked_copy_inside_another_repository_reports_no_commit(tmp_path):
    subprocess.run(["git", "-C", str(tmp_path), "init", "-q"], check=True)
    package = tmp_path / ".venv" / "rnnzoo"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    assert git_state(package) == (None, None)


def test_bench_records_and_benchmark_json_carry_it(tmp_path, monkeypatch):
    from rnnzoo.bench import Suite, TaskRun, run_suite

    tiny = Suite(name="tiny", mixers=("gru",), tasks=(TaskRun("parity:seq_len=6:test_lens=(6,12)", steps=1,
                                                               batch_size=2),),
                 d_models=(8,), seeds=(0,), n_layers=1, test_n=4)
    run_suite(tiny, tmp_path / "bench", progress=False)
    (record,) = [json.loads(line) for line in (tmp_path / "bench" / "results.jsonl").read_text().splitlines()]
    assert set(record["provenance"]) == FIELDS

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import ops_speed

    out = tmp_path / "speed.json"
    ops_speed.main(["--ops", "ssd", "--T", "16", "--batch", "1", "--repeats", "1", "--threads", "1", "--out", str(out)])
    assert set(json.loads(out.read_text())["provenance"]) == FIELDS
