import pytest
import torch

from rnnzoo.models import LMConfig
from rnnzoo.objectives.lexinvariant import LexinvariantLM


def spy_inputs(model):
    seen = []
    model.blocks[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    return seen


def test_same_token_same_vector_within_a_sequence_fresh_across_sequences():
    torch.manual_seed(0)
    model = LexinvariantLM(LMConfig(vocab_size=10, d_model=8, n_layers=1, mixer="gla"))
    seen = spy_inputs(model)
    tokens = torch.tensor([[3, 5, 3, 7, 5, 3], [3, 5, 3, 7, 5, 3]])
    model(tokens)
    x = seen[-1]
    assert torch.equal(x[0, 0], x[0, 2]) and torch.equal(x[0, 0], x[0, 5])  # token 3 within row 0
    assert torch.equal(x[0, 1], x[0, 4])
    assert not torch.allclose(x[0, 0], x[0, 1])  # different tokens differ
    assert not torch.allclose(x[0, 0], x[1, 0])  # same token, another sequence: another vector
    model(tokens)
    assert not torch.allclose(seen[-1][0, 0], x[0, 0])  # and another call draws afresh


def test_no_learned_embedding_and_the_head_scores_by_this_sequences_embeddings():
    model = LexinvariantLM(LMConfig(vocab_size=10, d_model=8, n_layers=1, mixer="lstm"))
    assert all(p.shape != (10, 8) for p in model.parameters())
    e = model.draw(2, torch.Generator().manual_seed(1))
    tokens = torch.randint(0, 10, (2, 5))
    logits = model(tokens, e)
    assert torch.equal(logits, model(tokens, e))  # given embeddings: deterministic
    e2 = e.clone()
    e2[:, 4] *= -1  # flipping token 4's vector flips its logit and leaves the others' logits at unrelated tokens
    flipped = model(torch.where(tokens == 4, 0, tokens), e2)
    base = model(torch.where(tokens == 4, 0, tokens), e)
    torch.testing.assert_close(flipped[..., 4], -base[..., 4])


def test_refuses_wrong_embedding_shape():
    model = LexinvariantLM(LMConfig(vocab_size=10, d_model=8, n_layers=1, mixer="gla"))
    with pytest.raises(ValueError, match="embeddings must be"):
        model(torch.zeros(2, 3, dtype=torch.long), torch.zeros(1, 10, 8))
