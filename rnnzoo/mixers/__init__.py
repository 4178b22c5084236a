"""Layer 2: sequence mixers sharing one contract (see ``rnnzoo.mixers.base``) and a name registry."""

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import build, config_fields, get, make_config, names, register

# Importing a family module registers its mixers.
from rnnzoo.mixers import attention, rnn, slstm  # noqa: E402,F401  (registration side effect)
from rnnzoo.mixers import based, gla, hgrn, lightning, lightnet, linear_attention, mlstm, retnet  # noqa: E402,F401
from rnnzoo.mixers import deltanet, memory, mom  # noqa: E402,F401
from rnnzoo.mixers import aaren, hydra, mamba, mamba2, s4d  # noqa: E402,F401
from rnnzoo.mixers import hyena, pgn, tcnca  # noqa: E402,F401
from rnnzoo.mixers import combiner, routing, seqboat  # noqa: E402,F401
from rnnzoo.mixers import lmu, minrnn, rglru  # noqa: E402,F401
from rnnzoo.mixers.bidirectional import Bidirectional  # noqa: E402

__all__ = ["Mixer", "MixerConfig", "State", "Bidirectional", "build", "config_fields", "get",
           "make_config", "names", "register"]
