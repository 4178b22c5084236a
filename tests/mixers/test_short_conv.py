import torch
import torch.nn.functional as F

from rnnzoo.mixers.norms import GatedRMSNorm
from rnnzoo.mixers.short_conv import QKVShortConv, ShortConvolution


def test_short_conv_matches_padded_conv1d_and_carries_state():
    torch.manual_seed(0)
    conv = ShortConvolution(6, kernel_size=4).double()
    x = torch.randn(2, 9, 6, dtype=torch.float64)
    ref = F.silu(F.conv1d(F.pad(x.transpose(1, 2), (3, 0)), conv.weight, conv.bias, groups=6)).transpose(1, 2)
    y, _ = conv(x)
    torch.testing.assert_close(y, ref)
    y1, s = conv(x[:, :2])
    y2, s = conv(x[:, 2:3], s)
    y3, _ = conv(x[:, 3:], s)
    torch.testing.assert_close(torch.cat((y1, y2, y3), 1), ref)


def test_qkv_short_conv_is_three_independent_convs_with_carried_windows():
    torch.manual_seed(0)
    qkv = QKVShortConv(4, 6, 8, kernel_size=3).double()
    q, k, v = (torch.randn(2, 7, d, dtype=torch.float64) for d in (4, 6, 8))
    windows = qkv.init_state(2)
    assert [w.shape for w in windows] == [(2, 4, 2), (2, 6, 2), (2, 8, 2)]
    full = qkv(q, k, v, windows)
    for out, conv, x in zip(full, (qkv.q_conv, qkv.k_conv, qkv.v_conv), (q, k, v)):
        torch.testing.assert_close(out, conv(x)[0])
    head = qkv(q[:, :3], k[:, :3], v[:, :3], windows)
    tail = qkv(q[:, 3:], k[:, 3:], v[:, 3:], head[3])
    for i in range(3):
        torch.testing.assert_close(torch.cat((head[i], tail[i]), 1), full[i])
        torch.testing.assert_close(tail[3][i], full[3][i])
    assert all(c.bias is None for c in (qkv.q_conv, qkv.k_conv, qkv.v_conv))


def test_gated_rmsnorm_groups_normalise_independently():
    norm = GatedRMSNorm(8, group_size=4)
    x = torch.randn(3, 8)
    x2 = x.clone()
    x2[:, 4:] *= 10.0
    torch.testing.assert_close(norm(x)[:, :4], norm(x2)[:, :4])
    torch.testing.assert_close(norm(x)[:, 4:], norm(x2)[:, 4:])


def test_short_conv_gradients_match_finite_differences_with_and_without_bias():
    torch.manual_seed(0)
    for bias in (True, False):
        conv = ShortConvolution(5, kernel_size=3, bias=bias).double()
        x, window = torch.randn(2, 6, 5, dtype=torch.float64), torch.randn(2, 5, 2, dtype=torch.float64)
        params = (x.requires_grad_(), window.requires_grad_(), *conv.parameters())
        torch.autograd.gradcheck(lambda x, s, *p: conv(x, s)[0], params)


def test_rms_norm_matches_torch_and_its_gradients_finite_differences():
    from rnnzoo.mixers.norms import RMSNorm, rms_norm

    torch.manual_seed(0)
    x = torch.randn(3, 5, 8)
    ours, ref = RMSNorm(8), torch.nn.RMSNorm(8)
    ours.weight.data.uniform_(0.5, 1.5)
    ref.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x), ref(x))
    xg = torch.randn(3, 2, 4, dtype=torch.float64, requires_grad=True)  # grouped: weight [G, group]
    w = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda a, b: rms_norm(a, b, 1e-5), (xg, w))
