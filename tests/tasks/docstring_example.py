"""Reads the ``inputs :`` / ``targets:`` example of a task module's docstring, so tests can hold it against
the task's definition: ``.`` is a free filler token, ``-`` an ignored target."""

from rnnzoo.labels import IGNORE


def docstring_example(module, index: int = 0) -> tuple[list, list]:
    """(inputs, targets) of the ``index``-th example: ints, None for ``.`` in inputs, IGNORE for ``-``."""
    lines = [line.strip() for line in module.__doc__.splitlines()]
    starts = [i for i, line in enumerate(lines) if line.startswith("inputs :")]
    i = starts[index]
    inputs = [None if t == "." else int(t) for t in lines[i].split(":", 1)[1].split()]
    targets = [IGNORE if t == "-" else int(t) for t in lines[i + 1].split(":", 1)[1].split()]
    return inputs, targets
