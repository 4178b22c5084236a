"""Shared pieces of the op tests: outputs and the gradient of every input on fresh leaf copies, the comparison of
a fast mode with the reference, a float64 gradcheck over named inputs, random gated q/k/v inputs, and the
hypothesis shapes of the chunked attention-like ops.

Inputs are dicts name -> tensor, tuple of tensors (a state like (S, z)) or None (left out of the call)."""

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

# drawn shapes of the chunked ops (linear attention, simple GLA, GLA, mLSTM): T up to 300 spans several chunks
# and ends mid-chunk; T = 1 is included
CHUNKED_SHAPES = dict(b=st.integers(1, 3), t=st.integers(1, 300), h=st.integers(1, 4),
                      chunk=st.sampled_from([16, 32, 64]), state=st.booleans(), seed=st.integers(0, 99))


def flatten(inputs):
    """inputs -> (their tensors in order, unflatten: tensors in that order -> the dict without its None entries)."""
    names = [n for n, x in inputs.items() if x is not None]
    sizes = [len(inputs[n]) if isinstance(inputs[n], tuple) else 0 for n in names]
    flat = [t for n in names for t in (inputs[n] if isinstance(inputs[n], tuple) else (inputs[n],))]

    def unflatten(tensors):
        out, i = {}, 0
        for n, size in zip(names, sizes):
            out[n] = tuple(tensors[i:i + size]) if size else tensors[i]
            i += max(size, 1)
        return out

    return flat, unflatten


def outputs_and_grads(op, inputs, loss, **kwargs):
    """out = op(**inputs, **kwargs) on fresh leaf copies -> (out, grads of loss(out) in every input tensor, in order)."""
    flat, unflatten = flatten(inputs)
    leaves = [t.detach().clone().requires_grad_() for t in flat]
    out = op(**unflatten(leaves), **kwargs)
    return out, torch.autograd.grad(loss(out), leaves)


def gradcheck(op, inputs, **kwargs):
    """float64 torch.autograd.gradcheck of op(**inputs, **kwargs) in every input tensor, through every output tensor."""
    flat, unflatten = flatten(inputs)

    def fn(*tensors):
        out = op(**unflatten(tensors), **kwargs)
        return tuple(flatten({"out": out} if torch.is_tensor(out) else dict(enumerate(out)))[0])

    return torch.autograd.gradcheck(fn, tuple(t.detach().requires_grad_() for t in flat))


def run(op, inputs, mode, **kwargs):
    """-> (o, final_state flattened, grads of a random projection of o plus 0.1 |state|^2 in every input)."""
    def loss(out):
        o, s = out
        w = torch.randn(o.shape, generator=torch.Generator().manual_seed(7), dtype=o.dtype)
        return (o * w).sum() + sum((st * st).sum() * 0.1 for st in (s if isinstance(s, tuple) else (s,)))

    (o, s), grads = outputs_and_grads(op, inputs, loss, mode=mode, output_final_state=True, **kwargs)
    return o, s if isinstance(s, tuple) else (s,), grads


def close(actual, expected, tol):
    """Relative to the tensor's scale: sums over hundreds of steps cancel, so elementwise rtol alone
    would demand more than float32 gives near zero crossings."""
    scale = expected.abs().max().item() if expected.numel() else 0.0  # an empty state (window or width 0)
    atol = tol * max(1.0, scale)
    torch.testing.assert_close(actual, expected, atol=atol, rtol=tol)


def assert_modes_agree(op, inputs, tol, mode="chunk", **kwargs):
    o_ref, s_ref, g_ref = run(op, inputs, "recurrent", **kwargs)
    o, s, g = run(op, inputs, mode, **kwargs)
    close(o, o_ref, tol)
    for a, b in zip(s, s_ref):
        close(a, b, tol)
    for a, b in zip(g, g_ref):
        close(a, b, tol)
    return o_ref


def gated_qkv(b, t, h, dk, dv, gate_shape, seed=0, dtype=torch.float32, strength=1.0, state=True):
    """q, k [B, T, H, dk], v [B, T, H, dv], a log-space gate [B, T, H, *gate_shape] (logsigmoid(N(2, 1)), mostly
    near 0 as trained gates are, times ``strength``) and S_0 [B, H, dk, dv] or None, drawn in that order."""
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(b, t, h, dk, generator=g, dtype=dtype) for _ in range(2))
    v = torch.randn(b, t, h, dv, generator=g, dtype=dtype)
    gate = F.logsigmoid(torch.randn(b, t, h, *gate_shape, generator=g, dtype=dtype) + 2) * strength
    s0 = torch.randn(b, h, dk, dv, generator=g, dtype=dtype) if state else None
    return q, k, v, gate, s0


def kernel_missing(name: str) -> bool:
    """Whether the compiled kernel ``kernels/csrc/<name>.c`` cannot be had here (no C compiler): its tests skip."""
    from rnnzoo.ops.kernels import native
    return native.load(name) is None
