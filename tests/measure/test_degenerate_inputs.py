"""Issue 10, measures: one rule for degenerate inputs (each failed before the fix)."""

from __future__ import annotations

import math

import pytest
import torch

from blurkit._checks import ParameterError, ShapeError
from blurkit.measure import (
    METRICS,
    blur_effect,
    estimate_blur,
    laplacian_variance,
    psnr,
    radial_power_spectrum,
    spectral_slope,
    ssim,
)


def _nan_image(side=64):
    x = torch.rand(2, 3, side, side)
    x[0, 0, 3, 3] = math.nan
    return x


@pytest.mark.parametrize("family", ["gaussian", "defocus", "motion"])
def test_estimate_blur_on_nan_raises_a_typed_error(family):  # was an IndexError
    with pytest.raises(ParameterError, match="finite"):
        estimate_blur(_nan_image(), family)


@pytest.mark.parametrize("name", list(METRICS))
def test_every_measure_refuses_non_finite_images(name):  # cpbd raised an index error
    with pytest.raises(ParameterError, match="finite"):
        METRICS[name].fn(_nan_image())


def test_full_reference_refuses_non_finite_images():
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(ParameterError, match="y: expected finite"):
        ssim(x, _nan_image(16)[:1, :1])


@pytest.mark.parametrize("name", list(METRICS))
def test_empty_batch_gives_an_empty_result(name):  # RuntimeError (groups / MKL) before
    out = METRICS[name].fn(torch.rand(0, 3, 64, 64))
    assert out.shape == (0,)
    assert METRICS[name].fn(torch.rand(0, 3, 64, 64), reduction="sum") == 0
    with pytest.raises(ShapeError, match="empty batch"):
        METRICS[name].fn(torch.rand(0, 3, 64, 64), reduction="mean")


def test_empty_batch_estimates_and_spectrum():
    assert estimate_blur(torch.rand(0, 1, 32, 32)).shape == (0,)
    motion = estimate_blur(torch.rand(0, 1, 32, 32), "motion")
    assert motion["length"].shape == motion["angle"].shape == (0,)
    f, p = radial_power_spectrum(torch.rand(0, 1, 16, 16))
    assert p.shape == (0, len(f))


def test_zero_size_sides_raise_shape_errors():
    with pytest.raises(ShapeError):
        psnr(torch.rand(1, 1, 0, 4), torch.rand(1, 1, 0, 4))  # was NaN
    with pytest.raises(ShapeError):
        laplacian_variance(torch.rand(1, 1, 0, 8))


def test_half_precision_runs_in_float32():  # a float16 estimate hung in CPU half convolution
    x = torch.rand(1, 1, 32, 32).half()
    assert estimate_blur(x).dtype == torch.float16
    assert spectral_slope(x).dtype == torch.float16  # NotImplementedError before


def test_numeric_options_are_bounded():
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(ParameterError, match="h_size"):
        blur_effect(x, h_size=10**9)  # ran for minutes
    with pytest.raises(ParameterError, match="bins"):
        radial_power_spectrum(x, bins=10**12)  # asked for 8 TB
    with pytest.raises(ParameterError, match="bins"):
        radial_power_spectrum(x, bins=-1)  # IndexError
    with pytest.raises(ParameterError, match="data_range"):
        ssim(x, x, data_range=1e300)  # NaN
