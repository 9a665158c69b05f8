"""The blur engine: agreement of direct and FFT paths, boundaries, per-sample kernels,
gradients, and pinned values against scipy / OpenCV."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blurkit import ParameterError, ShapeError, blur
from blurkit.functional import BOUNDARIES, blur_separable, choose_method
from blurkit.kernels import gaussian_kernel

SCIPY_MODE = {
    "reflect": "mirror",
    "symmetric": "reflect",
    "replicate": "nearest",
    "circular": "wrap",
    "zeros": "constant",
}


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("ksize", [(3, 3), (4, 6), (31, 31)])
def test_direct_equals_fft(boundary, ksize):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 20, 17, generator=g, dtype=torch.float64)
    k = torch.rand(2, 3, *ksize, generator=g, dtype=torch.float64)
    a = blur(x, k, boundary, method="direct")
    b = blur(x, k, boundary, method="fft")
    torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_matches_scipy_convolve(boundary):
    """True convolution (not correlation) with scipy's boundary rules, asymmetric kernel, even size."""
    from scipy import ndimage

    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, 15, 12, generator=g, dtype=torch.float64)
    k = torch.rand(1, 1, 5, 4, generator=g, dtype=torch.float64)
    ours = blur(x, k, boundary)[0, 0].numpy()
    # scipy's convolve puts an even kernel's centre at index k // 2 as blurkit does
    ref = ndimage.convolve(x[0, 0].numpy(), k[0, 0].numpy(), mode=SCIPY_MODE[boundary], origin=0)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_matches_opencv_filter2d():
    import cv2

    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 1, 30, 30, generator=g, dtype=torch.float64)
    k = torch.rand(1, 1, 7, 7, generator=g, dtype=torch.float64)
    # cv2.filter2D correlates; flipping the kernel makes it a convolution; default border is reflect-101
    ref = cv2.filter2D(x[0, 0].numpy(), -1, k[0, 0].numpy()[::-1, ::-1].copy())
    np.testing.assert_allclose(blur(x, k, "reflect")[0, 0].numpy(), ref, atol=1e-12)


def test_impulse_reproduces_kernel():
    x = torch.zeros(1, 1, 11, 11)
    x[..., 5, 5] = 1
    k = torch.rand(1, 1, 5, 5)
    out = blur(x, k, "zeros")
    torch.testing.assert_close(out[0, 0, 3:8, 3:8], k[0, 0])


def test_kernel_larger_than_image_all_boundaries():
    x = torch.rand(2, 1, 8, 8)
    k = torch.ones(1, 1, 41, 41) / 41**2
    for b in BOUNDARIES:
        out = blur(x, k, b)
        assert out.shape == x.shape
        assert torch.isfinite(out).all()
    # a flat image stays flat under every non-zero boundary
    flat = torch.full((1, 1, 8, 8), 0.3)
    for b in ("reflect", "symmetric", "replicate", "circular"):
        torch.testing.assert_close(blur(flat, k, b), flat)


def test_batch_equals_loop_and_kernel_broadcasting():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(4, 3, 16, 16, generator=g)
    per_sample = torch.rand(4, 1, 5, 5, generator=g)
    per_channel = torch.rand(1, 3, 5, 5, generator=g)
    out = blur(x, per_sample)
    for i in range(4):
        torch.testing.assert_close(out[i], blur(x[i], per_sample[i : i + 1]))
    out_c = blur(x, per_channel)
    for c in range(3):
        torch.testing.assert_close(
            out_c[:, c : c + 1], blur(x[:, c : c + 1], per_channel[:, c : c + 1])
        )


def test_single_image_rank_kept_and_noncontiguous():
    x = torch.rand(3, 20, 24)
    k = gaussian_kernel(1.0)
    assert blur(x, k).shape == x.shape
    xt = torch.rand(1, 3, 24, 20).transpose(-1, -2)
    assert not xt.is_contiguous()
    torch.testing.assert_close(blur(xt, k), blur(xt.contiguous(), k))


def test_dtype_and_half_precision():
    x = torch.rand(1, 3, 16, 16)
    k = gaussian_kernel(1.0)
    assert blur(x.double(), k).dtype == torch.float64
    out = blur(x.bfloat16(), k, method="fft")
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), blur(x, k), atol=2e-2, rtol=0)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_gradcheck_images_and_kernels(method):
    g = torch.Generator().manual_seed(4)
    x = torch.rand(2, 2, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.rand(2, 1, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: blur(a, b, "reflect", method=method), (x, k))


def test_separable_matches_2d():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 2, 19, 21, generator=g, dtype=torch.float64)
    ky = torch.rand(3, 7, generator=g, dtype=torch.float64)
    kx = torch.rand(3, 5, generator=g, dtype=torch.float64)
    k2 = ky[:, None, :, None] * kx[:, None, None, :]
    for b in BOUNDARIES:
        torch.testing.assert_close(blur_separable(x, ky, kx, b), blur(x, k2, b), atol=1e-12, rtol=0)


def test_errors_are_typed_and_named():
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ShapeError, match="kernels"):
        blur(x, torch.rand(3, 1, 3, 3))
    with pytest.raises(ShapeError, match="images"):
        blur(torch.rand(8, 8), torch.rand(3, 3))
    with pytest.raises(TypeError, match="images"):
        blur((x * 255).to(torch.uint8), torch.rand(3, 3))
    with pytest.raises(ParameterError, match="boundary"):
        blur(x, torch.rand(3, 3), boundary="mirror")
    with pytest.raises(ParameterError, match="method"):
        blur(x, torch.rand(3, 3), method="magic")


def test_auto_rule():
    assert choose_method((224, 224), (3, 3)) == "direct"
    assert choose_method((224, 224), (61, 61)) == "fft"


@pytest.mark.parametrize("boundary", ["reflect", "symmetric", "replicate", "zeros"])
@pytest.mark.parametrize("kb, kc", [(1, 1), (2, 1), (1, 3), (2, 3)])
def test_opencv_and_sparse_paths_equal_direct(boundary, kb, kc):
    """The no-gradient CPU fast paths compute the same true convolution."""
    from blurkit.functional.conv import _direct, _sparse

    g = torch.Generator().manual_seed(6)
    x = torch.rand(2, 3, 30, 45, generator=g, dtype=torch.float64)
    for ks in [(4, 6), (17, 17), (41, 41)]:
        k = torch.rand(kb, kc, *ks, generator=g, dtype=torch.float64)
        k = k / k.sum((-2, -1), keepdim=True)
        ref = _direct(x, k, boundary)
        torch.testing.assert_close(blur(x, k, boundary, method="opencv"), ref, atol=1e-12, rtol=0)
        sparse = k * (torch.rand(k.shape, generator=g, dtype=torch.float64) < 0.05)
        torch.testing.assert_close(
            _sparse(x, sparse, boundary), _direct(x, sparse, boundary), atol=1e-12, rtol=0
        )


def test_auto_never_takes_a_path_without_gradient_when_one_is_wanted():
    x = torch.rand(1, 1, 12, 12, dtype=torch.float64, requires_grad=True)
    k = torch.zeros(1, 1, 21, 21, dtype=torch.float64)
    k[0, 0, 10] = 1 / 21  # sparse: the no-grad path would take it
    blur(x, k).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with pytest.raises(ParameterError, match="opencv"):
        blur(x, k, method="opencv")
    with torch.no_grad():
        torch.testing.assert_close(blur(x, k), blur(x, k, method="direct"))
