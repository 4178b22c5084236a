"""Layer 3: models built from blocks of a mixer + MLP."""

from rnnzoo.models.block import MLP, Block
from rnnzoo.models.lm import LanguageModel, LMConfig
from rnnzoo.models.seq2seq import Seq2Seq, Seq2SeqConfig, Seq2SeqDecoder

__all__ = ["MLP", "Block", "LanguageModel", "LMConfig", "Seq2Seq", "Seq2SeqConfig", "Seq2SeqDecoder"]
