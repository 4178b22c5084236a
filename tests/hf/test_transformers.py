"""rnnzoo language models as transformers models: generate() through the recurrent state equals rnnzoo's own
generation token for token, beam search's cache reordering equals recomputing without a cache, and
save_pretrained / from_pretrained / checkpoint conversion keep the logits identical (all offline)."""

import importlib.util

import pytest
import torch

pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                                reason="transformers not installed (extra rnnzoo[hf])")

from rnnzoo.models.generate import GenerationConfig, generate  # noqa: E402
from rnnzoo.models.lm import LanguageModel, LMConfig  # noqa: E402


def tiny(mixer, **kw):
    torch.manual_seed(0)
    return LanguageModel(LMConfig(vocab_size=24, mixer=mixer, n_layers=2, d_model=32, **kw)).eval()


@pytest.mark.parametrize("mixer", ["gla", "lstm", "attention", "mamba"])
def test_greedy_generate_equals_rnnzoo_generation(mixer):
    from rnnzoo.hf import RnnzooForCausalLM

    lm = tiny(mixer)
    hf = RnnzooForCausalLM.from_rnnzoo(lm)
    prompt = torch.tensor([[1, 5, 7, 9, 2], [3, 3, 8, 1, 0]])
    ours = generate(lm, prompt, GenerationConfig(max_new_tokens=24, strategy="greedy"))
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=24, do_sample=False,
                         pad_token_id=0)
    assert torch.equal(theirs[:, prompt.shape[1]:], ours)  # rnnzoo returns the new tokens only


def test_beam_search_with_the_cache_equals_recomputing_without_it():
    from rnnzoo.hf import RnnzooForCausalLM

    hf = RnnzooForCausalLM.from_rnnzoo(tiny("gla"))
    prompt = torch.tensor([[1, 5, 7, 9]])
    kw = dict(max_new_tokens=12, num_beams=3, do_sample=False, num_return_sequences=2, pad_token_id=0)
    assert torch.equal(hf.generate(prompt, use_cache=True, **kw), hf.generate(prompt, use_cache=False, **kw))


def test_cache_is_constant_size_for_a_recurrent_mixer():
    from rnnzoo.hf import RnnzooCache, RnnzooForCausalLM

    hf = RnnzooForCausalLM.from_rnnzoo(tiny("gla"))
    out = hf(torch.tensor([[1, 2, 3]]), use_cache=True)
    assert isinstance(out.cache, RnnzooCache) and out.cache.get_seq_length() == 3
    shapes = [t.shape for t in torch.utils._pytree.tree_leaves(out.cache.states)]
    out = hf(torch.tensor([[4]]), cache=out.cache)
    assert [t.shape for t in torch.utils._pytree.tree_leaves(out.cache.states)] == shapes
    assert out.cache.get_seq_length() == 4


def test_save_and_load_pretrained_offline_round_trip(tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    from rnnzoo.hf import RnnzooForCausalLM

    hf = RnnzooForCausalLM.from_rnnzoo(tiny("mamba2", mixer_options={"headdim": 16}))
    hf.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path, local_files_only=True).model_type == "rnnzoo"
    back = AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True).eval()
    assert type(back) is RnnzooForCausalLM and back.config.mixer_options == {"headdim": 16}
    x = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        assert torch.equal(back(x).logits, hf(x).logits)
        assert torch.equal(back.to_rnnzoo()(x), hf(x).logits)


def test_rnnzoo_checkpoint_converts_to_hf_and_back_with_identical_logits(tmp_path):
    from rnnzoo.apps.lm import LMTrainConfig, load_lm, train_lm
    from rnnzoo.config_args import override
    from rnnzoo.hf import RnnzooForCausalLM, checkpoint_to_hf

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("def return self import class for in if x ( ) : " * 200)
    cfg = override(LMTrainConfig(), mixer="gru", n_layers=1, d_model=16, steps=2, seq_len=16, batch_size=2,
                   out_dir=str(tmp_path / "run"), eval_chars=200, progress=False, corpus=str(corpus))
    train_lm(cfg)
    lm, vocab = load_lm(tmp_path / "run")
    checkpoint_to_hf(tmp_path / "run", tmp_path / "hf")
    back = RnnzooForCausalLM.from_pretrained(tmp_path / "hf", local_files_only=True).eval()
    assert back.config.rnnzoo_vocab == list(vocab.chars)
    x = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.equal(back(x).logits, lm(x))


def test_bad_config_and_padding_are_refused():
    from rnnzoo.hf import RnnzooConfig, RnnzooForCausalLM

    with pytest.raises(ValueError, match="unknown mixer"):
        RnnzooConfig(mixer="transformer_xl")
    hf = RnnzooForCausalLM.from_rnnzoo(tiny("gla"))
    with pytest.raises(ValueError, match="padded batches are not supported"):
        hf(torch.tensor([[1, 2]]), attention_mask=torch.tensor([[0, 1]]))
