"""TCNCA (Terzic et al. 2023, TCNCA: Temporal Convolution Network with Chunked Attention for Scalable Sequence
Processing): the Mega-chunk layer (Ma et al. 2023, Mega, eqs. 13-22 and Sec. 3.5) with its multi-dimensional damped
EMA replaced by a temporal convolutional network of dilated causal convolutions:

    X' = silu(TCN(X)),  TCN: u <- u + gelu(dwconv_{K, 2^l}(u)) for l = 0..depth-1   (replaces Mega's EMA, eq. 13)
    Z = silu(X' W_z);  Q = kq Z + mq;  K = kk Z + mk;  V = silu(X W_v)                (eqs. 14-17)
    O = chunked causal softmax(Q K^T / sqrt(z_dim)) V, chunks of chunk_size tokens    (eq. 18, Mega-chunk)
    gamma = silu(X' W_g);  phi = sigmoid(X' W_f);  H = silu(X' W_h + (gamma O) U_h)    (eqs. 19-21)
    Y = phi H + (1 - phi) X                                                           (eq. 22)

Q and K carry rotary positions (absolute, applied before caching: Mega's ``rotary`` relative position option).
Mega's dimensions: z_dim = d_model/4, value width = 2 d_model (its 512 / 128 / 1024); kq ~ N(0, 0.02), mq = 0.
The TCN's layout (depthwise, GELU, residual, dilations 1, 2, 4, ...) and the defaults depth 4, kernel 3, chunk
128 are our choices where the paper's text was not at hand; see docs/mixers/tcnca.md.

State: every conv layer's window ((K-1) 2^l inputs of layer l) and the last chunk_size - 1 keys and values
(masked when from an earlier chunk), plus a token counter (int64 bookkeeping): a fixed size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo.mixers.base import Mixer, MixerConfig, State
from rnnzoo.mixers.registry import register
from rnnzoo.ops.chunked_attention import chunked_attention, init_cache
from rnnzoo.ops.dilated_conv import dilated_causal_conv
from rnnzoo.ops.rotary import apply_rotary


@dataclass
class TCNCAConfig(MixerConfig):
    tcn_depth: int = 4  # conv layers, dilations 1, 2, ..., 2^(depth-1)
    kernel_size: int = 3
    chunk_size: int = 128  # attention chunk (tokens)
    z_dim: int | None = None  # shared q/k width; None: d_model // 4 rounded up to even
    expand: int = 2  # value width = expand * d_model
    rotary_base: float = 10000.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.tcn_depth, self.kernel_size, self.chunk_size, self.expand) < 1:
            raise ValueError(f"tcn_depth, kernel_size, chunk_size, expand must be >= 1, got {self.tcn_depth}, "
                             f"{self.kernel_size}, {self.chunk_size}, {self.expand}")
        if self.z_dim is None:
            self.z_dim = max(2, self.d_model // 4 + (self.d_model // 4) % 2)
        if self.z_dim < 2 or self.z_dim % 2:
            raise ValueError(f"z_dim must be even and >= 2 (rotary pairs), got {self.z_dim}")


@register("tcnca")
class TCNCA(Mixer):
    """Mega-chunk gated attention with a dilated causal TCN in place of the EMA."""

    config_class = TCNCAConfig
    paper = "Terzic et al. 2023, TCNCA: Temporal Convolution Network with Chunked Attention for Scalable Sequence Processing"
    state_formula = "d_model*(kernel_size-1)*(2^tcn_depth - 1) + (chunk_size-1)*(z_dim + expand*d_model)"
    fast_path = "F.conv1d dilated convolutions + block-local chunked attention (rnnzoo.ops.chunked_attention mode='chunk')"
    fast_mode = "chunk"

    def __init__(self, config: TCNCAConfig):
        super().__init__(config)
        c, d = config, config.d_model
        self.hdim = c.expand * d
        bound = c.kernel_size ** -0.5  # nn.Conv1d's default for a depthwise conv
        self.conv_weight = nn.Parameter(torch.empty(c.tcn_depth, d, c.kernel_size).uniform_(-bound, bound))
        self.conv_bias = nn.Parameter(torch.empty(c.tcn_depth, d).uniform_(-bound, bound))
        self.v_proj = nn.Linear(d, self.hdim)
        self.mx_proj = nn.Linear(d, c.z_dim + self.hdim + 2 * d)  # Z, gamma, phi, and X' W_h in one matmul
        self.qk_weight = nn.Parameter(torch.randn(2, c.z_dim) * 0.02)
        self.qk_bias = nn.Parameter(torch.zeros(2, c.z_dim))
        self.h_proj = nn.Linear(self.hdim, d, bias=False)  # U_h

    def init_state(self, batch_size, device=None, dtype=None) -> State:
        c = self.config
        dtype = dtype or self._param_dtype()
        windows = tuple(torch.zeros(batch_size, self.d_model, (c.kernel_size - 1) * 2 ** layer, device=device,
                                    dtype=dtype) for layer in range(c.tcn_depth))
        return (*windows, *init_cache(batch_size, c.chunk_size, 1, c.z_dim, self.hdim, device=device, dtype=dtype))

    def _mix(self, x, state, mode):
        c, d, T = self.config, self.d_model, x.shape[1]
        windows, cache = state[:c.tcn_depth], state[c.tcn_depth:]
        conv_mode = "recurrent" if mode == "recurrent" else "conv"
        u, new_windows = x, []
        for layer, window in enumerate(windows):
            y, window = dilated_causal_conv(u, self.conv_weight[layer], self.conv_bias[layer], 2 ** layer,
                                            initial_state=window, output_final_state=True, mode=conv_mode)
            u = u + F.gelu(y)
            new_windows.append(window.to(x.dtype))
        mx = F.silu(u)  # X'
        z, gamma, phi, hx = self.mx_proj(mx).split([c.z_dim, self.hdim, d, d], dim=-1)
        z = F.silu(z)
        q, k = (z * self.qk_weight[i] + self.qk_bias[i] for i in range(2))
        positions = cache[2][:, None] + torch.arange(T, device=x.device)
        q, k = (apply_rotary(t.unsqueeze(2), positions, c.rotary_base) for t in (q, k))
        v = F.silu(self.v_proj(x)).unsqueeze(2)
        o, (k_cache, v_cache, pos) = chunked_attention(q, k, v, c.chunk_size, initial_state=cache,
                                                       output_final_state=True, mode=mode)
        cache = (k_cache.to(cache[0].dtype), v_cache.to(cache[1].dtype), pos)
        h = F.silu(hx + self.h_proj(F.silu(gamma) * o[:, :, 0]))
        phi = torch.sigmoid(phi)
        return phi * h + (1 - phi) * x, (*new_windows, *cache)
