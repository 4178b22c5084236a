"""Intent contrastive learning with cross subsequences (Qin et al., WSDM 2024, ICSRec), coarse-grained part.

ICSRec cuts every user sequence into subsequences (prefixes), each with its next item as target, and treats two
subsequences that share the same target, from any users, as positives of one intent: an InfoNCE loss pulls
their representations together against the other subsequences of the batch (its CICL term; its fine-grained
term, FICL, contrasts with k-means intent prototypes and is not implemented here). In rnnzoo's window batches
every labelled position is such a subsequence: under the next-item objective position t of a window is the
prefix up to item t with target item t + 1; under cloze a masked position with its item as target.

```python
anchor, positive = cross_subsequence_pairs(labels_flat, max_pairs=512)   # indices into the labelled positions
loss = info_nce(h_flat[anchor], h_flat[positive], labels_flat[anchor], temperature=1.0)
```
"""

from __future__ import annotations

import torch
from torch import nn


def cross_subsequence_pairs(targets: torch.Tensor, max_pairs: int,
                            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """targets: [N] target item of each subsequence -> (anchor [P], positive [P]) indices into the N, P <=
    max_pairs: each pair is two distinct subsequences with the same target; at most one pair per anchor, the
    partner drawn at random among the subsequences with that target."""
    n = len(targets)
    perm = torch.randperm(n, generator=generator, device="cpu").to(targets.device)
    shuffled = targets[perm]
    order = torch.sort(shuffled, stable=True).indices  # same targets adjacent, in random order within a group
    idx, sorted_t = perm[order], shuffled[order]
    same = (sorted_t[:-1] == sorted_t[1:]).nonzero().flatten()
    if len(same) > max_pairs:
        same = same[torch.randperm(len(same), generator=generator, device="cpu")[:max_pairs].to(same.device)]
    return idx[same], idx[same + 1]


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, targets: torch.Tensor,
             temperature: float) -> torch.Tensor:
    """anchor, positive: [P, D] representations of the pairs, targets: [P] their shared target -> scalar
    symmetric InfoNCE over cosine similarity / temperature: pair i's positive against the other pairs'
    members; other pairs with the same target are not used as negatives (they share the intent)."""
    a, p = nn.functional.normalize(anchor, dim=-1), nn.functional.normalize(positive, dim=-1)
    logits = (a @ p.T).float() / temperature
    false_negative = (targets[:, None] == targets[None, :]) & ~torch.eye(len(targets), dtype=torch.bool,
                                                                          device=targets.device)
    logits = logits.masked_fill(false_negative, float("-inf"))
    labels = torch.arange(len(targets), device=targets.device)
    return 0.5 * (nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.T, labels))
