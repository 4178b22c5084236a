"""README and docs state each claim in one place: the mixer table is generated from the registry, and every
file they cite exists."""

import itertools
import re
import runpy
import shlex
from pathlib import Path

import pytest

from rnnzoo import mixers
from rnnzoo.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted([README, ROOT / "results" / "README.md", *(ROOT / "docs").rglob("*.md")])
script = runpy.run_path(str(ROOT / "scripts" / "readme_table.py"))

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\s]+)`")


def test_every_registered_mixer_has_a_family_row():
    missing = sorted(set(mixers.names()) - set(script["FAMILY"]))
    assert not missing, f"add these mixers to FAMILY in scripts/readme_table.py: {missing}"
    stale = sorted(set(script["FAMILY"]) - set(mixers.names()))
    assert not stale, f"FAMILY in scripts/readme_table.py names unregistered mixers: {stale}"


def test_readme_mixer_table_is_the_generated_one():
    text = README.read_text()
    start, end = "<!-- mixer-table:start -->\n", "<!-- mixer-table:end -->"
    assert start in text and end in text, "README.md lost its mixer-table markers"
    committed = text[text.index(start) + len(start): text.index(end)]
    assert committed == script["table"](), "README's mixer table is stale: paste `python scripts/readme_table.py`"


def expand_braces(path: str) -> list[str]:
    """`a/{b,c}/` -> [`a/b/`, `a/c/`]."""
    parts = re.split(r"\{([^}]*)\}", path)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def cited_paths(doc: Path) -> list[tuple[str, Path]]:
    """(as written, resolved path) for every relative link and every backticked results/ or docs/ path."""
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)  # commands in code blocks write, not cite
    found = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # web addresses and anchors
        found.append((target, doc.parent / target.split("#")[0]))
    for span in CODE_SPAN.findall(text):
        if span.startswith(("results/", "docs/")) and not re.search(r"[<*]", span):
            found += [(path, ROOT / path) for path in expand_braces(span)]
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_path_exists(doc):
    missing = [written for written, path in cited_paths(doc) if not path.exists()]
    assert not missing, f"{doc.relative_to(ROOT)} cites paths that do not exist: {missing}"


def test_the_path_check_can_fail(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("see [a](nowhere.md) and `results/none.json`, not ```\n`results/written.json`\n```")
    assert [w for w, p in cited_paths(doc) if not p.exists()] == ["nowhere.md", "results/none.json"]


def test_the_write_your_own_mixer_example_keeps_the_contract():
    """The README's example mixer, run as written, passes check_mixer."""
    import sys
    import types

    from rnnzoo.testing import check_mixer

    text = README.read_text()
    section = text[text.index("## Write your own mixer"):]
    start = section.index("```python\n") + len("```python\n")
    code = section[start:section.index("```\n", start)]
    module = types.ModuleType("readme_example")
    sys.modules["readme_example"] = module  # dataclasses look the class's module up
    try:
        exec(compile(code, "README.md", "exec"), module.__dict__)
        report = check_mixer(module.LeakyMixer, options={"init_decay": 0.5})
    finally:
        del sys.modules["readme_example"]
    assert report.ok, str(report)


def shell_commands(text: str) -> list[list[str]]:
    """The arguments after `rnnzoo` (or `-m rnnzoo`) of every command in the shell code blocks of ``text``."""
    blocks, lines = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if lines is None:
                lines, lang = [], line[3:].strip()
            else:
                if lang in ("bash", "sh", ""):
                    blocks.append("\n".join(lines).replace("\\\n", " "))
                lines = None
        elif lines is not None:
            lines.append(line)
    out = []
    for line in itertools.chain.from_iterable(b.splitlines() for b in blocks):
        for part in re.split(r"\s(?:&&|&|;|\|)\s", line):
            if not re.search(r"(^|\s)(\S*/)?rnnzoo(\s|$)", part):
                continue  # not a command line (a `python -c "..."` script's lines, say)
            words = shlex.split(part, comments=True)
            if words and (words[0] == "rnnzoo" or words[0].endswith("/rnnzoo")):
                out.append(words[1:])
            elif "-m" in words and words.index("-m") + 1 < len(words) and words[words.index("-m") + 1] == "rnnzoo":
                out.append(words[words.index("-m") + 2:])
    return out


def test_shell_commands_are_found_and_a_bad_flag_would_fail(capsys):
    text = "```bash\nrnnzoo tag --nope 1   # c\ntorchrun --standalone -m rnnzoo train \\\n  --out x\n```\n" \
           "```python\nrnnzoo = 1\n```\n"
    assert shell_commands(text) == [["tag", "--nope", "1"], ["train", "--out", "x"]]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tag", "--nope", "1"])


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_documented_command_parses(doc, capsys):
    """Each `rnnzoo ...` command of a doc's shell blocks names a command and flags that exist."""
    for argv in shell_commands(doc.read_text()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as e:
            if e.code:
                pytest.fail(f"{doc.relative_to(ROOT)}: `rnnzoo {shlex.join(argv)}` does not parse: "
                            f"{capsys.readouterr().err.strip().splitlines()[-1]}")
