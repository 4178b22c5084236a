"""Every suite builds, and runs three seeds by default except the quick suite (one, stated, for its time budget)."""

from rnnzoo.bench import SUITES, get_suite, validate


def test_three_seeds_by_default_except_quick():
    assert {name: get_suite(name).seeds for name in SUITES} == {
        "quick": (0,), "standard": (0, 1, 2), "recall": (0, 1, 2), "chomsky": (0, 1, 2), "mad": (0, 1, 2),
        "memory": (0, 1, 2)}


def test_every_suite_validates():
    for name in SUITES:
        suite = validate(get_suite(name), strict=False, log=lambda msg: None)
        assert suite.tasks and suite.mixers, name


def test_chomsky_suite_is_the_twelve_tasks_trained_to_forty():
    suite = get_suite("chomsky")
    assert len(suite.tasks) == 12 and all(r.spec.startswith("chomsky_") for r in suite.tasks)
    assert {"lstm", "attention"} <= set(suite.mixers)


def test_memory_suite_runs_every_token_task_no_other_suite_runs():
    from rnnzoo.spec import parse_spec

    names = {parse_spec(r.spec)[0] for r in get_suite("memory").tasks}
    assert names == {"order_recall", "verbatim_recall", "forgetting_mqar", "compositional_mqar", "majority",
                     "vocab_majority", "listops", "ruler_niah", "ruler_niah_multikey", "ruler_niah_multiquery",
                     "ruler_niah_multivalue", "ruler_vt"}
    elsewhere = {parse_spec(r.spec)[0] for name in SUITES if name != "memory" for r in get_suite(name).tasks}
    assert not names & elsewhere
