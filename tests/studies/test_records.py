from rnnzoo.studies import birdie, get, lexinvariant, meap
from rnnzoo.studies.records import command, fmt, present, run_missing


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
