"""Kernel utilities: normalise, centre, crop, compose, render, registry."""

from __future__ import annotations

import pytest
import torch

from blurkit import ParameterError, blur
from blurkit.kernels import (
    center_kernel,
    compose_kernels,
    crop_to_energy,
    gaussian_kernel,
    kernel_centroid,
    list_kernels,
    make_kernel,
    normalize_kernel,
    parse_kernel_spec,
    render_kernels,
)


def test_normalize_clamps_rounding_and_sums_to_one():
    # a negative tap at float-rounding level (an FFT-made kernel) is clamped to 0;
    # a real negative tap is an error (tests/kernels/test_input_policy.py)
    k = normalize_kernel(torch.tensor([[-1e-9, 1.0], [2.0, 1.0]]))
    assert (k >= 0).all()
    torch.testing.assert_close(k.sum(), torch.tensor(1.0))


def test_center_moves_centroid_to_centre():
    k = torch.zeros(1, 1, 9, 9)
    k[..., 2, 6] = 1.0
    k[..., 3, 6] = 1.0
    c = center_kernel(k)
    cy, cx = kernel_centroid(c)
    assert abs(float(cy) - 4) < 1e-4 and abs(float(cx) - 4) < 1e-4
    torch.testing.assert_close(c.sum(), torch.tensor(1.0))


def test_crop_to_energy_keeps_fraction():
    k = gaussian_kernel(1.0, size=41, dtype=torch.float64)
    c = crop_to_energy(k, 0.999)
    assert c.shape[-1] < 41 and c.shape[-1] % 2 == 1
    held = k[
        ...,
        20 - c.shape[-1] // 2 : 21 + c.shape[-1] // 2,
        20 - c.shape[-1] // 2 : 21 + c.shape[-1] // 2,
    ].sum()
    assert held >= 0.999


def test_compose_equals_sequential_blur():
    x = torch.rand(1, 1, 30, 30, dtype=torch.float64)
    a = gaussian_kernel(1.0, dtype=torch.float64)
    b = torch.rand(1, 1, 5, 3, dtype=torch.float64)
    b = b / b.sum()
    both = compose_kernels(a, b)
    seq = blur(blur(x, a, "zeros"), b, "zeros")
    torch.testing.assert_close(blur(x, both, "zeros")[..., 8:-8, 8:-8], seq[..., 8:-8, 8:-8])
    # composing Gaussians adds variances (up to the sampling of the discrete Gaussian)
    torch.testing.assert_close(
        compose_kernels(
            gaussian_kernel(1.0, size=31, dtype=torch.float64),
            gaussian_kernel(1.0, size=31, dtype=torch.float64),
        )[..., 15:46, 15:46],
        gaussian_kernel(2**0.5, size=31, dtype=torch.float64),
        atol=1e-4,
        rtol=0,
    )


def test_render_is_displayable():
    img = render_kernels(gaussian_kernel(torch.tensor([1.0, 2.0])))
    assert img.shape[:2] == (2, 3) and img.min() >= 0 and img.max() <= 1


def test_registry_and_specs():
    names = list_kernels()
    assert "gaussian" in names
    # every registered family builds a valid kernel: tests/contract/test_kernels.py, per family
    torch.testing.assert_close(make_kernel("gaussian(sigma=2.0)"), gaussian_kernel(2.0))
    with pytest.raises(ParameterError, match="unknown family"):
        make_kernel("sharpen(amount=2)")
    with pytest.raises(ParameterError, match="cannot parse"):
        parse_kernel_spec("gaussian(sigma=")
    with pytest.raises(ParameterError, match="keyword"):
        parse_kernel_spec("gaussian(2)")
    with pytest.raises(ParameterError, match="bad parameters"):
        make_kernel("gaussian(radius=2)")
