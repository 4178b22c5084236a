import pytest
import torch

from rnnzoo.labels import IGNORE
from rnnzoo.models import LanguageModel, LMConfig
from rnnzoo.objectives import birdie
from rnnzoo.objectives.birdie import infill_example, make_example, pack, prefix_lm_loss, special_ids
from rnnzoo.objectives.prefix_lm import PrefixLM

V = 20
IDS = special_ids(V)
S = IDS["sentinel"]
X = torch.arange(10)  # the worked example: tokens 0 .. 9


def ex(name, seed=0):
    return make_example(name, X, V, torch.Generator().manual_seed(seed))


def test_next_token_and_copying():
    p, a = ex("next_token")
    assert p.numel() == 0 and torch.equal(a, X)
    p, a = ex("copying")
    assert p.tolist() == [*range(10), IDS["copying"]] and torch.equal(a, X)


def test_deshuffling_prefix_is_a_permutation():
    p, a = ex("deshuffling")
    assert p[-1] == IDS["deshuffling"] and sorted(p[:-1].tolist()) == list(range(10)) and torch.equal(a, X)
    assert p[:-1].tolist() != list(range(10))


def test_span_corruption_worked_example():
    p, a = infill_example(X, [(1, 3), (6, 7)], IDS)
    assert p.tolist() == [0, S, 3, 4, 5, S, 7, 8, 9, IDS["span_corruption"]]
    assert a.tolist() == [1, 2, S, 6, S]
    p, a = ex("span_corruption")
    assert (p == S).sum() == (a == S).sum() >= 1  # one sentinel per span on each side


def test_spans_cover_about_the_rate_and_do_not_touch():
    cut = birdie.spans(100, torch.Generator().manual_seed(3))
    assert sum(b - a for a, b in cut) == 15
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(cut, cut[1:]))


def test_selective_copying_copies_what_lies_between_the_cues():
    for seed in range(5):
        p, a = ex("selective_copying", seed)
        assert p[:11].tolist() == [*range(10), IDS["selective_copying"]]
        start, end = int(p[11]), int(p[14]) + 1
        assert p[11:].tolist() == [start, start + 1, end - 2, end - 1]
        assert a.tolist() == list(range(start + 2, end - 2))


def test_autoencoding_masks_spans_and_answers_everything():
    p, a = ex("autoencoding")
    assert p[-1] == IDS["autoencoding"] and torch.equal(a, X)
    masked = p[:-1] == S
    assert 1 <= masked.sum() and torch.equal(p[:-1][~masked], X[~masked])


def test_pack_targets_only_the_answer_and_never_inside_the_prefix():
    examples = [ex("copying"), ex("next_token"), ex("span_corruption")]
    inputs, targets, prefix_len = pack(examples, pad_id=S)
    assert prefix_len.tolist() == [11, 0, len(examples[2][0])]
    # copying: the task token (position 10) predicts the first answer token; nothing before it is a target
    assert (targets[0, :10] == IGNORE).all() and targets[0, 10:20].tolist() == list(range(10))
    assert targets[1, :9].tolist() == list(range(1, 10)) and (targets[1, 9:] == IGNORE).all()
    for row, (p, a) in enumerate(examples):
        labelled = (targets[row] != IGNORE).nonzero().squeeze(1)
        assert torch.equal(targets[row, labelled], a[-len(labelled):])
        assert (labelled + 1 >= prefix_len[row]).all()  # the target at t is token t + 1: outside the prefix


def test_prefix_lm_reads_the_prefix_both_ways_and_the_rest_causally():
    torch.manual_seed(0)
    model = PrefixLM(LMConfig(vocab_size=30, d_model=16, n_layers=2, mixer="gla")).eval()
    tokens = torch.randint(0, 30, (1, 12))
    p = torch.tensor([5])
    base = model(tokens, p)
    later = tokens.clone()
    later[0, 3] = (later[0, 3] + 1) % 30  # inside the prefix: changes earlier prefix positions (bidirectional)
    assert not torch.allclose(model(later, p)[0, :3], base[0, :3])
    after = tokens.clone()
    after[0, 8] = (after[0, 8] + 1) % 30  # after the prefix: nothing before it may change (no leak)
    torch.testing.assert_close(model(after, p)[0, :8], base[0, :8])
    reference = LanguageModel(model.config)
    reference.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(tokens, torch.tensor([0])), reference.eval()(tokens))


def test_prefix_lm_loss_backpropagates_and_refuses_bad_prefix_len():
    model = PrefixLM(LMConfig(vocab_size=birdie.vocab_size(V), d_model=16, n_layers=1, mixer="mamba"))
    batch = pack([ex(name) for name in birdie.OBJECTIVES], pad_id=S)
    loss, metrics = prefix_lm_loss(model, batch)
    loss.backward()
    assert torch.isfinite(loss) and 0 <= metrics["acc"] <= 1
    with pytest.raises(ValueError, match="prefix_len"):
        model(batch[0], torch.full((6,), 99))
