"""The bench end to end on a tiny suite: all outputs written, resume redoes only missing runs, bad names raise."""

import dataclasses
import json

import pytest

from rnnzoo.bench import Suite, TaskRun, load_records, parse_spec, run_suite, runner, split_list, suite_from_args
from rnnzoo.bench.html import family, write_html
from rnnzoo.bench.report import summary

TINY = Suite(name="tiny", mixers=("gru",), tasks=(TaskRun("parity:seq_len=6:test_lens=(6,12)", steps=2, batch_size=4),),
             d_models=(8,), seeds=(0,), n_layers=1, test_n=8)


def test_tiny_suite_writes_results_leaderboard_and_plots(tmp_path):
    records = run_suite(TINY, tmp_path, progress=False)
    assert len(records) == 1
    (r,) = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert r["mixer"] == "gru" and r["seed"] == 0 and r["d_model"] == 8 and r["steps"] == 2
    assert set(r["accuracy"]) == {"6", "12"} and all(0 <= a <= 1 for a in r["accuracy"].values())
    assert r["state_size"] == 8 and r["params"] > 0 and r["train_seconds"] > 0 and r["rnnzoo_version"]
    board = (tmp_path / "leaderboard.md").read_text()
    assert "| gru | 8 | 1 | 2 | 0.003 | 4 | 8 |" in board and "acc@12" in board  # budget: layers, steps, lr, batch
    assert "Chance: 0.500" in board and "trained at length 6" in board and r["chance"] == 0.5
    assert (tmp_path / "plots" / "parity_seq_len_6_test_lens_6_12_acc_vs_length.png").stat().st_size > 1000


def test_recall_task_gets_a_state_size_plot(tmp_path):
    suite = TINY.replace(mixers=("gru", "attention"), tasks=(TaskRun("mqar:vocab=16:seq_len=8:num_kv_pairs=2",
                                                                      steps=1, batch_size=2),))
    run_suite(suite, tmp_path, progress=False)
    assert (tmp_path / "plots" / "mqar_vocab_16_seq_len_8_num_kv_pairs_2_acc_vs_state.png").exists()
    assert "| attention | 8 | 1 | 1 | 0.003 | 2 | grows |" in (tmp_path / "leaderboard.md").read_text()


def test_resume_skips_finished_runs_and_keeps_a_partial_line_apart(tmp_path, monkeypatch, capsys):
    suite = TINY.replace(seeds=(0, 1))
    run_suite(suite.replace(seeds=(0,)), tmp_path, progress=False)
    first = (tmp_path / "results.jsonl").read_text()
    with open(tmp_path / "results.jsonl", "a") as f:  # a run killed mid-write
        f.write('{"key": "gru|parity')
    calls = []
    real = runner.train_and_eval
    monkeypatch.setattr(runner, "train_and_eval", lambda *a: calls.append(a) or real(*a))
    records = run_suite(suite, tmp_path, progress=False, log=lambda msg: None)
    assert [c[3] for c in calls] == [1]  # only seed 1 was trained
    # the partial line is terminated, not glued onto the new record, and never rewritten (a concurrent
    # shard's append could be lost by a rewrite); readers skip it with a warning naming file and line
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3 and lines[0] + "\n" == first and lines[1] == '{"key": "gru|parity'
    assert sorted(r["seed"] for r in records) == [0, 1]
    assert f"{tmp_path / 'results.jsonl'}:2: skipping a damaged line" in capsys.readouterr().err
    assert len(load_records(tmp_path)) == 2
    calls.clear()
    run_suite(suite, tmp_path, progress=False, log=lambda msg: None)
    assert calls == []


def test_a_rerun_with_other_settings_is_refused_and_overwrite_trains_it_anew(tmp_path, monkeypatch):
    """One folder never mixes budgets: the same runs under other settings are refused (the old record would
    otherwise be reported as if it were the new run, or mixed into one leaderboard); --overwrite replaces them."""
    calls = []
    real = runner.train_and_eval
    monkeypatch.setattr(runner, "train_and_eval", lambda *a: calls.append(a) or real(*a))
    run_suite(TINY, tmp_path, progress=False)
    changed = [TINY.replace(tasks=(dataclasses.replace(TINY.tasks[0], **change),)) for change in
               ({"steps": 3}, {"lr": 1e-2}, {"batch_size": 2}, {"weight_decay": 0.0})]
    changed += [TINY.replace(n_layers=2), TINY.replace(test_n=4)]
    for suite in changed:
        with pytest.raises(ValueError, match="under other settings.*--overwrite"):
            run_suite(suite, tmp_path, progress=False, log=lambda msg: None)
        run_suite(suite, tmp_path, progress=False, log=lambda msg: None, overwrite=True)
    assert len(calls) == 1 + len(changed)  # each change trained anew
    records = load_records(tmp_path)
    assert len(records) == 1 and records[0]["test_n"] == 4  # the last run replaced the earlier ones
    spelled_out = TINY.replace(mixers=("gru:bias=True",), test_n=4)
    run_suite(spelled_out, tmp_path, progress=False, log=lambda msg: None)
    assert len(calls) == 1 + len(changed)  # gru:bias=True spells out gru's default: the same run, not retrained


def test_records_are_counted_once_per_key(tmp_path, monkeypatch):
    """Two unsharded runs on one folder (or a line copied twice) must not count two seeds for one."""
    run_suite(TINY, tmp_path, progress=False)
    path = tmp_path / "results.jsonl"
    path.write_text(path.read_text() * 2)
    records = run_suite(TINY, tmp_path, progress=False, log=lambda msg: None)
    assert len(records) == 1 and len(load_records(tmp_path)) == 1
    row = next(line for line in (tmp_path / "leaderboard.md").read_text().splitlines() if line.startswith("| gru"))
    assert row.split(" | ")[-2] == "1"  # the seeds column


def test_shards_split_the_jobs_and_together_cover_the_suite(tmp_path, monkeypatch):
    suite = TINY.replace(seeds=(0, 1, 2))
    calls = []
    real = runner.train_and_eval
    monkeypatch.setattr(runner, "train_and_eval", lambda *a: calls.append(a) or real(*a))
    run_suite(suite, tmp_path, progress=False, shard=(1, 2))
    assert [c[3] for c in calls] == [1]
    records = run_suite(suite, tmp_path, progress=False, shard=(0, 2), log=lambda msg: None)
    assert [c[3] for c in calls] == [1, 0, 2] and sorted(r["seed"] for r in records) == [0, 1, 2]
    assert runner.parse_shard("1/3") == (1, 3) and runner.parse_shard(None) == (0, 1)
    for bad in ("2/2", "a/b", "1"):
        with pytest.raises(ValueError, match="shard"):
            runner.parse_shard(bad)
    with pytest.raises(ValueError, match="shard"):
        run_suite(suite, tmp_path, progress=False, shard=(0, 0))


def test_summary_ranks_per_task_and_normalises_by_chance():
    def rec(mixer, task, accs, chance):
        return {"mixer": mixer, "d_model": 8, "task": task, "accuracy": accs, "chance": chance}
    records = [rec("gru", "parity:seq_len=6", {"6": 1.0, "12": 0.5}, 0.5),
               rec("lstm", "parity:seq_len=6", {"6": 1.0, "12": 1.0}, 0.5),
               rec("gru", "mqar:jrt=True", {"8": 0.25}, 0.25), rec("gru", "mqar", {"8": 0.75}, 0.5),
               rec("attention", "mqar", {"8": 1.0}, 0.5), rec("attention", "parity:seq_len=6", {"6": 0.5, "12": 0.5}, 0.5)]
    lines = summary(records)
    assert "(acc - chance) / (1 - chance)" in lines[2]  # the header says what the mean is
    assert lines[4] == "| mixer | d_model | parity | mqar:jrt=True | mqar | mean over tasks, normalised |"
    assert lines[6] == "| *chance* | | *0.500* | *0.250* | *0.500* | *0.000* |"
    assert lines[7] == "| lstm | 8 | 1.000 (#1) |  |  | 1.000 |"  # best normalised mean first; missing blank
    # attention: perfect MQAR, parity at chance -> (1 + 0) / 2; not ranked last as a raw mean would suggest
    assert lines[8] == "| attention | 8 | 0.500 (#2) |  | 1.000 (#1) | 0.500 |"
    assert lines[9] == "| gru | 8 | 0.500 (#2) | 0.250 (#1) | 0.750 (#2) | 0.167 |"  # the longest length counts


def test_a_diverged_run_is_recorded_with_zero_accuracy_and_the_suite_goes_on(tmp_path, monkeypatch):
    def blow_up(self):
        self.step = 3
        raise FloatingPointError("loss became nan at step 3")

    monkeypatch.setattr(runner.Trainer, "fit", blow_up)
    records = run_suite(TINY.replace(seeds=(0, 1)), tmp_path, progress=False)
    assert len(records) == 2
    assert all(r["diverged"] == "step 3: loss became nan at step 3" for r in records)
    assert all(r["accuracy"] == {"6": 0.0, "12": 0.0} and r["steps"] == 3 for r in records)
    assert "gru (diverged in 2 of 2 seeds: scored 0)" in (tmp_path / "leaderboard.md").read_text()
    monkeypatch.setattr(runner.Trainer, "fit", lambda self: (_ for _ in ()).throw(ValueError("lr must be positive")))
    with pytest.raises(ValueError, match="lr must be"):  # other errors still stop the suite
        run_suite(TINY.replace(seeds=(2,)), tmp_path, progress=False, log=lambda msg: None)


def test_unknown_names_raise_listing_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="valid names:.*lstm"):
        run_suite(TINY.replace(mixers=("lstmm",)), tmp_path, strict=True, progress=False)
    with pytest.raises(ValueError, match="valid names:.*parity"):
        run_suite(TINY.replace(tasks=(TaskRun("parityy", steps=1),)), tmp_path, progress=False)
    with pytest.raises(ValueError, match="options are"):
        run_suite(TINY.replace(mixers=("gru:nope=1",)), tmp_path, strict=True, progress=False)


def test_a_mixer_that_does_not_fit_a_suite_width_fails_before_any_run(tmp_path, capsys, monkeypatch):
    from rnnzoo.cli import main

    calls = []
    monkeypatch.setattr(runner, "train_and_eval", lambda *a: calls.append(a))
    with pytest.raises(ValueError, match="mixer 'gla' at d_model=6: .*num_heads"):
        run_suite(TINY.replace(mixers=("gru", "gla"), d_models=(8, 6)), tmp_path, strict=True, progress=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--mixers", "gla", "--d-model", "6", "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and "d_model=6" in err, err
    assert calls == [] and not (tmp_path / "results.jsonl").exists()


def test_mixer_specs_are_typed_by_the_mixer_config(tmp_path):
    records = run_suite(TINY.replace(mixers=("gla:num_heads=2:expand_k=1",)), tmp_path, strict=True, progress=False)
    assert records[0]["mixer_options"] == {"num_heads": 2, "expand_k": 1.0}
    assert isinstance(records[0]["mixer_options"]["expand_k"], float)


def test_suite_mixers_not_registered_yet_are_skipped_with_a_note(tmp_path):
    notes = []
    records = run_suite(TINY.replace(mixers=("not_landed_yet", "gru")), tmp_path, progress=False, log=notes.append)
    assert len(records) == 1 and any("skipping mixer 'not_landed_yet'" in n for n in notes)


def test_specs_and_overrides():
    assert parse_spec("deltanet:allow_neg_eigval=True:num_heads=2") == (
        "deltanet", {"allow_neg_eigval": True, "num_heads": 2})
    assert parse_spec("permutations:group=A5") == ("permutations", {"group": "A5"})
    assert split_list("a,mqar:test_lens=(1,2),b") == ["a", "mqar:test_lens=(1,2)", "b"]
    suite, strict = suite_from_args("quick", mixers="gru,lstm", tasks="parity,mqar:num_kv_pairs=2",
                                    d_models="16,32", seeds="0,1", steps=5)
    assert strict and suite.mixers == ("gru", "lstm") and suite.d_models == (16, 32) and suite.seeds == (0, 1)
    assert [r.spec for r in suite.tasks] == ["parity", "mqar:num_kv_pairs=2"] and {r.steps for r in suite.tasks} == {5}
    with pytest.raises(ValueError, match="valid suites"):
        suite_from_args("huge")


def test_cli_bench_runs_a_user_defined_suite(tmp_path, capsys):
    from rnnzoo.cli import main

    assert main(["bench", "--mixers", "gru", "--tasks", "parity:seq_len=4:test_lens=(4,8)", "--steps", "1",
                 "--d-model", "8", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| gru | 8 |" in out and "plots:" in out and str(tmp_path) in out
    with pytest.raises(SystemExit) as exit_info:  # the CLI turns ValueError into one line and status 2
        main(["bench", "--mixers", "nope", "--out", str(tmp_path), "--no-progress"])
    assert exit_info.value.code == 2 and "valid names" in capsys.readouterr().err


def test_dtype_is_part_of_a_run_key_and_the_device_is_recorded_but_not_keyed(tmp_path, monkeypatch):
    calls = []
    real = runner.train_and_eval
    monkeypatch.setattr(runner, "train_and_eval", lambda *a: calls.append(a) or real(*a))
    (plain,) = run_suite(TINY, tmp_path, progress=False, device="cpu")
    assert plain["device"] == "cpu" and plain["dtype"] == "float32"
    run_suite(TINY, tmp_path, progress=False, device="auto", log=lambda msg: None)  # same runs: nothing trains
    with pytest.raises(ValueError, match="under other settings"):  # another dtype: other results, not mixed in
        run_suite(TINY, tmp_path, progress=False, device="cpu", dtype="bfloat16", log=lambda msg: None)
    (half,) = run_suite(TINY, tmp_path, progress=False, device="cpu", dtype="bfloat16", log=lambda msg: None,
                        overwrite=True)
    assert len(calls) == 2 and half["dtype"] == "bfloat16" and half["key"] != plain["key"]
    assert half["config"]["train"]["dtype"] == "bfloat16" and "device" not in half["config"]["train"]
    with pytest.raises(ValueError, match="float16 needs a GPU"):
        run_suite(TINY, tmp_path, progress=False, device="cpu", dtype="float16")


def test_a_run_whose_code_changed_refuses_to_resume_into_the_old_results(tmp_path, monkeypatch):
    """Records carry wall and CPU seconds and the code that made them; runs of other code (another commit, or
    other uncommitted edits) are not resumed into the same file unless asked to."""
    monkeypatch.setattr(runner, "code_state", lambda: {"commit": "a" * 40, "diff": None})
    run_suite(TINY, tmp_path, progress=False)
    (r,) = load_records(tmp_path)
    assert r["code"] == {"commit": "a" * 40, "diff": None} and r["wall_seconds"] >= r["train_seconds"] > 0
    assert r["cpu_seconds"] > 0
    more = TINY.replace(seeds=(0, 1))
    monkeypatch.setattr(runner, "code_state", lambda: {"commit": "a" * 40, "diff": "0123456789abcdef"})
    with pytest.raises(ValueError, match=r"made by other code \(commit aaaaaaaaaa; this checkout: commit "
                                         r"aaaaaaaaaa with uncommitted edits 0123456789abcdef\).*--allow-code-change"):
        run_suite(more, tmp_path, progress=False, log=lambda msg: None)
    run_suite(TINY, tmp_path, progress=False, log=lambda msg: None)  # nothing to run: the report is rewritten
    records = run_suite(more, tmp_path, progress=False, log=lambda msg: None, allow_code_change=True)
    assert sorted(r["seed"] for r in records) == [0, 1]
    monkeypatch.setattr(runner, "code_state", lambda: {"commit": "b" * 40, "diff": None})
    records = run_suite(more.replace(seeds=(0, 1, 2)), tmp_path, progress=False, log=lambda msg: None,
                        overwrite=True)
    assert [r["code"]["commit"][0] for r in records] == ["b", "b", "b"]  # the old two dropped and run again
    old = {k: v for k, v in records[0].items() if k != "code"}  # a record from before the code key
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps({**old, "provenance": {"commit": "b" * 40, "dirty": False}}) + "\n")
    run_suite(more, tmp_path, progress=False, log=lambda msg: None)  # its clean stamp matches: resumed
    path.write_text(json.dumps({**old, "provenance": {"commit": "b" * 40, "dirty": True}}) + "\n")
    with pytest.raises(ValueError, match="unknown code"):
        run_suite(more, tmp_path, progress=False, log=lambda msg: None)


def test_a_hybrid_stack_is_one_mixer_spec_of_the_bench(tmp_path):
    suite, strict = suite_from_args("quick", mixers="gru,hybrid:gla+attention", tasks="parity:seq_len=6:test_lens=(6,)",
                                    steps=1, n_layers=2, batch_size=4)
    assert suite.mixers == ("gru", "hybrid:gla+attention")
    records = run_suite(suite.replace(mixers=suite.mixers[1:], d_models=(8,), seeds=(0,), test_n=8), tmp_path,
                        strict=strict, progress=False)
    assert [r["mixer"] for r in records] == ["hybrid:gla+attention"] and records[0]["state_size"] is None
    assert family("hybrid:gla+attention") == "hybrid" and "hybrid" in write_html(tmp_path, tmp_path / "r.html").read_text()
    with pytest.raises(ValueError, match="has 2 layers, which does not divide n_layers=3"):
        run_suite(TINY.replace(mixers=("hybrid:gla+attention",), n_layers=3), tmp_path, strict=True, progress=False)
    with pytest.raises(ValueError, match="hybrid stacks run on language-model tasks; .*mad_lm backbone"):
        run_suite(TINY.replace(mixers=("hybrid:gla+attention",), n_layers=2,
                               tasks=(TaskRun("mad_in_context_recall", steps=1),)), tmp_path, strict=True, progress=False)
