"""Seq2Seq / Pointer Network / read-process-write: step decoding equals the teacher-forced forward, masks,
beam search through rnnzoo.models.generate, order invariance of the set encoder, bad input."""

import pytest
import torch

from rnnzoo.models.generate import decode, search_beams
from rnnzoo.models.seq2seq import END, Seq2Seq, Seq2SeqConfig, Seq2SeqDecoder
from tests.mixers.test_contract import CAUSAL, TEST_OPTIONS

S = 6


def pointer_model(encoder="lstm", decoder="lstm", seed=0, **kw):
    torch.manual_seed(seed)
    enc_opts = TEST_OPTIONS.get(encoder, {}) if encoder != "set" else {}
    cfg = Seq2SeqConfig(in_features=2, d_model=16, encoder=encoder, encoder_options=enc_opts, decoder=decoder,
                        decoder_options=TEST_OPTIONS.get(decoder, {}), **kw)
    return Seq2Seq(cfg).double().eval()


def token_model(seed=0, **kw):
    torch.manual_seed(seed)
    return Seq2Seq(Seq2SeqConfig(src_vocab=7, tgt_vocab=9, d_model=16, **kw)).double().eval()


def points(b=3, s=S, seed=1):
    return torch.rand(b, s, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def perm_targets(b=3, s=S, end=True):
    g = torch.Generator().manual_seed(2)
    t = torch.stack([torch.randperm(s, generator=g) + 1 for _ in range(b)])
    return torch.cat((t, torch.zeros(b, 1, dtype=torch.long)), 1) if end else t


def stepped(model, src, targets):
    """Log-probs of every target step from the StepDecoder fed the targets: [B, T, V]."""
    dec = Seq2SeqDecoder(model, src)
    logp, state = dec.start()
    out = [logp]
    for t in range(targets.shape[1] - 1):
        logp, state = dec.step(targets[:, t], state)
        out.append(logp)
    return torch.stack(out, 1)


def assert_same_log_probs(full_logits, step_logp):
    full = full_logits.log_softmax(-1)
    assert torch.equal(full.isfinite(), step_logp.isfinite())
    fin = full.isfinite()
    torch.testing.assert_close(step_logp[fin], full[fin], atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("decoder", CAUSAL)
def test_step_decoding_equals_teacher_forced_forward_for_every_decoder(decoder):
    model = pointer_model(decoder=decoder)
    src, targets = points(), perm_targets()
    assert_same_log_probs(model(src, targets), stepped(model, src, targets))


@pytest.mark.parametrize("kw", [dict(encoder="attention"), dict(encoder="gru", bidirectional=True),
                                dict(encoder="set", process_steps=3), dict(encoder="mamba", attention="luong"),
                                dict(encoder="lstm", n_layers=2, mask_pointed=False)])
def test_step_equals_forward_for_encoders_and_attentions(kw):
    model = pointer_model(**kw)
    src, targets = points(), perm_targets()
    assert_same_log_probs(model(src, targets), stepped(model, src, targets))


def test_token_head_step_equals_forward_with_padding_and_end():
    model = token_model(attention="luong")
    src = torch.randint(7, (2, 5), generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([[3, 4, 0, -100, -100], [1, 8, 2, 5, 0]])
    logits = model(src, targets)
    # after the end token only the end token is allowed
    assert logits[0, 3].isfinite().tolist() == [True] + [False] * 8
    steps = stepped(model, src, targets.clamp(min=0))
    assert_same_log_probs(logits, steps)


def test_pointer_masks_already_pointed_positions_in_training_and_decoding():
    model = pointer_model(allow_end=False)
    src, targets = points(), perm_targets(end=False)
    logits = model(src, targets)
    for t in range(S):
        pointed = targets[:, :t]
        assert torch.isinf(logits[:, t].gather(1, pointed)).all()
        assert torch.isinf(logits[:, t, END]).all()  # permutation task: no end slot
    greedy = decode(Seq2SeqDecoder(model, src), S, lambda lp: lp.argmax(-1))
    beams, scores = search_beams(Seq2SeqDecoder(model, src[:1]), S, num_beams=5)
    for row in torch.cat((greedy, beams)).tolist():
        assert sorted(row) == list(range(1, S + 1))
    assert torch.isfinite(scores).all()


def test_pointer_with_end_never_repeats_and_stops_for_good():
    model = pointer_model()
    src = points(4)
    for row in decode(Seq2SeqDecoder(model, src), S + 3, lambda lp: lp.argmax(-1)).tolist() + \
            search_beams(Seq2SeqDecoder(model, src[:1]), S + 3, num_beams=4, num_groups=2, diversity=2.0)[0].tolist():
        body = row[:row.index(END)] if END in row else row
        assert len(set(body)) == len(body) and END not in body
        assert all(t == END for t in row[len(body):])
    assert len(body) <= S


def test_unmasked_pointer_may_repeat():
    model = pointer_model(mask_pointed=False)
    logits = model(points(), perm_targets())
    assert logits[:, 1:, 1:].isfinite().all()


def test_beam_one_is_greedy_and_scores_are_sequence_log_probs():
    model = pointer_model(seed=3)
    src = points(1, seed=5)
    greedy = decode(Seq2SeqDecoder(model, src), S + 1, lambda lp: lp.argmax(-1))
    tokens, _ = search_beams(Seq2SeqDecoder(model, src), S + 1, num_beams=1)
    assert torch.equal(tokens, greedy)
    tokens, scores = search_beams(Seq2SeqDecoder(model, src), S + 1, num_beams=4)
    with torch.no_grad():
        logp = model(src.expand(4, -1, -1), tokens).log_softmax(-1)
    expected = logp.gather(-1, tokens[..., None])[..., 0].sum(1)
    torch.testing.assert_close(scores, expected.float(), rtol=1e-5, atol=1e-5)
    assert (scores[:-1] >= scores[1:]).all() and len({tuple(t) for t in tokens.tolist()}) == 4


def test_diverse_beam_gives_distinct_hypotheses_and_diversity_changes_them():
    model = token_model(seed=1)
    with torch.no_grad():
        model.tgt_embed.weight.normal_(0, 1.0)
    src = torch.tensor([[1, 5, 2, 6]])
    plain, _ = search_beams(Seq2SeqDecoder(model, src), 6, num_beams=4, num_groups=2, diversity=0.0)
    assert torch.equal(plain[:2], plain[2:])
    diverse, scores = search_beams(Seq2SeqDecoder(model, src), 6, num_beams=4, num_groups=2, diversity=50.0)
    assert torch.equal(diverse[:2], plain[:2]) and not torch.equal(diverse[2:], plain[2:])
    assert len({tuple(t) for t in diverse.tolist()}) == 4
    assert not (diverse[2:, 0] == diverse[0, 0]).any()  # Hamming penalty: group 1 avoids group 0's tokens
    assert torch.isfinite(scores).all()


def test_set_encoder_is_order_invariant():
    """Read-process-write: permuting the inputs permutes the pointer distribution the same way."""
    model = pointer_model(encoder="set", process_steps=4)
    src = points(1)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    a = Seq2SeqDecoder(model, src).start()[0][0]
    b = Seq2SeqDecoder(model, src[:, perm]).start()[0][0]
    torch.testing.assert_close(b[1:], a[1:][perm], atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(b[0], a[0], atol=1e-10, rtol=1e-10)
    lstm = pointer_model(encoder="lstm")
    a = Seq2SeqDecoder(lstm, src).start()[0][0]
    b = Seq2SeqDecoder(lstm, src[:, perm]).start()[0][0]
    assert not torch.allclose(b[1:], a[1:][perm])  # an RNN encoder sees the order


def test_bad_input_raises():
    model = pointer_model(max_len=S)
    with pytest.raises(ValueError, match="empty"):
        model.encode(torch.zeros(1, 0, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="length 8 exceeds the trained maximum max_len=6"):
        model.encode(points(1, 8))
    with pytest.raises(ValueError, match=r"\[B, S, 2\]"):
        model.encode(torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match=r"target ids must be in \[0, 7\)"):
        model(points(1), torch.tensor([[1, 9]]))
    with pytest.raises(ValueError, match=r"src ids must be in \[0, 7\)"):
        token_model().encode(torch.tensor([[1, 7]]))


@pytest.mark.parametrize("kw,match", [
    (dict(in_features=2, src_vocab=5), "exactly one of src_vocab / in_features"),
    (dict(in_features=2, decoder="nope"), "unknown mixer"),
    (dict(in_features=2, attention="dot"), "attention must be one of"),
    (dict(in_features=2, encoder="lstm", encoder_options={"window": 3}), "no option"),
    (dict(in_features=2, tgt_vocab=1), "tgt_vocab must be >= 2"),
])
def test_bad_config_raises(kw, match):
    with pytest.raises(ValueError, match=match):
        Seq2SeqConfig(**kw)
