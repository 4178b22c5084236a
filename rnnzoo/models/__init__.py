"""Layer 3: models built from blocks of a mixer + MLP."""

from rnnzoo.models.block import MLP, Block
from rnnzoo.models.lm import LanguageModel, LMConfig

__all__ = ["MLP", "Block", "LanguageModel", "LMConfig"]
