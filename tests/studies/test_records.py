from rnnzoo.studies import birdie, get, lexinvariant, meap
from rnnzoo.studies.records import (
    Records,
    command,
    cost_lines,
    coverage,
    fmt,
    hashed,
    key_of,
    present,
    run_missing,
    setup_of,
    study_records,
)


def test_registered_and_the_rerun_command():
    assert get("meap") is meap and get("lexinvariant") is lexinvariant and get("birdie") is birdie
    assert command("meap", meap.Config()) == "rnnzoo study meap"
    assert command("meap", meap.Config(quick=True, mixers=("gla", "lstm"), steps=5)) == \
        "rnnzoo study meap --quick --mixers gla,lstm --steps 5"


def test_run_missing_runs_each_setting_once_and_present_reads_them_back(tmp_path):
    calls = []
    settings = [{"a": 1}, {"a": 2}]
    records = run_missing(tmp_path, settings, lambda s: calls.append(s) or {"value": s["a"] * 10}, log=lambda m: None)
    assert [r["value"] for r in records] == [10, 20] and "provenance" in records[0]
    run_missing(tmp_path, [*settings, {"a": 3}], lambda s: calls.append(s) or {"value": 0}, log=lambda m: None)
    assert calls == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert [r["settings"] for r in present(tmp_path, [{"a": 3}, {"a": 4}])] == [{"a": 3}]
    assert fmt([]) == "–" and fmt([1.0, 3.0]) == "2.000 ± 1.414 (2)"


def test_records_by_named_fields_resume_and_the_first_line_of_an_identity_wins(tmp_path):
    path = tmp_path / "runs.jsonl"
    calls = []
    first = Records(path, key=("model", "seed")).run(lambda: calls.append(1) or {"bpc": 1.0}, model="a", seed=0)
    assert first["bpc"] == 1.0 and "provenance" in first
    assert set(first["cost"]) == {"wall_s", "cpu_s", "load_1m"} and first["cost"]["wall_s"] >= 0
    other = Records(path, key=("model", "seed"))  # a second process sharing the file
    Records(path, key=("model", "seed")).run(lambda: {"bpc": 2.0}, model="a", seed=1)
    assert other.run(lambda: calls.append(2) or {"bpc": 9.0}, model="a", seed=1)["bpc"] == 2.0  # read again, not rerun
    assert calls == [1] and other.get(model="b", seed=0) is None and len(other.rows) == 2
    assert coverage(2, 2) == [] and coverage(1, 2)[0].startswith("**Partial:** 1 of the 2")


def test_hashed_records_are_records_keyed_by_the_settings_hash(tmp_path):
    run_missing(tmp_path, [{"a": 1}], lambda s: {"value": 1}, log=lambda m: None)
    (row,) = hashed(tmp_path).rows
    assert row["key"] == key_of({"a": 1}) and row["settings"] == {"a": 1} and row["value"] == 1


def test_setup_of_hashes_only_what_changes_a_run():
    base = {"steps": 400, "seeds": [0], "out_dir": "a", "doc": "x.md", "levels": [0.0, 0.5], "quick": False}
    same = {**base, "seeds": [1, 2], "out_dir": "b", "doc": "y.md", "report_only": True, "quick": True}
    assert setup_of(base) == setup_of(same)
    assert setup_of(base) != setup_of({**base, "steps": 401})
    assert setup_of(base) != setup_of({**base, "levels": [0.0]})
    assert setup_of(base, per_run=("levels",)) == setup_of({**base, "levels": [0.0]}, per_run=("levels",))


def test_cost_lines_sum_the_recorded_costs_and_skip_rows_without():
    prov = {"logical_cores": 2, "cpu": "X"}
    rows = [{"cost": {"cpu_s": 60.0, "wall_s": 90.0, "load_1m": 1.0}, "provenance": prov},
            {"cost": {"cpu_s": 120.0, "wall_s": 150.0, "load_1m": 2.5}, "provenance": prov}, {"provenance": prov}]
    (line,) = cost_lines(rows)
    assert "2 of the 3 runs" in line and "3.0 CPU-minutes" in line and "4.0 minutes" in line and "1.0-2.5" in line
    assert cost_lines([{"provenance": prov}]) == []


def test_study_records_fill_in_the_setup_and_keep_to_it(tmp_path):
    path = tmp_path / "runs.jsonl"
    base = {"steps": 400, "seeds": (0, 1), "out_dir": "x"}
    short = study_records(path, ("model", "seed"), base)
    row = short.run(lambda: {"bpc": 1.0}, model="a", seed=0)
    assert row["setup"] == setup_of(base) and short.key == ("model", "seed", "setup")
    assert short.get(model="a", seed=0) is row
    long = study_records(path, ("model", "seed"), {**base, "steps": 800})  # other settings: runs anew
    assert long.get(model="a", seed=0) is None
    assert long.run(lambda: {"bpc": 0.5}, model="a", seed=0)["bpc"] == 0.5
    long.run(lambda: {"bpc": 0.4}, model="a", seed=1)
    assert [r["bpc"] for r in long.current((0, 1))] == [0.5, 0.4] and [r["bpc"] for r in long.current((1,))] == [0.4]
    again = study_records(path, ("model", "seed"), {**base, "seeds": (0,)})  # seeds never change a run
    assert [r["bpc"] for r in again.current((0,))] == [1.0]
