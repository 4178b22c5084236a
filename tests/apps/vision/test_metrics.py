import torch

from rnnzoo.apps.vision.metrics import frame_mse, ssim


def test_ssim_and_mse():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 1, 16, 16)
    assert torch.allclose(ssim(x, x), torch.ones(3))
    assert (ssim(x, torch.rand_like(x)) < 0.2).all()
    noisy = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    assert (ssim(x, noisy) > ssim(x, torch.rand_like(x))).all()
    y = x.clone()
    y[:, 1] += 0.5
    torch.testing.assert_close(frame_mse(y, x), torch.tensor([0.0, 0.25, 0.0]))
