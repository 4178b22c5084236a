"""Leaderboard and plots from hand-made records: budget, chance, ranks, readable plot titles and lines."""

import pytest

from rnnzoo.bench import report


def _record(mixer, task="parity:seq_len=4:test_lens=(4,8,16)", kind="state", d_model=8, state=8, accs=None,
            steps=400, chance=0.5):
    return {"mixer": mixer, "d_model": d_model, "task": task, "task_kind": kind, "state_size": state,
            "accuracy": accs or {"4": 1.0, "8": 1.0, "16": 1.0}, "chance": chance, "params": 10,
            "train_seconds": 1.0, "n_layers": 1, "planned_steps": steps, "steps": steps, "lr": 0.01,
            "batch_size": 64, "train_length": 4}


def test_rows_with_another_budget_are_separate_rows_showing_it():
    board = report.leaderboard([_record("gru", steps=60), _record("gru", steps=200)])
    assert "| gru | 8 | 1 | 60 | 0.01 | 64 | 8 | 10 |" in board
    assert "| gru | 8 | 1 | 200 | 0.01 | 64 | 8 | 10 |" in board
    assert "Chance: 0.500" in board and "trained at length 4" in board


def test_titles_and_labels_are_words_not_spec_strings():
    assert report.task_title("mqar:vocab=16:num_kv_pairs=2") == (
        "MQAR (multi-query associative recall)\nvocab 16, num_kv_pairs 2")
    assert report.task_title("parity:test_lens=(4,8)") == "Parity\ntest_lens 4/8"
    assert report.task_title("selective_copy") == "Selective copy"
    assert report.mixer_label("deltanet:allow_neg_eigval=True:num_heads=2") == (
        "deltanet (allow_neg_eigval=True, num_heads=2)")
    assert report.mixer_label("gru", 64) == "gru, d=64"


def test_tick_labels_too_close_to_read_are_left_out():
    assert report._spread([16, 17, 32, 64, 70, 1000], 0.12) == [16, 32, 64, 1000]


@pytest.fixture
def axes(monkeypatch):
    """The axes of every plot, captured before they are saved."""
    seen = []
    real = report._finish
    monkeypatch.setattr(report, "_finish", lambda fig, ax, chance, path: seen.append(ax) or real(fig, ax, chance, path))
    return seen


def test_length_plot_has_chance_training_length_and_distinct_markers(tmp_path, axes):
    records = [_record(m) for m in ("gru", "lstm", "mamba")]  # three lines that coincide at 1.0
    (path,) = report.plot_all(records, tmp_path)
    assert path.name == "parity_seq_len_4_test_lens_4_8_16_acc_vs_length.png" and path.stat().st_size > 5000
    (ax,) = axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["chance (0.500)"].get_ydata()[0] == 0.5
    assert list(lines["gru"].get_ydata()) == list(lines["lstm"].get_ydata()) == [1.0, 1.0, 1.0]
    assert len({(lines[m].get_marker(), lines[m].get_markersize()) for m in ("gru", "lstm", "mamba")}) == 3
    assert len({tuple(lines[m].get_xdata()) for m in ("gru", "lstm", "mamba")}) == 3  # dodged sideways
    assert any(list(line.get_xdata()) == [4, 4] for line in ax.get_lines())  # the training length
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4", "8", "16"]
    assert ax.get_title().startswith("Parity\n")


def test_state_plot_has_chance_and_one_readable_line_per_attention_width(tmp_path, axes):
    task = "mqar:vocab=16:seq_len=8:num_kv_pairs=2"
    records = [_record(m, task, "recall", d, s, {"8": a}, chance=0.125)
               for m, d, s, a in [("gru", 8, 8, 0.3), ("gru", 16, 16, 0.4), ("attention", 8, None, 0.9),
                                  ("attention", 16, None, 1.0)]]
    report.plot_all(records, tmp_path)
    (ax,) = axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["attention, d=8 (state grows with T)", "attention, d=16 (state grows with T)", "gru",
                      "chance (0.125)"]
    first, second = ax.get_lines()[:2]
    assert (first.get_linestyle(), first.get_color()) != (second.get_linestyle(), second.get_color())
    assert ax.get_title() == "MQAR (multi-query associative recall)\nvocab 16, seq_len 8, num_kv_pairs 2"


def test_many_lines_get_distinct_styles_and_a_legend_in_columns(tmp_path, axes):
    names = [f"m{i}" for i in range(28)]  # the standard suite's count of mixers
    report.plot_all([_record(m) for m in names], tmp_path)
    (ax,) = axes
    lines = [line for line in ax.get_lines() if line.get_label() in names]
    assert len({(line.get_color(), line.get_marker()) for line in lines}) == 28
    assert ax.get_legend()._ncols == 2 and len(ax.get_legend().get_texts()) == 29  # and the chance line


def test_records_without_a_chance_level_say_so(tmp_path, axes):
    old = {k: v for k, v in _record("gru").items() if k != "chance"}  # written before chance was recorded
    assert "Chance: unknown" in report.leaderboard([old])
    report.plot_all([old], tmp_path)
    assert not any(line.get_label().startswith("chance") for line in axes[0].get_lines())


def test_chance_comes_from_any_record_that_has_it():
    old = {k: v for k, v in _record("gru").items() if k != "chance"}  # written before chance was recorded
    for records in ([old, _record("lstm", chance=0.25)], [old, _record("gru", steps=60, chance=0.25)]):
        board = report.leaderboard(records + [_record("mamba", "mqar", chance=0.1)])
        assert "Chance: 0.250" in board and "Chance: unknown" not in board
        assert "| *chance* | | *0.250* | *0.100* | *0.000* |" in board


def test_leaderboard_shows_intervals_over_seeds_and_marks_rows_not_told_apart_from_the_best():
    def seeds(mixer, accs):
        return [dict(_record(mixer, accs={"4": 1.0, "8": 1.0, "16": a}), seed=s) for s, a in enumerate(accs)]
    board = report.leaderboard(seeds("gru", [1.0, 0.98, 0.99]) + seeds("lstm", [0.95, 0.7, 0.99])
                               + seeds("mamba", [0.5, 0.52, 0.48]) + [_record("rnn", accs={"4": 1, "8": 1, "16": 0.9})])
    rows = {line.split(" | ")[0][2:]: line for line in board.splitlines() if line.startswith("| ")}
    assert "0.990 ± 0.025" in rows["gru"] and rows["gru"].endswith("| best | 3 | 1 |")
    assert "| n.s. | 3 |" in rows["lstm"]  # wide spread: not significantly below gru
    assert "| lower | 3 |" in rows["mamba"] and "0.500 ± 0.050" in rows["mamba"]
    assert "| 1 seed | 1 |" in rows["rnn"] and "| 0.900 |" in rows["rnn"]  # one seed: no interval, no test
    assert "95% Student-t interval over seeds" in board
