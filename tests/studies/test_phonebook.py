import torch

from rnnzoo.studies.phonebook import COLON, QUERY, SEMI, PhoneBook


def test_phone_book_lookup_answers_the_queried_numbers():
    book = PhoneBook(entries=3, queries=2)
    prefix, answer = book.lookup(torch.Generator().manual_seed(0))
    listing = prefix[:3 * 8].view(3, 8)
    assert (listing[:, 3] == COLON).all() and (listing[:, 7] == SEMI).all() and prefix[24] == QUERY
    numbers = {tuple(row[:3].tolist()): row[4:7].tolist() for row in listing}
    asked = prefix[25:].view(2, 3)
    assert answer.tolist() == [*numbers[tuple(asked[0].tolist())], SEMI, *numbers[tuple(asked[1].tolist())], SEMI]


def test_infill_cuts_one_number_that_the_other_listing_still_holds():
    from rnnzoo.objectives.birdie import special_ids
    from rnnzoo.studies.phonebook import BAR, DATA_VOCAB

    sentinel = special_ids(DATA_VOCAB)["sentinel"]
    book = PhoneBook(entries=3)
    for seed in range(6):
        prefix, answer = book.infill(torch.Generator().manual_seed(seed))
        assert answer[-1] == sentinel and len(answer) == 4 and (prefix == sentinel).sum() == 1
        at = int((prefix == sentinel).nonzero())
        name = prefix[at - 4:at - 1].tolist()
        text = prefix.tolist()
        other = [i for i in range(len(text) - 3) if text[i:i + 3] == name and i != at - 4]
        assert BAR in text and len(other) == 1
        assert text[other[0] + 4:other[0] + 7] == answer[:3].tolist()
