"""Every app function that builds a Trainer also closes it (``Trainer.close`` leaves the process group it joined
under torchrun; a gloo group left to interpreter exit can deadlock there: rnnzoo.train.trainer's module doc)."""

import ast
from pathlib import Path

import rnnzoo

PACKAGE = Path(rnnzoo.__file__).parent


def _own_nodes(func: ast.AST):
    """The nodes of ``func``'s body, not those of functions defined inside it."""
    stack = list(func.body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def unclosed_trainers(source: str) -> list[str]:
    """'function: line' for each Trainer built in a function that neither keeps it in a name nor calls
    close on that name."""
    found = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        nodes = list(_own_nodes(func))
        named = {n.targets[0].id for n in nodes if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
                 and isinstance(n.value, ast.Call) and getattr(n.value.func, "id", None) == "Trainer"}
        closed = {n.func.value.id for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                  and n.func.attr == "close" and isinstance(n.func.value, ast.Name)}
        builds = [n for n in nodes if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Trainer"]
        if builds and not (named and named <= closed):
            found.append(f"{func.name}: line {builds[0].lineno}")
    return found


def test_every_app_closes_the_trainers_it_builds():
    files = [*(PACKAGE / "apps").rglob("*.py"), *(PACKAGE / "bench").rglob("*.py")]
    builders = [f for f in files if "Trainer(" in f.read_text()]
    assert len(builders) >= 10  # the apps and the bench runner: the scan sees them
    problems = [f"{f.relative_to(PACKAGE)} {p}" for f in builders for p in unclosed_trainers(f.read_text())]
    assert not problems, problems


def test_the_scan_finds_a_trainer_left_open():
    assert unclosed_trainers("def f():\n    Trainer(m, c, b, l).fit()\n") == ["f: line 2"]
    assert unclosed_trainers("def f():\n    t = Trainer(m, c, b, l)\n    t.fit()\n") == ["f: line 2"]
    assert unclosed_trainers("def f():\n    t = Trainer(m, c, b, l)\n    t.fit()\n    t.close()\n") == []
