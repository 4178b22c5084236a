"""kda and gdn2 mixers: a gdn2 whose erase and write gates repeat KDA's per-head beta over the channels is KDA."""

import torch

from rnnzoo import mixers


def test_gdn2_with_per_head_gates_is_kda():
    torch.manual_seed(0)
    kda = mixers.build("kda", 16, num_heads=2, chunk_size=4).double()
    gdn2 = mixers.build("gdn2", 16, num_heads=2, chunk_size=4).double()
    shared = {n: p for n, p in kda.state_dict().items() if not n.startswith("b_proj")}
    beta = kda.b_proj.weight  # [H, d]: one gate per head
    gdn2.load_state_dict({**shared, "b_proj.weight": beta.repeat_interleave(kda.head_dim, 0),
                          "w_proj.weight": beta.repeat_interleave(kda.head_v_dim, 0)})
    x = torch.randn(2, 11, 16, dtype=torch.float64)
    for mode in ("chunk", "recurrent"):
        y_kda, s_kda = kda._mix(x, kda.init_state(2, dtype=x.dtype), mode)
        y_gdn2, s_gdn2 = gdn2._mix(x, gdn2.init_state(2, dtype=x.dtype), mode)
        torch.testing.assert_close(y_gdn2, y_kda, atol=1e-10, rtol=1e-10)
        for a, b in zip(s_gdn2, s_kda):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
