"""Hugging Face transformers models for any rnnzoo language model (extra ``rnnzoo[hf]``, transformers 5.24).

``RnnzooConfig`` (model type ``"rnnzoo"``) carries an ``LMConfig``'s fields; ``RnnzooForCausalLM`` wraps
``LanguageModel`` with its parameters under ``model.``; both are registered with ``AutoConfig`` and
``AutoModelForCausalLM`` when this module is imported. The recurrent state is the generation cache:
``RnnzooCache`` holds one mixer state per layer (constant size for recurrent mixers, a KV cache for
attention) and the tokens seen. ``model.generate(...)`` prefills the prompt with the full forward, then runs
each new token through the mixers' ``step``.

How the cache API is used (transformers changes it often, hence the pin): the model reports
``_supports_default_dynamic_cache() == False``, so ``generate`` does not build a ``DynamicCache``; ``forward``
creates an ``RnnzooCache`` on the first call and returns it as ``outputs.cache``; ``generate`` passes it back
with only the new token (``prepare_inputs_for_generation`` slices ``input_ids`` by the cache's
``get_seq_length()``); beam search reorders it through ``reorder_cache``. ``RnnzooCache`` is a ``Cache`` with no
transformers layers (``layers=[]``), so no key/value update path is ever taken.
"""

from __future__ import annotations

import dataclasses

import torch
from torch.utils import _pytree as pytree
from transformers import AutoConfig, AutoModelForCausalLM, GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.cache_utils import Cache
from transformers.modeling_outputs import CausalLMOutputWithPast

from rnnzoo.models.lm import LanguageModel, LMConfig

MODEL_TYPE = "rnnzoo"
TESTED_TRANSFORMERS = ">=5.24,<5.25"


class RnnzooConfig(PretrainedConfig):
    """The fields of ``rnnzoo.models.lm.LMConfig`` (mixer, mixer_options, n_layers, d_model, ...), as a
    transformers config."""

    model_type = MODEL_TYPE

    def __init__(self, **kwargs):
        known = {f.name for f in dataclasses.fields(LMConfig)}
        lm = {k: kwargs.pop(k) for k in list(kwargs) if k in known}
        lm_config = LMConfig(**lm)  # validates: an unknown mixer or a bad option fails here
        for name, value in dataclasses.asdict(lm_config).items():
            setattr(self, name, value)
        kwargs.setdefault("tie_word_embeddings", lm_config.tie_embeddings)
        self.use_cache = kwargs.pop("use_cache", True)
        super().__init__(**kwargs)

    def lm_config(self) -> LMConfig:
        return LMConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(LMConfig)})


class RnnzooCache(Cache):
    """Per-layer mixer states of one batch of sequences, and how many tokens they have seen."""

    def __init__(self, states: list | None = None, seen: int = 0):
        super().__init__(layers=[])
        self.states = states
        self.seen = seen

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seen

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Beam search: keep the rows ``beam_idx`` of every state tensor (batch is each tensor's first axis)."""
        self._map_rows(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        """Beam search and num_return_sequences expand the batch after the prompt: repeat each row."""
        self._map_rows(lambda t: t.repeat_interleave(repeats, 0))

    def _map_rows(self, fn) -> None:
        """Apply ``fn`` to every state tensor with a batch axis (scalars, e.g. bookkeeping, are kept)."""
        if self.states is not None:
            self.states = pytree.tree_map(lambda t: fn(t) if isinstance(t, torch.Tensor) and t.dim() else t,
                                          self.states)


class RnnzooForCausalLM(PreTrainedModel, GenerationMixin):
    """An rnnzoo ``LanguageModel`` as a transformers causal LM. ``forward(input_ids, cache=None)``: with no
    cache, the mixers' full forward from the zero state; with a cache, ``input_ids`` continue it (one token
    goes through ``step``, several through the full forward from the cached state)."""

    config_class = RnnzooConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _no_split_modules = ["Block"]

    def __init__(self, config: RnnzooConfig):
        super().__init__(config)
        self.model = LanguageModel(config.lm_config())
        if config.tie_embeddings:
            self._tied_weights_keys = {"model.head.weight": "model.embed.weight"}
        self.post_init()

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # the cache is ours (RnnzooCache), created in forward

    def _init_weights(self, module) -> None:
        pass  # LanguageModel initialises its own parameters

    def get_input_embeddings(self):
        return self.model.embed

    def set_input_embeddings(self, value):
        self.model.embed = value

    def get_output_embeddings(self):
        return self.model.head

    def forward(self, input_ids: torch.LongTensor | None = None, cache: RnnzooCache | None = None,
                use_cache: bool | None = None, labels: torch.LongTensor | None = None,
                attention_mask: torch.Tensor | None = None, return_dict: bool | None = None,
                **kwargs) -> CausalLMOutputWithPast:
        if input_ids is None:
            raise ValueError("RnnzooForCausalLM needs input_ids (inputs_embeds are not supported)")
        if attention_mask is not None and not bool(attention_mask.all()):
            raise ValueError("padded batches are not supported through transformers: pass unpadded rows, or use "
                             "rnnzoo's own mask= argument (see the README, 'Packed and padded batches')")
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if cache is not None and not isinstance(cache, RnnzooCache):
            raise ValueError(f"cache must be an RnnzooCache (the model's recurrent state), got {type(cache).__name__}")
        state = cache.states if cache is not None else None
        if input_ids.shape[1] == 1 and state is not None:
            logits, state = self.model.step(input_ids[:, 0], state)
            logits = logits[:, None]
        else:
            logits, state = self.model.forward_with_state(input_ids, state)
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                                     ignore_index=-100)
        new_cache = None
        if use_cache:
            new_cache = cache if cache is not None else RnnzooCache()
            new_cache.states, new_cache.seen = state, new_cache.seen + input_ids.shape[1]
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=new_cache)

    @classmethod
    def from_rnnzoo(cls, model: LanguageModel) -> RnnzooForCausalLM:
        """The transformers model holding a copy of ``model``'s weights (identical logits)."""
        hf = cls(RnnzooConfig(**dataclasses.asdict(model.config)))
        hf.model.load_state_dict(model.state_dict())
        return hf.eval()

    def to_rnnzoo(self) -> LanguageModel:
        """A plain rnnzoo ``LanguageModel`` with this model's weights."""
        lm = LanguageModel(self.config.lm_config())
        lm.load_state_dict(self.model.state_dict())
        return lm.eval()


AutoConfig.register(MODEL_TYPE, RnnzooConfig, exist_ok=True)
AutoModelForCausalLM.register(RnnzooConfig, RnnzooForCausalLM, exist_ok=True)


def checkpoint_to_hf(checkpoint_dir, out_dir) -> RnnzooForCausalLM:
    """Convert a ``rnnzoo lm train`` checkpoint into a transformers directory (``save_pretrained``: config.json
    and model.safetensors; the character vocabulary in the config as ``rnnzoo_vocab``). Offline."""
    from rnnzoo.apps.lm import load_lm

    lm, vocab = load_lm(checkpoint_dir)
    hf = RnnzooForCausalLM.from_rnnzoo(lm)
    hf.config.rnnzoo_vocab = list(vocab.chars)
    hf.save_pretrained(out_dir)
    return hf
