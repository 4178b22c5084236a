"""Generated phone books for the Birdie study: random names (letters) with random numbers (digits).

A document lists the book's entries ``name:number;`` then ``|`` and the same entries in another order, so a
number cut from one listing can be recovered from the other (infilling needs retrieval, not guessing).
Example (2 entries, names of 3 letters, numbers of 3 digits):

    document: abc:123;xyz:987;|xyz:987;abc:123;
    lookup  : prefix abc:123;xyz:987; QUERY xyz abc     answer 987;123;
    infill  : prefix abc:S;xyz:987;|xyz:987;abc:123; INFILL   answer 123 S   (S: Birdie's sentinel)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.objectives.birdie import Example, infill_example, special_ids, vocab_size

LETTERS, DIGITS = 26, 10
COLON, SEMI, BAR = 36, 37, 38
DATA_VOCAB = 39
QUERY = vocab_size(DATA_VOCAB)  # the lookup task's token, after Birdie's special tokens
VOCAB = QUERY + 1


@dataclass(frozen=True)
class PhoneBook:
    entries: int = 4
    name_len: int = 3
    number_len: int = 3
    queries: int = 2

    def book(self, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(names [entries, name_len], numbers [entries, number_len]) token ids; names distinct."""
        while True:
            names = torch.randint(0, LETTERS, (self.entries, self.name_len), generator=g)
            if len({tuple(n) for n in names.tolist()}) == self.entries:
                break
        return names, torch.randint(0, DIGITS, (self.entries, self.number_len), generator=g) + LETTERS

    def listing(self, names: torch.Tensor, numbers: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        n = len(order)
        rows = torch.cat([names[order], torch.full((n, 1), COLON), numbers[order], torch.full((n, 1), SEMI)], 1)
        return rows.flatten()

    def document(self, g: torch.Generator) -> torch.Tensor:
        """[2 * entries * (name_len + number_len + 2) + 1] a listing, BAR, the listing reordered."""
        names, numbers = self.book(g)
        first = self.listing(names, numbers, torch.arange(self.entries))
        second = self.listing(names, numbers, torch.randperm(self.entries, generator=g))
        return torch.cat([first, torch.tensor([BAR]), second])

    def lookup(self, g: torch.Generator) -> Example:
        """Prefix: the listing, QUERY, ``queries`` distinct names; answer: their numbers, each ended by SEMI."""
        names, numbers = self.book(g)
        asked = torch.randperm(self.entries, generator=g)[:self.queries]
        prefix = torch.cat([self.listing(names, numbers, torch.arange(self.entries)), torch.tensor([QUERY]),
                            names[asked].flatten()])
        answer = torch.cat([numbers[asked], torch.full((self.queries, 1), SEMI)], 1).flatten()
        return prefix, answer

    def infill(self, g: torch.Generator) -> Example:
        """A document with one number (in either listing) cut out, in Birdie's span-corruption format."""
        doc = self.document(g)
        entry = int(torch.randint(0, 2 * self.entries, (1,), generator=g))
        width = self.name_len + self.number_len + 2
        start = entry * width + (entry >= self.entries) + self.name_len + 1  # skip BAR in the second listing
        return infill_example(doc, [(start, start + self.number_len)], special_ids(DATA_VOCAB))
