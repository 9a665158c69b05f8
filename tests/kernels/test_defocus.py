"""Defocus (pillbox) PSFs: exact coverage, continuity, gradients, tiers, ImageNet-C pin."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from blurkit import ParameterError, ShapeError
from blurkit.kernels import (
    DefocusBlur,
    defocus_blur,
    disk_coverage,
    disk_kernel,
    imagenet_c_disk_kernel,
    lens_blur_radius,
    make_kernel,
)


def _high_freq_energy(x: torch.Tensor) -> float:
    """Energy of the image's spectrum outside the central (low) quarter of frequencies."""
    f = torch.fft.fftshift(torch.fft.fft2(x - x.mean((-2, -1), keepdim=True)), dim=(-2, -1))
    h, w = x.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    high = (yy.abs() > h // 8) | (xx.abs() > w // 8)
    return float((f.abs() ** 2 * high).sum())


def test_smoke_shapes_sum_nonneg():
    k = disk_kernel(torch.tensor([0.0, 0.4, 1.0, 3.5, 7.25]))
    assert k.shape == (5, 1, 15, 15)
    assert (k >= 0).all()
    torch.testing.assert_close(k.sum((-2, -1)), torch.ones(5, 1))
    assert k[0, 0, 7, 7] == 1.0  # radius 0 is a delta
    assert k[1, 0, 7, 7] == 1.0  # so is any disk inside the centre pixel
    # symmetric under x/y flips and transposition
    torch.testing.assert_close(k, k.flip(-1))
    torch.testing.assert_close(k, k.transpose(-1, -2))


def test_device_dtype_follow_request():
    k = disk_kernel(2.0, dtype=torch.float64)
    assert k.dtype == torch.float64 and k.device.type == "cpu"
    assert disk_kernel(torch.tensor(2.0, dtype=torch.float64)).dtype == torch.float64
    assert disk_kernel(2.0).dtype == torch.float32


@pytest.mark.parametrize("r", [0.3, 0.5, 1.0, math.sqrt(2) / 2, 2.5, 7.2, 30.0])
def test_area_is_exact(r):
    a = disk_coverage(torch.tensor([r], dtype=torch.float64))
    assert float(a.sum()) == pytest.approx(math.pi * r * r, rel=1e-12, abs=1e-12)
    assert float(a.max()) <= 1.0 + 1e-12


def test_coverage_matches_supersampling():
    # independent check: count 400 x 400 sub-samples per pixel inside the circle
    r, size, n = 2.3, 7, 400
    sub = (torch.arange(n, dtype=torch.float64) + 0.5) / n - 0.5
    c = torch.arange(size, dtype=torch.float64) - size // 2
    xs = (c[:, None] + sub[None]).reshape(-1)
    inside = (xs[None, :] ** 2 + xs[:, None] ** 2 <= r * r).to(torch.float64)
    ref = inside.reshape(size, n, size, n).mean((1, 3))
    got = disk_coverage(torch.tensor([r], dtype=torch.float64), size=size)[0, 0]
    torch.testing.assert_close(got, ref, atol=2e-3, rtol=0)


def test_continuous_across_integer_radii():
    rs = torch.linspace(0.95, 3.05, 2101, dtype=torch.float64)  # dr = 0.001
    k = disk_kernel(rs, size=9)
    step = (k[1:] - k[:-1]).abs().amax((1, 2, 3))
    assert float(step.max()) < 5e-3  # a thresholded disk jumps by ~0.05 here
    aliased = [
        (np.hypot(*np.meshgrid(np.arange(-4, 5), np.arange(-4, 5))) <= r) for r in (1.999, 2.0)
    ]
    assert (aliased[0] != aliased[1]).any()  # whereas the aliased disk does jump at r = 2


def test_gradcheck_radius():
    r = torch.tensor([0.3, 0.7, 1.0, 2.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: disk_kernel(t, size=7), (r,))


def test_no_nan_gradient_at_tangent_and_integer_radii():
    # radii where the circle touches pixel edges or corners exactly
    r = torch.tensor([0.0, 0.5, 1.0, 1.5, math.sqrt(0.5), 2.0], requires_grad=True)
    disk_kernel(r, size=7).square().sum().backward()
    assert torch.isfinite(r.grad).all()


def test_typed_errors():
    with pytest.raises(ParameterError, match="radius"):
        disk_kernel(-1.0)
    with pytest.raises(ParameterError, match="radius"):
        disk_kernel(5000.0)  # larger than the kernel size limit
    with pytest.raises(ParameterError, match="size"):
        disk_kernel(1.0, size=4)
    with pytest.raises(ShapeError, match="radius"):
        defocus_blur(torch.rand(3, 1, 8, 8), torch.ones(2))
    with pytest.raises(ParameterError, match="focus_distance_m"):
        lens_blur_radius(50.0, 2.0, 0.01, 3.0, 4.0)
    with pytest.raises(ParameterError, match="f_number"):
        lens_blur_radius(50.0, 0.0, 2.0, 3.0, 4.0)


def test_batch_equals_loop_and_module_agrees():
    x = torch.rand(3, 2, 20, 20, dtype=torch.float64)
    r = torch.tensor([0.0, 1.7, 4.2], dtype=torch.float64)
    out = defocus_blur(x, r)
    loop = torch.cat([defocus_blur(x[i : i + 1], float(r[i])) for i in range(3)])
    torch.testing.assert_close(out, loop)
    torch.testing.assert_close(DefocusBlur(1.7)(x), defocus_blur(x, 1.7))
    torch.testing.assert_close(defocus_blur(x[0], 1.7), defocus_blur(x[:1], 1.7)[0])


def test_blur_lowers_high_frequencies_monotonically(photos_uint8):
    img = torch.from_numpy(photos_uint8["camera"][::4, ::4, 0].copy()).float()[None, None] / 255
    energies = [_high_freq_energy(defocus_blur(img, r)) for r in (0.0, 0.8, 1.5, 2.5, 4.0)]
    assert all(a > b for a, b in zip(energies, energies[1:], strict=False)), energies


def test_lens_blur_radius_formula():
    # 50 mm f/2, focused at 2 m, point at infinity-ish and at the focus distance
    assert float(lens_blur_radius(50.0, 2.0, 2.0, 2.0, 4.0)) == 0.0
    f, n, s1, s2, p = 50.0, 2.0, 2.0, 5.0, 5.0
    c = (f / n) * abs(s2 - s1) * 1000 / (s2 * 1000) * f / (s1 * 1000 - f)
    assert float(lens_blur_radius(f, n, s1, s2, p)) == pytest.approx(c * 1000 / 2 / p, rel=1e-6)
    # batched and differentiable in the f-number
    fn = torch.tensor([1.4, 2.8, 5.6], dtype=torch.float64, requires_grad=True)
    r = lens_blur_radius(50.0, fn, 2.0, 5.0, 5.0)
    assert r.shape == (3,) and bool((r[:-1] > r[1:]).all())  # stopping down shrinks the blur
    assert torch.autograd.gradcheck(lambda t: lens_blur_radius(50.0, t, 2.0, 5.0, 5.0), (fn,))


# ImageNet-C and CIFAR-10-C (radius, alias_blur) pairs from REFERENCE.md
_IMAGENET_C_DISKS = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)]
_CIFAR_C_DISKS = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)]


@pytest.mark.parametrize("radius,alias_blur", _IMAGENET_C_DISKS + _CIFAR_C_DISKS)
def test_imagenet_c_disk_pinned(radius, alias_blur):
    corruptions = pytest.importorskip("imagecorruptions.corruptions")
    ref = corruptions.disk(radius=radius, alias_blur=alias_blur)
    got = imagenet_c_disk_kernel(radius, alias_blur)[0, 0].numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-6, rtol=0)


def test_imagenet_c_disk_batched_and_renormalized():
    radii = torch.tensor([3.0, 10.0, 3.0, 8.0])
    k = imagenet_c_disk_kernel(radii, torch.tensor([0.1, 0.5, 0.5, 0.5]))
    assert k.shape == (4, 1, 21, 21)
    torch.testing.assert_close(k[1:2], imagenet_c_disk_kernel(10.0, 0.5))
    torch.testing.assert_close(k[2:3, :, 2:-2, 2:-2], imagenet_c_disk_kernel(3.0, 0.5))
    kn = imagenet_c_disk_kernel(radii, 0.5, renormalize=True)
    torch.testing.assert_close(kn.sum((-2, -1)), torch.ones(4, 1))
    assert (kn >= 0).all()
    a = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: imagenet_c_disk_kernel(2.0, t), (a,))


def test_registry():
    torch.testing.assert_close(make_kernel("defocus(radius=3.5)"), disk_kernel(3.5))
    torch.testing.assert_close(
        make_kernel("imagenet_c_disk(radius=4, alias_blur=0.5)"), imagenet_c_disk_kernel(4, 0.5)
    )
