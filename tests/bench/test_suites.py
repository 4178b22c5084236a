"""Every suite builds, and runs three seeds by default except the quick suite (one, stated, for its time budget)."""

from rnnzoo.bench import SUITES, get_suite, validate


def test_three_seeds_by_default_except_quick():
    assert {name: get_suite(name).seeds for name in SUITES} == {
        "quick": (0,), "standard": (0, 1, 2), "recall": (0, 1, 2), "chomsky": (0, 1, 2), "mad": (0, 1, 2)}


def test_every_suite_validates():
    for name in SUITES:
        suite = validate(get_suite(name), strict=False, log=lambda msg: None)
        assert suite.tasks and suite.mixers, name


def test_chomsky_suite_is_the_twelve_tasks_trained_to_forty():
    suite = get_suite("chomsky")
    assert len(suite.tasks) == 12 and all(r.spec.startswith("chomsky_") for r in suite.tasks)
    assert {"lstm", "attention"} <= set(suite.mixers)
