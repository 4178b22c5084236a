"""Layer 2: sequence mixers sharing one contract (see ``rnnzoo.mixers.base``) and a name registry."""

# Importing a family module registers its mixers (the registry is filled by these imports' side effect).
from rnnzoo.mixers import (  # noqa: F401
    aaren,
    attention,
    based,
    comba,
    combiner,
    deltaformer,
    deltanet,
    fox,
    gla,
    gsa,
    hgrn,
    hgrn2,
    hydra,
    hyena,
    kda,
    lightnet,
    lightning,
    linear_attention,
    lmu,
    log_linear,
    longhorn,
    mamba,
    mamba2,
    mamba3,
    memory,
    mesanet,
    minrnn,
    mlstm,
    mom,
    path,
    pgn,
    retnet,
    rglru,
    rnn,
    routing,
    rwkv6,
    rwkv7,
    s4d,
    seqboat,
    slstm,
    tcnca,
    ttt,
)
from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.bidirectional import Bidirectional
from rnnzoo.mixers.registry import build, config_fields, get, make_config, names, register

__all__ = ["Mixer", "MixerConfig", "State", "Bidirectional", "build", "config_fields", "get",
           "make_config", "names", "register"]
