"""Regression tests of issue 10 for the blur engine and spatially varying blur: finite
images, PSF-valued kernels, empty batches and zero-size axes, the padding guard
(docs/input_policy.md)."""

from __future__ import annotations

import pytest
import torch

import blurkit._checks as checks
from blurkit import ParameterError, ShapeError, blur
from blurkit.functional import (
    blur_separable,
    convolve,
    depth_blur,
    depth_defocus,
    product_convolution,
    zoom_blur,
)
from blurkit.kernels import gaussian_kernel

BOX = torch.ones(3, 3) / 9


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_non_finite_images_are_refused(bad, dtype):
    x = torch.rand(2, 3, 8, 8).to(dtype)
    x[1, 2, 3, 4] = bad
    with pytest.raises(ParameterError, match="images: expected finite values, got 1 NaN"):
        blur(x, BOX)
    g = torch.tensor([0.25, 0.5, 0.25])
    with pytest.raises(ParameterError, match="images"):
        blur_separable(x, g, g)


def test_large_finite_values_are_not_mistaken_for_overflow():
    # the fast check sums the image; an overflowing sum falls back to the exact test
    blur(torch.full((1, 1, 4, 4), 3e38), BOX, method="direct")  # finite input is accepted


@pytest.mark.parametrize(
    "k, what",
    [
        (torch.full((3, 3), float("nan")), "finite"),
        (torch.tensor([[0.0, float("inf"), 0.0]]), "finite"),
        (-BOX, "non-negative"),
        (torch.tensor([[0.5, -0.25, 0.75]]), "non-negative"),
        (torch.zeros(3, 3), "positive sum"),
    ],
)
def test_kernels_that_are_no_psf_are_refused(k, what):
    x = torch.rand(1, 1, 8, 8)
    with pytest.raises(ParameterError, match=f"kernels: expected .*{what}"):
        blur(x, k)
    # one bad kernel among good ones is enough
    ks = torch.stack([BOX, torch.zeros(3, 3) if what == "positive sum" else BOX])[:, None]
    if what == "positive sum":
        with pytest.raises(ParameterError, match="positive sum"):
            blur(torch.rand(2, 1, 8, 8), ks)


def test_convolve_takes_signed_filters_as_blur_did():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 12, 10, generator=g, dtype=torch.float64)
    k = torch.randn(1, 1, 3, 5, generator=g, dtype=torch.float64)
    pos, neg = k.clamp_min(0), (-k).clamp_min(0)
    for method in ("direct", "fft", "auto"):
        torch.testing.assert_close(
            convolve(x, k, "reflect", method),
            blur(x, pos, method=method) - blur(x, neg, method=method),
        )


@pytest.mark.parametrize("method", ["auto", "direct", "fft"])
def test_empty_batch_gives_an_empty_result(method):
    x = torch.rand(0, 3, 16, 16, requires_grad=method == "direct")
    for f in (blur, convolve):
        y = f(x, BOX, method=method)
        assert y.shape == x.shape and y.dtype == x.dtype
    g = torch.tensor([0.25, 0.5, 0.25])
    assert blur_separable(x, g, g).shape == x.shape


@pytest.mark.parametrize("shape", [(1, 3, 0, 8), (1, 3, 8, 0), (1, 0, 8, 8), (3, 0, 8)])
def test_zero_size_axes_raise_a_shape_error(shape):
    x = torch.rand(*shape)
    g = torch.tensor([0.25, 0.5, 0.25])
    for call in (lambda: blur(x, BOX), lambda: convolve(x, BOX), lambda: blur_separable(x, g, g)):
        with pytest.raises(ShapeError, match="at least one channel, row and column"):
            call()


def test_padding_of_a_kernel_much_larger_than_the_image_is_guarded(monkeypatch):
    monkeypatch.setattr(checks, "MAX_ALLOC_BYTES", 2**20)
    x = torch.rand(4, 3, 8, 8)
    k = torch.ones(1, 1, 301, 301)
    with pytest.raises(ParameterError, match="kernels: would allocate"):
        blur(x, k, method="fft")
    # what the image itself costs is not limited: a large image with a small kernel passes
    y = blur(torch.rand(2, 3, 256, 256), gaussian_kernel(1.0))
    assert y.shape == (2, 3, 256, 256)


def test_spatial_blur_inputs():
    x = torch.rand(2, 3, 16, 16)
    xn = x.clone()
    xn[0, 0, 0, 0] = float("nan")
    r = torch.rand(1, 1, 16, 16)
    with pytest.raises(ParameterError, match="images"):
        depth_blur(xn, r)
    with pytest.raises(ParameterError, match="radius_map"):
        depth_blur(x, torch.full((1, 1, 16, 16), float("inf")))
    with pytest.raises(ParameterError, match="levels"):
        depth_blur(x, r, levels=10**6)
    with pytest.raises(ParameterError, match="depth"):
        depth_defocus(x, torch.full((1, 1, 16, 16), float("nan")), 0.5, 2.0)
    w = torch.full((1, 2, 16, 16), 0.5)
    k = torch.stack([BOX[None], BOX[None]])
    with pytest.raises(ParameterError, match="weights"):
        product_convolution(x, k, w * float("nan"))
    with pytest.raises(ParameterError, match=r"kernels\[1\]"):
        product_convolution(x, [BOX, -BOX], w)
    with pytest.raises(ParameterError, match="psf"):
        depth_blur(x, r, psf=lambda radii: torch.zeros(radii.shape[0], 1, 3, 3))
    e = x[:0]
    assert depth_blur(e, r).shape == e.shape
    assert depth_defocus(e, r, 0.5, 2.0).shape == e.shape
    assert product_convolution(e, k, w).shape == e.shape
    assert zoom_blur(e, [1.0, 1.1]).shape == e.shape
    with pytest.raises(ShapeError):
        zoom_blur(torch.rand(1, 3, 0, 16), [1.1])


def test_zoom_blur_in_half_precision():
    # found by the property suite: grid_sample has no float16 CPU kernel (NotImplementedError)
    x = torch.rand(2, 3, 12, 12)
    y = zoom_blur(x.half(), [1.0, 1.1, 0.8])
    assert y.dtype == torch.float16
    torch.testing.assert_close(y.float(), zoom_blur(x, [1.0, 1.1, 0.8]), atol=2e-3, rtol=0)
