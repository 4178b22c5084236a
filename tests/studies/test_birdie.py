import json

from rnnzoo.studies import birdie


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_birdie_runs_and_records_the_objective_weights(tmp_path):
    config = birdie.Config(seeds=(0,), out=str(tmp_path / "r"), doc=str(tmp_path / "birdie.md"), d_model=16,
                           pretrain_steps=4, finetune_steps=2, update_every=2, batch_size=4, test_n=4)
    birdie.run(config)
    records = {r["settings"]["method"]: r for r in lines(tmp_path / "r" / "results.jsonl")}
    weights = records["birdie"]["objective_weights"]
    assert len(weights) == 2 and all(abs(sum(w) - 1) < 1e-9 for w in weights)
    assert set(records["next_token"]["exact_match"]) == {"lookup", "infill"}
    assert "Final Birdie objective weights" in (tmp_path / "birdie.md").read_text()


def test_phone_book_lookup_answers_the_queried_numbers():
    import torch

    from rnnzoo.studies.phonebook import COLON, QUERY, SEMI, PhoneBook

    book = PhoneBook(entries=3, queries=2)
    prefix, answer = book.lookup(torch.Generator().manual_seed(0))
    listing = prefix[:3 * 8].view(3, 8)
    assert (listing[:, 3] == COLON).all() and (listing[:, 7] == SEMI).all() and prefix[24] == QUERY
    numbers = {tuple(row[:3].tolist()): row[4:7].tolist() for row in listing}
    asked = prefix[25:].view(2, 3)
    assert answer.tolist() == [*numbers[tuple(asked[0].tolist())], SEMI, *numbers[tuple(asked[1].tolist())], SEMI]
