"""Layer 1: pure functions on tensors, each with its reference loop (mode ``"recurrent"``) beside a fast mode.

Every op is importable from here by name (``from rnnzoo.ops import gla, selective_scan, delta_rule``); its
module ``rnnzoo/ops/<family>.py`` states its equations and shapes and holds its helpers (``s4d_init``,
``MemoryRule``, ``init_memory_state``, ...). Shared rules (``_common.py``):

- arguments in flash-linear-attention's order: inputs, per-step gates (``g`` before ``beta``), then
  ``scale, initial_state, output_final_state, mode, chunk_size``; ``selective_scan`` keeps mamba_ssm's;
- ``mode`` is one of the op's ``MODES``; ``"auto"`` picks the compiled CPU kernel (``kernels/``) where one
  runs, else ``"chunk"``;
- ops compute in float32 at least and return the output in the input's dtype and the final state in float32
  (float64 for float64 inputs; complex64 / complex128 for S4D's complex state), as flash-linear-attention
  returns it; integer tensors of a state (positions, counts) stay int64. Ops without a state say "-".
  ``softmax_attention`` alone computes in its inputs' dtype (no state accumulates; sdpa accumulates in float32);
- non-floating inputs (int64, bool where a float is meant) raise a ValueError naming the dtype, and a
  ``chunk_size`` (or ``block_size``) below 1 a ValueError naming it;
- every op takes ``cu_seqlens=None`` (``ops/varlen.py``): N sequences packed in one row (batch 1) run as if each
  were alone, with ``initial_state`` and the final state [N, ...]; ``varlen.PACKING`` says per op which arguments
  are time-indexed (cut at the boundaries) and which are parameters (shared);
- under ``torch.autocast`` every op runs with autocast disabled (``autocast_safe``): it computes in float32 as
  above and returns its output in the dtype of the input it was given (what autocast's layers produced, e.g.
  bfloat16 after an autocast ``nn.Linear``), never in a dtype autocast would pick inside the op.

Layouts: B batch, T (or L) time, H heads, K/V key/value head dims, D channels, N state size.

| op | layout | modes | default mode | final-state dtype |
| --- | --- | --- | --- | --- |
| simple_gla | q, k [B, T, H, K]; v [B, T, H, V]; g [B, T, H] | recurrent, chunk, kernel, auto | auto | float32 |
| gla | q, k, gk [B, T, H, K]; v [B, T, H, V] | recurrent, chunk, kernel, auto | auto | float32 |
| rwkv6 | q, k, w [B, T, H, K]; v [B, T, H, V]; u [H, K] | recurrent, chunk, kernel, auto | auto | float32 |
| linear_attention | q, k [B, T, H, K]; v [B, T, H, V] | recurrent, chunk, kernel, auto | auto | float32 |
| mlstm | q, k [B, T, H, K]; v [B, T, H, V]; i, f [B, T, H] | recurrent, chunk, kernel, auto | auto | float32 |
| delta_rule | q, k [B, T, H, K]; v [B, T, H, V]; beta [B, T, H] | recurrent, chunk, kernel, auto | auto | float32 |
| gated_delta_rule | q, k [B, T, H, K]; v [B, T, H, V]; g, beta [B, T, H] | recurrent, chunk, kernel, auto | auto | float32 |
| delta_product | q [B, T, H, K]; k, v [B, T*n, H, D]; g [B, T, H]; beta [B, T*n, H] | recurrent, chunk, kernel, auto | auto | float32 |
| dplr_delta_rule | q, k, a, b, gk [B, T, H, K]; v [B, T, H, V] | recurrent, chunk, kernel, auto | auto | float32 |
| iplr_delta_rule | q, k, a, b [B, T, H, K]; v [B, T, H, V] | recurrent, chunk, kernel, auto | auto | float32 |
| kda | q, k, g [B, T, H, K]; v [B, T, H, V]; beta [B, T, H] | recurrent, chunk, kernel, auto | auto | float32 |
| gdn2 | q, k, g, b [B, T, H, K]; v, w [B, T, H, V] | recurrent, chunk, kernel, auto | auto | float32 |
| ssd | x [B, T, H, P]; a [B, T, H]; b, c [B, T, H, N] | recurrent, chunk, kernel, auto | auto | float32 |
| signed_ssd | x [B, T, H, P]; a [B, T, H]; b, c [B, T, H, N] | recurrent, chunk, kernel, auto | auto | float32 |
| selective_scan | u, delta, z [B, D, L]; A [D, N]; B, C [D, N] / [B, N, L] / [B, G, N, L] | recurrent, chunk, kernel, auto | auto | float32 |
| signed_selective_scan | as selective_scan | recurrent, chunk, kernel, auto | auto | float32 |
| diagonal_scan | x, g [B, T, *R] | recurrent, chunk, log | chunk | float32 |
| signed_diagonal_scan | x, a [B, T, *R] | recurrent, chunk | chunk | float32 |
| s4d_conv | u [B, T, H]; log_A_real, A_imag, C [H, N2] | recurrent, fft | fft | complex64 |
| aaren | q [H, K]; k [B, T, H, K]; v [B, T, H, V] | recurrent, chunk | chunk | float32 |
| memory_update | q, k [B, T, H, K]; v [B, T, H, V]; lr, log_decay [B, T, H] | recurrent, chunk | chunk | float32 |
| elman | x [B, T, D_in] | recurrent, fused | fused | float32 |
| lstm | x [B, T, D_in] | recurrent, fused | fused | float32 |
| gru | x [B, T, D_in] | recurrent, fused | fused | float32 |
| slstm | gx [B, T, H, 4, D]; r [H, 4, D, D] | recurrent | recurrent | float32 |
| lmu_memory | u [B, T, C]; Abar [q, q]; Bbar [q] | recurrent, fft | fft | float32 |
| long_conv | u [B, T, H]; k [H, L]; D [H] | recurrent, fft | fft | float32 |
| dilated_causal_conv | u [B, T, H]; weight [H, K]; bias [H] | recurrent, conv | conv | float32 |
| hie | u [B, T, D]; weight [H, D, W]; bias [H] | recurrent, conv | conv | float32 |
| gsa | q, k [B, T, H, K]; v [B, T, H, V]; s, g [B, T, H, M] | recurrent, chunk | chunk | float32 |
| comba | q, k, p [B, T, H, K]; v [B, T, H, V]; g, beta [B, T, H] | recurrent, chunk, kernel, auto | auto | float32 |
| longhorn | x, beta [B, T, D]; k, q [B, T, N] | recurrent, chunk | chunk | float32 |
| mamba3 | x [B, T, H, R, P]; a, dt, lam [B, T, H]; b, c [B, T, H, R, N]; theta [B, T, H, A] | recurrent, chunk, kernel, auto | auto | float32 |
| log_linear_attention | q, k [B, T, H, K]; v [B, T, H, V]; g [B, T, H]; level_scales [B, T, H, L] | recurrent, chunk | chunk | float32 |
| log_linear_gated_delta_rule | q, k [B, T, H, K]; v [B, T, H, V]; g, beta [B, T, H]; level_scales [B, T, H, L] | recurrent, chunk | chunk | float32 |
| mesa_net | q, k [B, T, H, K]; v [B, T, H, V]; g, beta [B, T, H]; lamb [H, K] | recurrent, chunk | chunk | float32 |
| ttt_linear | q, k, v [B, T, H, K]; eta [B, T, H]; w [H, K, K]; b, ln_weight, ln_bias [H, K] | recurrent, dual | dual | float32 |
| chunked_attention | q, k [B, T, H, dk]; v [B, T, H, dv] | recurrent, chunk | chunk | float32 |
| combiner_attention | q, k, v [B, T, H, D]; w [H, D] | recurrent, chunk | chunk | float32 |
| sparse_local_attention | q, k [B, T, Z]; v [B, T, V]; active [B, T] bool | recurrent, parallel | parallel | float32 |
| routing_attention | q [B, Tq, H, D]; k, v [B, Tk, H, D]; q_cluster [B, Tq, H], k_cluster [B, Tk, H] int64 | recurrent, parallel | parallel | - |
| softmax_attention | q [B, Tq, H, D]; k, v [B, Tk, H, D] | recurrent, sdpa | sdpa | - |
| forgetting_attention | q [B, Tq, H, K]; k [B, Tk, H, K]; v [B, Tk, H, V]; g [B, Tk, H] | recurrent, sdpa | sdpa | - |
| path_attention | q, w [B, Tq, H, K]; k [B, Tk, H, K]; v [B, Tk, H, V]; beta [B, Tq, H]; g [B, Tk, H] | recurrent, chunk | chunk | float32 |
| deltaformer_attention | q [B, Tq, H, K]; k [B, Tk, H, K]; v [B, Tq, H, V]; beta [B, Tq, H] | recurrent, chunk | chunk | float32 |
| apply_rotary | x [B, T, H, D]; positions [B, T] | - | - | - |
"""

from rnnzoo.ops.aaren import aaren
from rnnzoo.ops.attention import softmax_attention
from rnnzoo.ops.chunked_attention import chunked_attention
from rnnzoo.ops.comba import comba
from rnnzoo.ops.combiner import combiner_attention
from rnnzoo.ops.delta import delta_product, delta_rule, gated_delta_rule
from rnnzoo.ops.deltaformer import deltaformer_attention
from rnnzoo.ops.dilated_conv import dilated_causal_conv
from rnnzoo.ops.dplr import dplr_delta_rule, iplr_delta_rule
from rnnzoo.ops.forgetting_attention import forgetting_attention
from rnnzoo.ops.gla import gla
from rnnzoo.ops.gsa import gsa
from rnnzoo.ops.hie import hie
from rnnzoo.ops.kda import gdn2, kda
from rnnzoo.ops.linear_attention import linear_attention
from rnnzoo.ops.lmu import lmu_memory
from rnnzoo.ops.log_linear import log_linear_attention, log_linear_gated_delta_rule
from rnnzoo.ops.long_conv import long_conv
from rnnzoo.ops.longhorn import longhorn
from rnnzoo.ops.mamba3 import mamba3
from rnnzoo.ops.memory import memory_update
from rnnzoo.ops.mesa import mesa_net
from rnnzoo.ops.mlstm import mlstm
from rnnzoo.ops.path import path_attention
from rnnzoo.ops.rnn import elman, gru, lstm
from rnnzoo.ops.rotary import apply_rotary
from rnnzoo.ops.routing import routing_attention
from rnnzoo.ops.rwkv6 import rwkv6
from rnnzoo.ops.s4d import s4d_conv
from rnnzoo.ops.scan import diagonal_scan, signed_diagonal_scan
from rnnzoo.ops.selective_scan import selective_scan, signed_selective_scan
from rnnzoo.ops.seqboat import sparse_local_attention
from rnnzoo.ops.simple_gla import simple_gla
from rnnzoo.ops.slstm import slstm
from rnnzoo.ops.ssd import signed_ssd, ssd
from rnnzoo.ops.ttt import ttt_linear

__all__ = [
    "simple_gla", "gla", "rwkv6", "linear_attention", "mlstm", "delta_rule", "gated_delta_rule", "delta_product",
    "dplr_delta_rule", "iplr_delta_rule", "kda", "gdn2", "ssd",
    "signed_ssd", "selective_scan", "signed_selective_scan", "diagonal_scan", "signed_diagonal_scan", "s4d_conv",
    "aaren", "memory_update", "elman", "lstm", "gru", "slstm", "lmu_memory", "long_conv", "dilated_causal_conv", "hie",
    "gsa", "comba", "longhorn", "mamba3", "log_linear_attention", "log_linear_gated_delta_rule", "mesa_net", "ttt_linear",
    "chunked_attention", "combiner_attention", "sparse_local_attention", "routing_attention", "softmax_attention",
    "forgetting_attention", "path_attention", "deltaformer_attention", "apply_rotary",
]
