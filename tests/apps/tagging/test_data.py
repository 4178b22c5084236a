import numpy as np

from rnnzoo.apps.lm import split_of
from rnnzoo.apps.tagging.data import TAGS, load_tag_data, tag_source


def tags_of(text):
    return "".join(str(t) for t in tag_source(text))


def test_every_character_gets_the_type_of_its_token():
    text = 'if x1 >= 0.5:  # c\n    s = f"{x1}" + \'\'\'a\nb\'\'\'\n'
    got = dict(zip(("keyword", "name", "operator", "number", "comment"), (2, 1, 3, 4, 6)))
    tags = tag_source(text)
    assert len(tags) == len(text)
    for word, kind in (("if", "keyword"), ("x1", "name"), (">=", "operator"), ("0.5", "number"), ("# c", "comment")):
        at = text.index(word)
        assert (tags[at: at + len(word)] == got[kind]).all(), word
    triple = text.index("'''a\nb'''")
    assert (tags[triple: triple + 9] == TAGS.index("string")).all()  # a multi-line string, newline included
    assert tags[text.index("  # c") + 1] == TAGS.index("space") and tags[-1] == TAGS.index("space")


def test_splits_are_whole_files_and_never_share_one():
    data = load_tag_data({"train": 20_000, "valid": 5_000, "test": 5_000})
    for split, files in data.files.items():
        assert files and all(split_of(f) == split for f in files)
    assert not set(data.files["train"]) & (set(data.files["valid"]) | set(data.files["test"]))
    for split in data.text:
        assert len(data.text[split]) == len(data.tags[split])
    assert np.bincount(data.tags["train"], minlength=len(TAGS)).min() > 0
