"""Shared checks for ops with a reference mode and a chunk mode: outputs, final state and the gradient of
every input agree."""

import torch


def run(op, inputs, mode, **kwargs):
    """inputs: dict name -> tensor (or tuple of tensors); returns (o, final_state flattened, grads)."""
    leaves = {n: tuple(t.detach().clone().requires_grad_() for t in x) if isinstance(x, tuple)
              else x.detach().clone().requires_grad_() for n, x in inputs.items() if x is not None}
    args = {n: leaves.get(n) for n in inputs}
    o, s = op(**args, mode=mode, output_final_state=True, **kwargs)
    states = s if isinstance(s, tuple) else (s,)
    w = torch.randn(o.shape, generator=torch.Generator().manual_seed(7), dtype=o.dtype)
    loss = (o * w).sum() + sum((st * st).sum() * 0.1 for st in states)
    flat = [t for x in leaves.values() for t in (x if isinstance(x, tuple) else (x,))]
    grads = torch.autograd.grad(loss, flat)
    return o, states, grads


def close(actual, expected, tol):
    """Relative to the tensor's scale: sums over hundreds of steps cancel, so elementwise rtol alone
    would demand more than float32 gives near zero crossings."""
    atol = tol * max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, atol=atol, rtol=tol)


def assert_modes_agree(op, inputs, tol, **kwargs):
    o_ref, s_ref, g_ref = run(op, inputs, "recurrent", **kwargs)
    o, s, g = run(op, inputs, "chunk", **kwargs)
    close(o, o_ref, tol)
    for a, b in zip(s, s_ref):
        close(a, b, tol)
    for a, b in zip(g, g_ref):
        close(a, b, tol)
    return o_ref
