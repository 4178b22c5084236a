import pytest
import torch

from rnnzoo import mixers
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.models.generate import (
    GenerationConfig,
    beam_search,
    diverse_beam_search,
    filter_logits,
    generate,
    greedy,
    sample,
)
from tests.mixers.test_contract import TEST_OPTIONS

V = 11
CAUSAL = [n for n in mixers.names() if mixers.get(n).causal]


def model_for(name="lstm", dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    m = LanguageModel(LMConfig(V, 16, 2, name, TEST_OPTIONS.get(name, {}))).to(dtype)
    with torch.no_grad():  # sharper distributions than the tiny default init, so argmax is far from ties
        m.embed.weight.normal_(0, 1.0)
    return m.eval()


PROMPT = torch.tensor([[1, 4, 2, 7, 3], [0, 0, 9, 5, 1]])


@pytest.mark.parametrize("name", CAUSAL)
def test_step_decoding_equals_rerunning_the_full_prefix(name):
    model = model_for(name)
    fast = greedy(model, PROMPT, 12)
    tokens = PROMPT
    with torch.no_grad():
        for _ in range(12):
            tokens = torch.cat((tokens, model(tokens)[:, -1].argmax(-1, keepdim=True)), 1)
    assert torch.equal(fast, tokens[:, PROMPT.shape[1]:])


@pytest.mark.parametrize("name", CAUSAL)
def test_beam_size_one_is_greedy_and_beam_scores_are_log_probs(name):
    """Run for every mixer: reordering its state (KV caches, conv windows, ...) must keep beams consistent."""
    model = model_for(name)
    tokens, scores = beam_search(model, PROMPT[0], 10, num_beams=1)
    assert torch.equal(tokens, greedy(model, PROMPT[:1], 10))
    tokens, scores = beam_search(model, PROMPT[0], 6, num_beams=4)
    with torch.no_grad():
        full = torch.cat((PROMPT[0].expand(4, -1), tokens), 1)
        logp = model(full[:, :-1]).log_softmax(-1)[:, PROMPT.shape[1] - 1:]
        expected = logp.gather(-1, tokens[..., None])[..., 0].sum(1)
    torch.testing.assert_close(scores, expected.float(), rtol=1e-5, atol=1e-5)
    assert (scores[:-1] >= scores[1:]).all() and len({tuple(t.tolist()) for t in tokens}) == 4
    assert scores[0] >= beam_search(model, PROMPT[0], 6, num_beams=1)[1][0]  # wider search finds no worse


def test_beam_search_finds_the_exact_best_sequence_when_wide_enough():
    model = model_for("lstm")
    _, scores = beam_search(model, PROMPT[0], 2, num_beams=V)  # all V*V two-token continuations are scored
    with torch.no_grad():
        first = model(PROMPT[:1]).log_softmax(-1)[0, -1]
        seqs = torch.cat((PROMPT[0].expand(V, -1), torch.arange(V)[:, None]), 1)
        second = model(seqs).log_softmax(-1)[:, -1]
    torch.testing.assert_close(scores[0], (first[:, None] + second).max().float())


def test_diverse_beam_search_groups_differ_and_diversity_changes_them():
    model = model_for("gru")
    plain, _ = diverse_beam_search(model, PROMPT[0], 8, num_beams=4, num_groups=2, diversity=0.0)
    assert torch.equal(plain[:2], plain[2:])  # without the penalty every group repeats the same beam search
    diverse, scores = diverse_beam_search(model, PROMPT[0], 8, num_beams=4, num_groups=2, diversity=50.0)
    assert torch.equal(diverse[:2], plain[:2])  # group 0 is never penalised
    assert len({tuple(t.tolist()) for t in diverse}) == 4
    assert not (diverse[2:] == diverse[0]).any()  # Hamming: group 1 avoids group 0's token at every step
    assert torch.isfinite(scores).all()
    assert torch.equal(generate(model, PROMPT[:1], GenerationConfig(8, "diverse_beam", num_beams=4,
                                                                    diversity=50.0)), diverse)


def test_seeded_sampling_is_reproducible_and_seed_matters():
    model = model_for("lstm", torch.float32)
    cfg = dict(max_new_tokens=20, strategy="sample", temperature=1.5)
    a = generate(model, PROMPT, GenerationConfig(seed=1, **cfg))
    b = generate(model, PROMPT, GenerationConfig(seed=1, **cfg))
    c = generate(model, PROMPT, GenerationConfig(seed=2, **cfg))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_top_k_one_and_tiny_top_p_are_greedy():
    model = model_for("gru")
    g = greedy(model, PROMPT, 8)
    assert torch.equal(sample(model, PROMPT, 8, top_k=1, generator=torch.Generator().manual_seed(0)), g)
    assert torch.equal(sample(model, PROMPT, 8, top_p=1e-6, generator=torch.Generator().manual_seed(0)), g)


def test_filter_logits_keeps_exactly_the_nucleus():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    kept = filter_logits(logits, top_p=0.8).isfinite()[0].tolist()
    assert kept == [True, True, False, False]
    kept = filter_logits(logits, top_p=0.81).isfinite()[0].tolist()
    assert kept == [True, True, True, False]
    assert filter_logits(logits, top_k=2).isfinite()[0].tolist() == [True, True, False, False]


@pytest.mark.parametrize("kw,match", [
    (dict(strategy="beam", num_beams=0), "num_beams must be >= 1"),
    (dict(strategy="diverse_beam", num_beams=3, num_groups=2), "multiple of num_groups"),
    (dict(strategy="nope"), "strategy must be one of"),
    (dict(strategy="sample", temperature=0.0), "temperature"),
    (dict(strategy="sample", top_p=0.0), "top_p"),
    (dict(max_new_tokens=0), "max_new_tokens"),
])
def test_bad_generation_config_is_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        GenerationConfig(**kw)


def test_beam_strategies_need_one_prompt():
    with pytest.raises(ValueError, match=r"need shape \[1, T\]"):
        generate(model_for(), PROMPT, GenerationConfig(4, "beam"))
