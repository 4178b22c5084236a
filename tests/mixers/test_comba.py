"""comba mixer: the output correction and inner decay reach the op as q - D p with p = sigmoid(d) k."""

import torch

from rnnzoo import mixers
from rnnzoo.ops.comba import comba as comba_op


def test_corrected_query_and_feedback_key(monkeypatch):
    mixer = mixers.build("comba", d_model=16, num_heads=2)
    with torch.no_grad():
        mixer.decay.fill_(0.0)
        mixer.D.fill_(0.5)
    seen = {}

    def spy(q, k, v, p, g, beta, **kw):
        seen.update(q=q, k=k, p=p)
        return comba_op(q, k, v, p, g, beta, **kw)

    monkeypatch.setattr("rnnzoo.mixers.comba.comba", spy)
    mixer(torch.randn(2, 5, 16))
    torch.testing.assert_close(seen["p"], 0.5 * seen["k"])
    unit_q = seen["q"] + 0.5 * seen["p"]
    # unit up to l2norm's eps (1e-6 under the square root), which shows for short vectors
    torch.testing.assert_close(unit_q.norm(dim=-1), torch.ones(2, 5, 2), atol=1e-3, rtol=0)
