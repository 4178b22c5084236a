import pytest
import torch

from rnnzoo.models.generate import GenerationConfig, generate
from rnnzoo.models.speculative_tree import draw_without_replacement, recursive_speculative_sample
from tests.models.test_speculative import PROMPT, chi_square, exact_joint, lm


def test_a_draft_equal_to_the_target_keeps_every_first_candidate():
    target = lm("lstm")
    tokens, stats = recursive_speculative_sample(target, target, PROMPT, 20, depth=3, branches=2,
                                                 generator=torch.Generator().manual_seed(0))
    assert tokens.shape == (2, 20) and stats.acceptance_rate == 1.0
    assert stats.target_calls == 2 * 5  # 20 tokens = 5 rounds of 3 + 1 per row, no re-run


def test_draws_are_distinct_and_follow_sampling_without_replacement():
    q = torch.tensor([[0.5, 0.3, 0.2, 0.0]], dtype=torch.float64).expand(20000, -1)
    draws = draw_without_replacement(q, 2, torch.Generator().manual_seed(0))
    assert (draws[:, 0] != draws[:, 1]).all() and (draws != 3).all()
    first = torch.bincount(draws[:, 0], minlength=4).double() / len(draws)
    torch.testing.assert_close(first, q[0], atol=0.015, rtol=0)
    # the second draw given the first is token 0: q without token 0, renormalised -> 0.6 / 0.4
    second = draws[draws[:, 0] == 0, 1]
    assert abs(float((second == 1).double().mean()) - 0.6) < 0.02


def test_recursive_speculative_sampling_keeps_the_target_distribution():
    """3 tokens over a vocabulary of 3 (27 outcomes, 26 degrees of freedom), a tree of depth 2 and 2 branches, a
    sharp draft against a flat target, so that verification often goes past the first candidate (with seed 0,
    of 3,000 node visits about 1,940 keep the first candidate, 650 the second after a rejection and 400 draw
    from the residual after both are rejected). The bound 82.1 is the 26-dof chi-square quantile at 1 - 1e-7
    (every expected count is >= 5); the draft's own distribution would give a statistic far above it (checked
    below), and so does a verifier that never updates the residual (about 500)."""
    vocab, n, samples, temperature, bound = 3, 3, 1500, 0.9, 82.1
    target = lm("lstm", vocab, seed=0, scale=0.2, d_model=8, n_layers=1)
    draft = lm("gru", vocab, seed=7, scale=2.0, d_model=8, n_layers=1)
    prompt = torch.tensor([[1, 0, 2]])
    p, seqs = exact_joint(target, prompt, n, vocab, temperature)
    q, _ = exact_joint(draft, prompt, n, vocab, temperature)
    place = vocab ** torch.arange(n - 1, -1, -1)
    assert torch.equal((seqs * place).sum(1), torch.arange(vocab ** n)) and samples * p.min() >= 5
    gen = torch.Generator().manual_seed(0)
    tokens, stats = recursive_speculative_sample(target, draft, prompt.expand(samples, -1), n, 2, 2, temperature,
                                                 generator=gen)
    counts = torch.bincount((tokens * place).sum(1), minlength=vocab ** n).double()
    assert chi_square(counts, p) < bound
    assert samples * float(((q - p) ** 2 / p).sum()) > 5 * bound
    assert 0.3 < stats.acceptance_rate < 1.0


def test_generate_routes_branches_to_the_tree_and_refuses_it_for_greedy():
    target, draft = lm("lstm"), lm("gru", seed=3)
    cfg = GenerationConfig(strategy="sample", max_new_tokens=9, draft_k=2, draft_branches=3, seed=1)
    out = generate(target, PROMPT, cfg, draft=draft)
    expected, _ = recursive_speculative_sample(target, draft, PROMPT, 9, 2, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, expected)
    with pytest.raises(ValueError, match="draft_branches > 1 applies to sampling"):
        generate(target, PROMPT, GenerationConfig(strategy="greedy", draft_branches=2), draft=draft)
    with pytest.raises(ValueError, match="draft_branches must be >= 1"):
        GenerationConfig(draft_branches=0)
