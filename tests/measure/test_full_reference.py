"""PSNR / SSIM / MS-SSIM: pinned against scikit-image and pytorch_msssim; properties; gradients."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_msssim
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from blurkit import ShapeError
from blurkit.kernels import gaussian_blur
from blurkit.measure import ms_ssim, ms_ssim_levels, psnr, ssim


def _crop(img: np.ndarray, size: int) -> torch.Tensor:
    h, w = img.shape[:2]
    t, l = (h - size) // 2, (w - size) // 2
    return torch.from_numpy(img[t : t + size, l : l + size].copy()).permute(2, 0, 1).double() / 255


@pytest.fixture(scope="module")
def pair(photos_uint8):
    x = torch.stack([_crop(photos_uint8[n], 192) for n in ("coffee", "chelsea")])
    y = gaussian_blur(x, torch.tensor([1.0, 2.5]))
    return x, y


def test_psnr_matches_skimage(pair):
    x, y = pair
    got = psnr(x, y)
    for i in range(2):
        ref = peak_signal_noise_ratio(x[i].numpy(), y[i].numpy(), data_range=1.0)
        assert abs(float(got[i]) - ref) < 1e-9
    assert torch.isinf(psnr(x, x)).all()
    # data_range scales as it should: same images in [0, 255]
    assert torch.allclose(psnr(x * 255, y * 255, data_range=255.0), got)


def test_ssim_matches_skimage_gaussian_window(pair):
    # skimage with the Gaussian window of Wang et al. (not its 7x7 uniform default);
    # the valid-region crop is the same; observed differences ~2e-6 (float32 window taps in
    # pytorch_msssim, filtering order): tolerance 1e-5
    x, y = pair
    got = ssim(x, y)
    for i in range(2):
        ref = structural_similarity(
            x[i].numpy(),
            y[i].numpy(),
            data_range=1.0,
            channel_axis=0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert abs(float(got[i]) - ref) < 1e-5, (float(got[i]), ref)
    assert float(got[0]) > float(got[1])  # more blur, less similar


def test_ms_ssim_matches_library_at_five_scales(pair):
    x, y = pair
    ref = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False)
    assert torch.allclose(ms_ssim(x, y), ref, atol=1e-10)


def test_ms_ssim_small_images_use_fewer_scales(pair):
    x, y = pair
    assert [ms_ssim_levels(s, s) for s in (11, 20, 21, 32, 41, 81, 160, 161)] == [
        1,
        1,
        2,
        2,
        3,
        4,
        4,
        5,
    ]
    xs, ys = x[..., :32, :32], y[..., :32, :32]
    v = ms_ssim(xs, ys)
    assert v.shape == (2,) and bool(((v > 0) & (v < 1)).all())
    assert torch.allclose(ms_ssim(xs, xs), torch.ones(2, dtype=xs.dtype))
    # one scale is plain SSIM
    assert torch.allclose(
        ms_ssim(x[..., :16, :16], y[..., :16, :16]), ssim(x[..., :16, :16], y[..., :16, :16])
    )


@pytest.mark.parametrize("fn", [ssim, ms_ssim])
def test_monotone_in_blur(fn, pair):
    x, _ = pair
    vals = [float(fn(x[:1], gaussian_blur(x[:1], s))) for s in (0.5, 1.0, 2.0, 4.0)]
    assert vals == sorted(vals, reverse=True)
    assert vals[0] < 1.0


def test_shapes_reductions_and_single(pair):
    x, y = pair
    for fn in (psnr, ssim, ms_ssim):
        assert fn(x, y).shape == (2,)
        assert fn(x, y, reduction="mean").shape == ()
        assert torch.allclose(fn(x, y, reduction="sum"), fn(x, y).sum())
        assert fn(x[0], y[0]).shape == ()
        assert torch.allclose(fn(x[1], y[1]), fn(x, y)[1])


def test_errors():
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ShapeError, match="y"):
        ssim(x, torch.rand(1, 3, 32, 31))
    with pytest.raises(ShapeError):
        ms_ssim(x[..., :8, :8], x[..., :8, :8])
    with pytest.raises(ValueError, match="data_range"):
        psnr(x, x, data_range=0)
    with pytest.raises(ValueError, match="reduction"):
        psnr(x, x, reduction="max")
    with pytest.raises(TypeError):
        ssim(x.to(torch.uint8), x.to(torch.uint8))


@pytest.mark.parametrize("fn", [psnr, ssim, ms_ssim])
def test_gradcheck(fn):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 24, 24, generator=g, dtype=torch.float64)
    y = (x + 0.1 * torch.rand(1, 1, 24, 24, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: fn(x, t), (y,), eps=1e-6, atol=1e-5, fast_mode=True)
