"""Property tests of the blur engine (:func:`blurkit.blur`, ``blur_separable``, ``convolve``)
and the per-family blur functions built on it.

For any images (1x1 to 24x24, 1-4 channels, empty batches, float16/32/64, sometimes a NaN or
infinite pixel) and any kernels (ordinary PSFs, or NaN, negative, all-zero, mis-shaped):
only :class:`~blurkit.BlurkitError` subclasses escape; a result has the input's shape and
dtype; finite input with a PSF gives finite output, and a normalised PSF keeps every pixel
within the image's range (a convex combination of its pixels) for the boundaries that
only reuse image pixels.
"""

from __future__ import annotations

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from blurkit import blur
from blurkit.functional import BOUNDARIES, blur_separable, convolve, zoom_blur
from blurkit.kernels import defocus_blur, gaussian_blur, motion_blur

from ._blur_api_strategies import images, only_typed_errors, param

BOUNDARY = st.sampled_from([*BOUNDARIES, *BOUNDARIES, "mirror", None])
METHOD = st.sampled_from(["auto", "auto", "direct", "fft", "opencv", "magic"])


@st.composite
def kernels(draw, batch: int, channels: int):
    """``(kernel, is_psf)``: mostly non-negative kernels of a fitting shape, else hostile."""
    kb = draw(st.sampled_from([1, 1, batch, batch + 1]))
    kc = draw(st.sampled_from([1, 1, channels, channels + 2]))
    kh, kw = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    rank = draw(st.sampled_from([2, 4, 4, 4, 3, 5]))
    seed = draw(st.integers(0, 2**31))
    k = torch.rand(kb, kc, kh, kw, generator=torch.Generator().manual_seed(seed))
    kind = draw(st.sampled_from(["psf"] * 6 + ["sparse", "nan", "inf", "negative", "zero"]))
    if kind == "sparse":
        k = k * (k > 0.8)
        k.view(-1)[:: kh * kw] = 1.0  # never all zero
    elif kind == "nan":
        k.view(-1)[0] = math.nan
    elif kind == "inf":
        k.view(-1)[-1] = math.inf
    elif kind == "negative":
        k.view(-1)[0] = -0.5
    elif kind == "zero":
        k[0, 0] = 0.0
    if draw(st.booleans()):
        k = k / k.sum((-2, -1), keepdim=True).clamp_min(1e-12)
    if rank == 2:
        k = k[0, 0]
    elif rank == 3:
        k = k[:, 0]
    elif rank == 5:
        k = k[None]
    k = k.to(draw(st.sampled_from([torch.float16, torch.float32, torch.float64])))
    return k, _is_psf(k)


def _is_psf(k: torch.Tensor) -> bool:
    """Finite, non-negative and no all-zero kernel (what the engine must refuse otherwise);
    judged on the final tensor, since dropping axes may drop the poisoned kernel."""
    f = k.double().reshape(-1, k.shape[-2] * k.shape[-1])
    return bool(torch.isfinite(f).all() and (f >= 0).all() and (f.sum(-1) > 0).all())


def _same_layout(x: torch.Tensor, y: torch.Tensor) -> None:
    assert isinstance(y, torch.Tensor)
    assert y.shape == x.shape and y.dtype == x.dtype, (tuple(x.shape), x.dtype, y.shape, y.dtype)


def _in_range(x: torch.Tensor, y: torch.Tensor, boundary: str) -> None:
    if x.numel() == 0 or boundary == "zeros":
        return
    tol = 2e-2 if x.dtype in (torch.float16, torch.bfloat16) else 1e-4
    lo, hi = float(x.min()), float(x.max())
    assert float(y.min()) >= lo - tol and float(y.max()) <= hi + tol


@given(data=st.data(), image=images())
def test_blur(data, image):
    x, finite = image
    k, is_psf = data.draw(kernels(max(x.shape[0], 1), x.shape[1]), label="kernels")
    boundary = data.draw(BOUNDARY, label="boundary")
    method = data.draw(METHOD, label="method")
    y = only_typed_errors(lambda: blur(x, k, boundary, method))
    if y is None:
        return
    assert finite and is_psf, "a non-finite image or a kernel that is no PSF was accepted"
    _same_layout(x, y)
    assert torch.isfinite(y).all()
    kn = k if k.ndim != 2 else k[None, None]
    if bool(((kn.double().sum((-2, -1)) - 1).abs() < 1e-2).all()):
        _in_range(x, y, boundary)


@given(data=st.data(), image=images())
def test_convolve_and_separable(data, image):
    x, finite = image
    b, c = max(x.shape[0], 1), x.shape[1]
    k, _ = data.draw(kernels(b, c), label="kernels")
    boundary = data.draw(BOUNDARY, label="boundary")
    y = only_typed_errors(lambda: convolve(x, k, boundary))
    if y is not None:
        _same_layout(x, y)
        if finite and bool(torch.isfinite(k).all()) and x.dtype != torch.float16:
            assert torch.isfinite(y).all()
    n = data.draw(st.integers(1, 7), label="taps")
    g = torch.rand(data.draw(st.sampled_from([1, b])), n, dtype=torch.float64) + 0.01
    gy = g / g.sum(-1, keepdim=True)
    y = only_typed_errors(lambda: blur_separable(x, gy, gy, boundary))
    if y is not None:
        assert finite
        _same_layout(x, y)
        assert torch.isfinite(y).all()
        _in_range(x, y, boundary)


FUNCTIONS = st.sampled_from(["gaussian", "defocus", "motion", "zoom"])


@given(data=st.data(), image=images(height=st.integers(1, 20), width=st.integers(1, 20)))
def test_blur_functions(data, image):
    x, finite = image
    which = data.draw(FUNCTIONS, label="function")
    if which == "gaussian":
        call = lambda: gaussian_blur(x, data.draw(param(0, 5), label="sigma"))  # noqa: E731
    elif which == "defocus":
        call = lambda: defocus_blur(x, data.draw(param(0, 6), label="radius"))  # noqa: E731
    elif which == "motion":
        length, angle = data.draw(param(0, 12), label="length"), data.draw(param(-1e3, 1e3))
        call = lambda: motion_blur(x, length, angle)  # noqa: E731
    else:
        factors = data.draw(
            st.one_of(st.lists(param(0.5, 2, tensors=False), max_size=4), param(0.5, 2)),
            label="factors",
        )
        call = lambda: zoom_blur(x, factors)  # noqa: E731
    y = only_typed_errors(call)
    if y is None:
        return
    assert finite, "a non-finite image was accepted"
    _same_layout(x, y)
    assert torch.isfinite(y).all()
    _in_range(x, y, "reflect")
