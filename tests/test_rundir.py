"""Run directories: a run is never overwritten by accident, one process owns it at a time, a killed save
leaves nothing behind, and a resume keeps the run's id and drops the records written after its checkpoint."""

import json
import os
import subprocess
import sys

import pytest

from rnnzoo.rundir import (
    LOCK,
    RUN_FILE,
    check_run_dir,
    open_run,
    remove_temp_files,
    resume_changes,
    truncate_metrics,
    write_results,
)
from rnnzoo.train import TrainConfig


def test_a_directory_holding_a_run_is_refused_unless_resume_or_overwrite(tmp_path):
    with open_run(tmp_path) as run:
        (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
        (tmp_path / "model-3.safetensors").write_bytes(b"x")
    with pytest.raises(ValueError, match="already holds a run.*--resume.*--overwrite"):
        with open_run(tmp_path):
            pass
    with open_run(tmp_path, resume=True) as resumed:
        assert resumed.run_id == run.run_id  # kept across resumes
    (tmp_path / "notes.txt").write_text("mine")
    with open_run(tmp_path, overwrite=True) as new:
        assert new.run_id != run.run_id
        assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK, "notes.txt", RUN_FILE]  # only the run's files go
    with pytest.raises(ValueError, match="exclude each other"):
        check_run_dir(tmp_path, resume=True, overwrite=True)


def test_a_run_that_failed_before_writing_anything_can_be_started_again(tmp_path):
    with pytest.raises(RuntimeError):
        with open_run(tmp_path):
            raise RuntimeError("bad corpus")
    with open_run(tmp_path):
        pass


def test_a_live_lock_is_refused_naming_the_pid(tmp_path):
    with open_run(tmp_path):
        with pytest.raises(ValueError, match=rf"in use by pid {os.getpid()} .*lock file"):
            with open_run(tmp_path, resume=True):
                pass
    assert not (tmp_path / LOCK).exists()  # released at the end of the run


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket
    (tmp_path / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    with pytest.warns(UserWarning, match=rf"stale lock .*pid {dead.pid}"):
        with open_run(tmp_path):
            assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    (tmp_path / LOCK).write_text("")  # a process killed between creating the lock and writing it
    with pytest.warns(UserWarning, match="unreadable lock"):
        with open_run(tmp_path, resume=True):
            pass


def test_temp_files_of_a_killed_save_are_removed_on_start_and_resume(tmp_path):
    (tmp_path / ".model-6.safetensors.k3j2.tmp").write_bytes(b"\0" * 1000)
    with open_run(tmp_path):
        assert not list(tmp_path.glob(".*.tmp"))
    (tmp_path / ".checkpoint.json.abc.tmp").write_text("{")
    with open_run(tmp_path, resume=True):
        assert not list(tmp_path.glob(".*.tmp"))
    assert remove_temp_files(tmp_path) == []


def test_truncate_metrics_keeps_records_up_to_the_step_and_drops_damaged_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"ste{"step": 2, "eval": {}}\n{"step": 2}\n{"step": 3}\n{"ste')
    assert truncate_metrics(path, 2) == 3
    assert [json.loads(x) for x in path.read_text().splitlines()] == [{"step": 1}, {"step": 2}]
    assert truncate_metrics(tmp_path / "none.jsonl", 2) == 0


def test_resume_changes_refuses_unsafe_differences_and_reports_safe_ones():
    saved = TrainConfig(steps=10, lr=1e-3, seed=0, out_dir="a")
    from dataclasses import asdict, replace
    assert resume_changes(asdict(saved), replace(saved, steps=20, progress=False, out_dir="b", resume=True)) == [
        "progress True -> False", "steps 10 -> 20"]
    with pytest.raises(ValueError, match=r"lr 0.001 -> 0.01, seed 0 -> 3; .*--override-config"):
        resume_changes(asdict(saved), replace(saved, lr=1e-2, seed=3, steps=20))
    assert "lr 0.001 -> 0.01" in resume_changes(asdict(saved), replace(saved, lr=1e-2), override=True)


@pytest.mark.parametrize("kind", ["file", "under_file"])
def test_an_output_path_that_cannot_be_a_directory_is_refused(tmp_path, kind):
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" if kind == "file" else tmp_path / "f" / "run"
    with pytest.raises(ValueError, match=f"{tmp_path / 'f'} is a file"):
        check_run_dir(out)


def test_an_unwritable_output_directory_is_refused(tmp_path, monkeypatch):
    real_open = os.open

    def denied(path, *args, **kw):  # what a read-only or foreign directory answers (root bypasses chmod)
        if ".write-test" in str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(ValueError, match=f"{tmp_path / 'out'} is not writable: Permission denied"):
        check_run_dir(tmp_path / "out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_is_refused(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(ValueError, match="not writable"):
        check_run_dir(tmp_path / "ro" / "run")


def test_run_json_records_the_code_that_created_and_resumed_the_run(tmp_path):
    with open_run(tmp_path):
        (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    created = json.loads((tmp_path / RUN_FILE).read_text())
    assert created["provenance"]["torch"] and "commit" in created["provenance"] and "resumed" not in created
    with open_run(tmp_path, resume=True):
        pass
    with open_run(tmp_path, resume=True):
        pass
    resumed = json.loads((tmp_path / RUN_FILE).read_text())
    assert resumed["run_id"] == created["run_id"] and resumed["provenance"] == created["provenance"]
    assert len(resumed["resumed"]) == 2 and all(p["rnnzoo"] for p in resumed["resumed"])


def test_write_results_stamps_provenance_and_keeps_a_given_one(tmp_path):
    result = write_results(tmp_path, {"loss": 0.5})
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == result and saved["loss"] == 0.5 and saved["provenance"]["python"]
    write_results(tmp_path, {"loss": 0.25, "provenance": {"commit": "abc"}}, "lm.json")
    assert json.loads((tmp_path / "lm.json").read_text())["provenance"] == {"commit": "abc"}
