"""Optional compiled CPU kernels: the reference loops of several ops written in C (``csrc/``), built on first use
(``native``) and wrapped as autograd functions with hand-written backward passes:

- ``linear_attention``: decayed linear attention, the ``"kernel"`` mode of ``simple_gla`` (hence
  ``linear_attention``, ``ssd``, ``signed_ssd``) and ``gla``;
- ``selective_scan``: Mamba's S6 recurrence, the ``"kernel"`` mode of ``selective_scan`` and
  ``signed_selective_scan``;
- ``delta_rule``: rank-1 delta-rule rows with a decay per token, the ``"kernel"`` mode of ``delta_rule``,
  ``gated_delta_rule`` and ``delta_product``;
- ``mlstm``: xLSTM's stabilised mLSTM cell, the ``"kernel"`` mode of ``mlstm``;
- ``dplr``: the DPLR delta rule (a decay per key channel plus a rank-1 read-and-write), the ``"kernel"`` mode of
  ``dplr_delta_rule``, ``iplr_delta_rule`` and ``comba``;
- ``rms_norm`` (with the gated norms), ``l2_norm``, ``rotary`` and ``short_conv``: the RMSNorm and gated
  RMSNorm, the q/k L2 norm, the rotary embedding and the causal short convolution of the mixers
  (``rnnzoo.mixers.norms``, ``rnnzoo.mixers.parts.l2norm``, ``rnnzoo.ops.rotary``, ``rnnzoo.mixers.short_conv``),
  taken on CPU float32/float64 without a mode; their PyTorch forms are the references and the fallbacks.

An op with a kernel picks its mode with ``resolve``; without a C compiler (or with ``RNNZOO_NATIVE=0``)
``"auto"`` falls back to the op's pure-PyTorch ``"chunk"`` mode.
"""

from __future__ import annotations

import torch

from rnnzoo.ops.kernels import native


def resolve(mode: str, name: str, *tensors: torch.Tensor | None, fits: bool = True) -> str:
    """The mode an op with the compiled kernel ``name`` runs on ``tensors``: ``"auto"`` becomes ``"kernel"``
    where the op's own size rule ``fits`` holds and the kernel can run here (CPU float32/float64 tensors, a
    library that builds), else ``"chunk"``; ``"kernel"`` raises, naming why, where it cannot run; other modes
    pass through."""
    if mode == "auto":
        return "kernel" if fits and native.available(name, *tensors) else "chunk"
    if mode == "kernel":
        native.require(name, *tensors)
    return mode
