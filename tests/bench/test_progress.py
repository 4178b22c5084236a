"""What the bench shows while a run trains: plain lines with step and loss, or a bar."""

import torch

from rnnzoo.bench import progress, run_suite
from tests.bench.test_runner import TINY


def test_plain_lines_every_tenth_of_the_steps_with_the_loss():
    lines = []
    watch = progress.RunProgress("[1/1] gru on parity", 20, bar=False, log=lines.append, every_seconds=1e9)
    for step in range(20):
        watch.step(1.0 / (step + 1))
    watch.close("done")
    assert lines[0] == "[1/1] gru on parity: training 20 steps"
    assert [line.split(": ")[1].split(" (")[0] for line in lines[1:-1]] == [
        f"step {s}/20 loss {1 / s:.4f}" for s in range(2, 21, 2)]
    assert lines[-1].startswith("[1/1] gru on parity: done (")


def test_plain_lines_also_come_every_few_seconds(monkeypatch):
    clock = iter(range(0, 1000, 20))  # 20 s per step
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    lines = []
    watch = progress.RunProgress("run", 1000, bar=False, log=lines.append, every_seconds=30)
    for _ in range(4):
        watch.step(0.5)
    assert len(lines) == 1 + 2  # the start line, then a line at 40 s and at 80 s, long before step 100


def test_the_bar_counts_steps_and_shows_the_loss():
    watch = progress.RunProgress("run", 5, bar=True)
    watch.step(0.25)
    assert watch.bar.n == 1 and watch.bar.postfix == "loss=0.2500"
    watch.close("done")


def test_watch_loss_reports_every_call():
    seen = []
    fn = progress.watch_loss(lambda model, batch: (torch.tensor(2.5, requires_grad=True), {"acc": 1.0}), seen.append)
    loss, metrics = fn(None, None)
    assert seen == [2.5] and metrics == {"acc": 1.0} and loss.requires_grad


def test_the_bench_shows_step_progress_inside_each_run(tmp_path, capsys):
    run_suite(TINY, tmp_path / "bars", progress=True)
    err = capsys.readouterr().err
    assert "bench tiny" in err and "[1/1] gru on parity d=8 seed=0:   0%|" in err and "| 0/2 [" in err  # the run's bar
    lines = []
    run_suite(TINY, tmp_path / "plain", progress=False, log=lines.append)
    assert any(": step 2/2 loss " in line for line in lines)
    assert lines[-1].startswith("[1/1] gru on parity d=8 seed=0: done, loss ")
