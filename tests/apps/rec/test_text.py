import pytest
import torch

from rnnzoo.apps.rec.data import load_dataset
from rnnzoo.apps.rec.text import TYPE_KEY, TYPE_VALUE, UNK_TOKEN, item_sentence, read_item_text, tokenize_items, words
from tests.apps.rec.test_data import write_inter

ITEM_HEADER = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"


def write_items(path, n=13):
    lines = [ITEM_HEADER] + [f"i{i}\tFilm {chr(65 + i)}\t{1990 + i % 3}\tDrama{' Comedy' * (i % 2)}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_item_sentence_is_recformer_key_value_text():
    assert item_sentence({"movie_title": "Toy Story", "release_year": "1995", "class": "Animation Comedy"}) \
        == "title: Toy Story year: 1995 genre: Animation Comedy"
    assert item_sentence({"movie_title": "X", "release_year": " ", "brand": "Acme"}) == "title: X brand: Acme"
    assert words("title: L.A. Story year: 1991") == [("title", TYPE_KEY), ("l", TYPE_VALUE), ("a", TYPE_VALUE),
                                                    ("story", TYPE_VALUE), ("year", TYPE_KEY), ("1991", TYPE_VALUE)]


def test_ml100k_items_have_their_text():
    data = load_dataset()
    assert data.item_text[0] == "" and all(data.item_text[1:])
    toy = data.item_text[data.encode_items(["1"])[0]]
    assert toy == "title: Toy Story year: 1995 genre: Animation Children's Comedy"


def test_item_file_beside_the_inter_file_or_in_a_directory(tmp_path):
    rows = [(f"u{u}", f"i{(u * 5 + t * 3) % 13}", t) for u in range(5) for t in range(7)]
    write_inter(tmp_path / "t.inter", rows)
    write_items(tmp_path / "t.item")
    by_file, by_dir = load_dataset(tmp_path / "t.inter"), load_dataset(tmp_path)
    assert by_file.item_text == by_dir.item_text
    i = by_dir.encode_items(["i3"])[0]
    assert by_dir.item_text[i] == "title: Film D year: 1990 genre: Drama Comedy"
    assert read_item_text(tmp_path / "t.item", ["[PAD]", "i1", "zz"])[2] == ""  # not in the .item file


def test_vocabulary_comes_from_training_items_only():
    texts = ["", "title: Alpha year: 1990", "title: Beta year: 1991", "title: Gamma year: 1990"]
    tok = tokenize_items(texts, train_items={1, 2}, max_tokens=3)
    assert "gamma" not in tok.vocab and "alpha" in tok.vocab and "1991" in tok.vocab
    assert tok.ids[3].tolist() == [tok.vocab.index("title"), UNK_TOKEN, tok.vocab.index("year")]  # cut at 3
    assert tok.types[1].tolist() == [TYPE_KEY, TYPE_VALUE, TYPE_KEY]
    assert tok.lengths.tolist() == [0, 3, 3, 3] and torch.all(tok.ids[0] == 0)
    with pytest.raises(ValueError, match="max_tokens"):
        tokenize_items(texts, {1}, 0)


@pytest.mark.parametrize("text, match", [
    ("", "empty file"),
    ("movie_title:token_seq\tclass:token_seq\nA\tB\n", r"missing column\(s\) \['item_id'\]"),
    (ITEM_HEADER + "\ni1\tA\t1990\n", r"x.item:2: expected 4 fields, got 3"),
])
def test_malformed_item_files(tmp_path, text, match):
    (tmp_path / "x.item").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_item_text(tmp_path / "x.item", ["[PAD]", "i1"])
