import itertools

import pytest
import torch

from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.models.generate import GenerationConfig, generate, greedy
from rnnzoo.models.speculative import speculative_greedy, speculative_sample
from tests.mixers.test_contract import TEST_OPTIONS

PROMPT = torch.tensor([[1, 4, 2, 7, 3], [0, 0, 9, 5, 1]])


def lm(name, vocab=11, seed=0, scale=1.0, d_model=16, n_layers=2):
    torch.manual_seed(seed)
    m = LanguageModel(LMConfig(vocab, d_model, n_layers, name, TEST_OPTIONS.get(name, {}), tie_embeddings=False))
    with torch.no_grad():  # sharp distributions: argmax far from ties, draft far from target
        m.embed.weight.normal_(0, 1.0)
        m.head.weight.normal_(0, scale)
    return m.double().eval()


@pytest.mark.parametrize("target_name,draft_name", [("lstm", "gru"), ("attention", "lstm"), ("mamba", "mingru")])
@pytest.mark.parametrize("draft_k", [1, 3])
def test_speculative_greedy_equals_plain_greedy(target_name, draft_name, draft_k):
    target, draft = lm(target_name, seed=0), lm(draft_name, seed=1)
    for prompt in (PROMPT, PROMPT[:, -1:]):
        tokens, stats = speculative_greedy(target, draft, prompt, 17, draft_k)
        assert torch.equal(tokens, greedy(target, prompt, 17))
        assert 0 <= stats.accepted <= stats.drafted


def test_a_draft_equal_to_the_target_is_always_accepted_and_generate_routes_to_it():
    target = lm("lstm")
    tokens, stats = speculative_greedy(target, target, PROMPT, 20, 4)
    assert stats.acceptance_rate == 1.0 and stats.target_calls == 2 * 4  # 20 tokens = 4 rounds of 4 + 1, per row
    cfg = GenerationConfig(max_new_tokens=20, draft_k=4)
    assert torch.equal(generate(target, PROMPT, cfg, draft=lm("gru", seed=3)), generate(target, PROMPT, cfg))


def test_bad_drafts_are_refused():
    with pytest.raises(ValueError, match="vocab_size"):
        speculative_greedy(lm("lstm"), lm("gru", vocab=12), PROMPT, 5, 2)
    with pytest.raises(ValueError, match="draft_k"):
        GenerationConfig(draft_k=0)
    with pytest.raises(ValueError, match="not strategy 'beam'"):
        generate(lm("lstm"), PROMPT[:1], GenerationConfig(strategy="beam"), draft=lm("gru"))


def exact_joint(model, prompt, n, vocab, temperature):
    """{continuation: probability} of every length-n continuation under the target's sampling distribution."""
    seqs = torch.tensor(list(itertools.product(range(vocab), repeat=n)))
    full = torch.cat((prompt.expand(len(seqs), -1), seqs), 1)
    with torch.no_grad():
        logp = (model(full[:, :-1]).double() / temperature).log_softmax(-1)[:, prompt.shape[1] - 1:]
    return logp.gather(-1, seqs[..., None])[..., 0].sum(1).exp(), seqs


def chi_square(counts, probs):
    expected = probs * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def test_speculative_sampling_keeps_the_target_distribution():
    """4 tokens over a vocabulary of 2 (16 outcomes, 15 degrees of freedom), draft_k=2 so that rounds end in
    rejections, in full acceptance with a bonus token, and with a pending token carried into the next round.
    The bound 62.3 is the 15-dof chi-square quantile at 1 - 1e-7 (every expected count is >= 5); had the
    tokens come from the draft, the statistic would be expected near 330 (checked below), so the test cannot
    pass by accident."""
    vocab, n, samples, temperature, bound = 2, 4, 800, 0.9, 62.3
    target = lm("lstm", vocab, seed=0, scale=0.3, d_model=8, n_layers=1)
    draft = lm("gru", vocab, seed=7, scale=0.3, d_model=8, n_layers=1)
    prompt = torch.tensor([[1, 0, 1]])
    p, seqs = exact_joint(target, prompt, n, vocab, temperature)
    q, _ = exact_joint(draft, prompt, n, vocab, temperature)
    place = vocab ** torch.arange(n - 1, -1, -1)
    assert torch.equal((seqs * place).sum(1), torch.arange(vocab ** n)) and samples * p.min() >= 5
    gen = torch.Generator().manual_seed(0)
    tokens, stats = speculative_sample(target, draft, prompt.expand(samples, -1), n, 2, temperature, generator=gen)
    counts = torch.bincount((tokens * place).sum(1), minlength=vocab ** n).double()
    assert chi_square(counts, p) < bound
    assert samples * float(((q - p) ** 2 / p).sum()) > 5 * bound
    assert 0.3 < stats.acceptance_rate < 0.95
