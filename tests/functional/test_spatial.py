"""Spatially varying blur: product convolution, depth-driven blur, zoom blur."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blurkit import ParameterError, ShapeError
from blurkit.functional import blur
from blurkit.functional.spatial import (
    ZoomBlur,
    depth_blur,
    depth_defocus,
    product_convolution,
    zoom_blur,
)
from blurkit.kernels import gaussian_blur, gaussian_kernel


def _box(n: int, dtype=torch.float32) -> torch.Tensor:
    return torch.ones(1, 1, n, n, dtype=dtype) / n**2


def _photo(size: int = 64, dtype=torch.float32) -> torch.Tensor:
    from skimage import data, transform

    img = transform.resize(data.astronaut(), (size, size), anti_aliasing=True)
    return torch.from_numpy(img).permute(2, 0, 1)[None].to(dtype)


# ---------------------------------------------------------------- product_convolution


@pytest.mark.parametrize("mode", ["gather", "scatter", "normalized-scatter"])
def test_one_kernel_is_uniform_blur(mode):
    x = torch.rand(2, 3, 20, 17, dtype=torch.float64)
    k = gaussian_kernel(1.3, dtype=torch.float64)
    w = torch.ones(1, 1, 20, 17, dtype=torch.float64)
    torch.testing.assert_close(
        product_convolution(x, k, w, mode=mode), blur(x, k), atol=1e-12, rtol=0
    )


def test_per_sample_kernel_sets_match_single_image_calls():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 16, 16, generator=g, dtype=torch.float64)
    k = torch.rand(3 * 2, 1, 5, 5, generator=g, dtype=torch.float64)
    k = k / k.sum((-2, -1), keepdim=True)
    w = torch.rand(3, 2, 16, 16, generator=g, dtype=torch.float64)
    w = w / w.sum(1, keepdim=True)
    y = product_convolution(x, k, w)
    for b in range(3):
        yb = product_convolution(x[b], k[2 * b : 2 * b + 2], w[b : b + 1])
        torch.testing.assert_close(y[b], yb, atol=1e-12, rtol=0)
        # and by the written formula
        ref = w[b, 0] * blur(x[b], k[2 * b]) + w[b, 1] * blur(x[b], k[2 * b + 1])
        torch.testing.assert_close(y[b], ref, atol=1e-12, rtol=0)


def test_kernels_of_different_sizes_as_list():
    x = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    w = torch.zeros(1, 2, 12, 12, dtype=torch.float64)
    w[:, 0, :6] = 1
    w[:, 1, 6:] = 1
    y = product_convolution(x, [_box(3, torch.float64), _box(7, torch.float64)], w)
    torch.testing.assert_close(y[..., :6, :], blur(x, _box(3, torch.float64))[..., :6, :])
    torch.testing.assert_close(y[..., 6:, :], blur(x, _box(7, torch.float64))[..., 6:, :])


def test_scatter_conserves_light_and_normalized_keeps_constants():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, 24, 24, generator=g, dtype=torch.float64)
    w = torch.zeros(1, 2, 24, 24, dtype=torch.float64)
    w[:, 0, :, :12] = 1
    w[:, 1, :, 12:] = 1
    k = [_box(1, torch.float64), _box(7, torch.float64)]
    y = product_convolution(x, k, w, mode="scatter", boundary="circular")
    torch.testing.assert_close(y.sum(), x.sum())  # total light is conserved
    ones = torch.ones_like(x)
    assert (product_convolution(ones, k, w, mode="scatter") - 1).abs().max() > 0.1  # halo
    for mode in ("gather", "normalized-scatter"):
        torch.testing.assert_close(product_convolution(ones, k, w, mode=mode), ones)


def test_normalize_weights():
    x = torch.rand(1, 3, 10, 10, dtype=torch.float64)
    k = torch.cat([_box(3, torch.float64), gaussian_kernel(0.8, size=3, dtype=torch.float64)])
    w = torch.rand(1, 2, 10, 10, dtype=torch.float64)
    y = product_convolution(x, k, w, normalize_weights=True)
    torch.testing.assert_close(y, product_convolution(x, k, w / w.sum(1, keepdim=True)))


def test_product_convolution_errors():
    x = torch.rand(2, 3, 10, 10)
    k = torch.cat([_box(3), _box(3)])
    with pytest.raises(ShapeError, match="weights"):
        product_convolution(x, k, torch.ones(2, 2, 10, 9))
    with pytest.raises(ShapeError, match="kernels"):
        product_convolution(x, k, torch.ones(2, 3, 10, 10))  # 3 maps, 2 kernels
    with pytest.raises(ShapeError, match="kernels"):
        product_convolution(x, [_box(3)], torch.ones(2, 2, 10, 10))
    with pytest.raises(ShapeError, match="weights"):
        product_convolution(x, k, torch.ones(3, 2, 10, 10))  # wrong batch
    with pytest.raises(ParameterError, match="mode"):
        product_convolution(x, k, torch.ones(2, 2, 10, 10), mode="splat")


def test_product_convolution_gradcheck():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 2, 6, 6, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.rand(2, 1, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.rand(1, 2, 6, 6, generator=g, dtype=torch.float64, requires_grad=True)
    for mode in ("gather", "normalized-scatter"):

        def fn(a, b, c, mode=mode):
            return product_convolution(a, b, c, mode=mode)

        assert torch.autograd.gradcheck(fn, (x, k, w))


# ---------------------------------------------------------------- depth_blur


def test_constant_radius_map_is_uniform_disk_blur():
    from blurkit.kernels import disk_kernel

    x = _photo(48, torch.float64)
    for r in (0.0, 1.7, 4.0):
        rmap = torch.full((1, 1, 48, 48), r, dtype=torch.float64)
        torch.testing.assert_close(
            depth_blur(x, rmap), blur(x, disk_kernel(r, dtype=torch.float64)), atol=1e-6, rtol=0
        )


def test_gaussian_psf_option_and_per_sample_levels():
    x = torch.rand(2, 3, 20, 20, dtype=torch.float64)
    rmap = torch.stack([torch.full((1, 20, 20), 2.0), torch.full((1, 20, 20), 4.0)]).double()
    y = depth_blur(x, rmap, psf="gaussian")
    torch.testing.assert_close(y, gaussian_blur(x, torch.tensor([1.0, 2.0], dtype=torch.float64)))


def test_batch_equals_single_samples():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 1, 16, 16, generator=g, dtype=torch.float64)
    rmap = 3 * torch.rand(3, 1, 16, 16, generator=g, dtype=torch.float64)
    y = depth_blur(x, rmap, levels=4)
    for b in range(3):
        torch.testing.assert_close(y[b], depth_blur(x[b], rmap[b], levels=4), atol=1e-12, rtol=0)
    # one shared map
    torch.testing.assert_close(
        depth_blur(x, rmap[:1], levels=4)[1], depth_blur(x[1], rmap[0], levels=4)
    )


def test_sharp_region_stays_sharp_and_error_shrinks_with_levels():
    from blurkit.kernels import disk_kernel

    x = _photo(64, torch.float64)
    rmap = torch.zeros(1, 1, 64, 64, dtype=torch.float64)
    rmap[..., 32:] = 6.0
    y = depth_blur(x, rmap)
    torch.testing.assert_close(y[..., :28], x[..., :28])  # gather mode: r=0 pixels untouched
    torch.testing.assert_close(
        y[..., 38:], blur(x, disk_kernel(6.0, dtype=torch.float64))[..., 38:]
    )
    # a ramp spanning 0..8 px: error against the exact disk at an intermediate radius
    ramp = torch.linspace(0, 8, 64, dtype=torch.float64).expand(1, 1, 64, 64)
    col = 36  # radius 4.57, between levels for both settings
    exact = blur(x, disk_kernel(float(ramp[0, 0, 0, col]), dtype=torch.float64))[..., col]
    errs = [(depth_blur(x, ramp, levels=n)[..., col] - exact).abs().mean().item() for n in (3, 12)]
    assert errs[1] < errs[0] and errs[1] < 0.01


def test_depth_blur_errors():
    x = torch.rand(2, 3, 10, 10)
    with pytest.raises(ShapeError, match="radius_map"):
        depth_blur(x, torch.ones(2, 1, 10, 11))
    with pytest.raises(ShapeError, match="radius_map"):
        depth_blur(x, torch.ones(2, 3, 10, 10))
    with pytest.raises(ParameterError, match="radius_map"):
        depth_blur(x, -torch.ones(2, 1, 10, 10))
    with pytest.raises(ParameterError, match="levels"):
        depth_blur(x, torch.ones(2, 1, 10, 10), levels=0)
    with pytest.raises(ParameterError, match="strength"):
        depth_defocus(x, torch.ones(10, 10), 0.5, -1.0)


def test_depth_blur_gradcheck():
    g = torch.Generator().manual_seed(4)
    x = torch.rand(1, 1, 7, 7, generator=g, dtype=torch.float64, requires_grad=True)
    r = (0.5 + 2 * torch.rand(1, 1, 7, 7, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: depth_blur(a, b, levels=3), (x, r))


def test_depth_defocus_focus_plane_is_sharp():
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    d = torch.full((16, 16), 0.3, dtype=torch.float64)
    torch.testing.assert_close(depth_defocus(x, d, 0.3, 5.0), x)
    d2 = torch.linspace(0, 1, 16, dtype=torch.float64)[:, None].expand(16, 16)
    y = depth_defocus(x, d2, focus_depth=0.0, strength=4.0)
    ref = depth_blur(x, 4.0 * d2)
    torch.testing.assert_close(y, ref)


# ---------------------------------------------------------------- zoom_blur


def test_zoom_identity_and_module():
    x = torch.rand(2, 3, 13, 21)
    torch.testing.assert_close(zoom_blur(x, [1.0]), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(ZoomBlur([1.0, 1.1])(x), zoom_blur(x, [1.0, 1.1]))


def test_zoom_matches_scipy_map_coordinates():
    from scipy import ndimage

    x = _photo(40, torch.float64)[..., :, 3:37]  # 40 x 34, non-square
    factors = [1.0, 1.07, 1.19, 1.3]
    y = zoom_blur(x, factors)
    h, w = x.shape[-2:]
    ii, jj = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    ref = np.zeros((3, h, w))
    for z in factors:
        coords = [(ii + 0.5 - h / 2) / z + h / 2 - 0.5, (jj + 0.5 - w / 2) / z + w / 2 - 0.5]
        for c in range(3):
            ref[c] += ndimage.map_coordinates(x[0, c].numpy(), coords, order=1, mode="nearest")
    ref /= len(factors)
    np.testing.assert_allclose(y[0].numpy(), ref, atol=1e-9)


def test_zoom_per_sample_factors_and_errors():
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    f = torch.tensor([[1.0, 1.1], [1.0, 1.3]], dtype=torch.float64)
    y = zoom_blur(x, f)
    torch.testing.assert_close(y[1], zoom_blur(x[1], [1.0, 1.3]))
    with pytest.raises(ParameterError, match="factors"):
        zoom_blur(x, [1.0, 0.0])
    with pytest.raises(ShapeError, match="factors"):
        zoom_blur(x, torch.ones(3, 2))


def test_zoom_gradcheck():
    x = torch.rand(1, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    f = torch.tensor([1.03, 1.17], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: zoom_blur(a, b), (x, f))


def test_depth_blur_flat_half_precision_map_is_finite():
    # a flat radius map: the level step is clamped away from 0, also where 1e-12 underflows
    # (the internal NaN this made was once reported as bad "weights" to the caller)
    from blurkit.functional import depth_blur

    x = torch.rand(1, 1, 8, 8).half()
    y = depth_blur(x, torch.zeros(1, 1, 8, 8, dtype=torch.float16), levels=8)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, x)
