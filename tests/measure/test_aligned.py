"""The shift-tolerant evaluation protocol (Levin et al. 2009's comp_upto_shift)."""

from __future__ import annotations

import pytest
import torch

from blurkit._checks import ShapeError
from blurkit.measure import compare_up_to_shift, error_ratio, psnr, ssim


def test_known_shift_is_found_and_scores_exact():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 48, 40, generator=g, dtype=torch.float64)
    moved = torch.stack([torch.roll(x[0], (3, -2), (-2, -1)), torch.roll(x[1], (-1, 4), (-2, -1))])
    r = compare_up_to_shift(moved, x, max_shift=5, border=8)
    assert r.shift.tolist() == [[3, -2], [-1, 4]]
    assert torch.isinf(r.psnr).all() and torch.allclose(r.ssim, torch.ones(2, dtype=x.dtype))
    assert (r.ssd == 0).all()


def test_psnr_and_ssim_on_the_cropped_window():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, 40, 40, generator=g, dtype=torch.float64)
    y = (x + 0.05 * torch.randn(x.shape, generator=g, dtype=x.dtype)).clamp(0, 1)
    r = compare_up_to_shift(y, x, max_shift=0, border=6)
    crop = (slice(None), slice(None), slice(6, 34), slice(6, 34))
    torch.testing.assert_close(r.psnr, psnr(y[crop], x[crop]))
    torch.testing.assert_close(r.ssim, ssim(y[crop], x[crop]))
    # a shift can only lower the SSD
    assert compare_up_to_shift(y, x, max_shift=3, border=6).ssd <= r.ssd


def test_single_image_and_error_ratio():
    x = torch.rand(1, 32, 32)
    r = compare_up_to_shift(torch.roll(x, 1, -1), x, border=6, max_shift=2)
    assert r.psnr.ndim == 0 and r.shift.tolist() == [0, 1]
    e = error_ratio(x + 0.03, torch.roll(x, 2, -2) + 0.01, x, border=6, max_shift=2)
    assert abs(float(e) - 9.0) < 1e-3


def test_bad_input_is_typed():
    x = torch.rand(1, 1, 32, 32)
    with pytest.raises(ShapeError, match="border"):
        compare_up_to_shift(x, x, max_shift=5, border=3)
    with pytest.raises(ShapeError, match="window"):
        compare_up_to_shift(x, x, border=15)
    with pytest.raises(ShapeError):
        compare_up_to_shift(x, torch.rand(1, 1, 30, 32), border=6)


def test_levin_capture_is_the_correlation_of_the_sharp_image(shared_data):
    # the data convention: y is x correlated with f (convolved with f rotated by 180)
    from scipy.io import loadmat

    from blurkit import blur

    d = loadmat(shared_data("levin", "im01_ker01.mat"))
    x = torch.from_numpy(d["x"]).double()[None, None]
    y = torch.from_numpy(d["y"]).double()[None, None]
    f = torch.from_numpy(d["f"]).double()[None, None]
    rotated = compare_up_to_shift(blur(x, f.flip(-2, -1)), y).psnr
    as_is = compare_up_to_shift(blur(x, f), y).psnr
    assert rotated > 38 and rotated > as_is + 3
