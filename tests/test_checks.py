"""The one dtype, size, finite and kernel-value rule of blurkit._checks."""

import pytest
import torch

from blurkit import _checks
from blurkit._checks import (
    ParameterError,
    ShapeError,
    check_finite,
    check_images,
    check_kernel_values,
    check_psf,
    check_size,
    common_dtype,
    trusted_values,
)
from blurkit.kernels import disk_kernel, motion_kernel, scatter_kernel
from blurkit.kernels._utils import odd_size


def test_common_dtype_promotes_whatever_the_order():
    f32, f64 = torch.tensor([1.0]), torch.tensor([1.0], dtype=torch.float64)
    assert common_dtype(f32, f64) == common_dtype(f64, f32) == torch.float64
    assert (
        common_dtype(
            torch.tensor([1.0], dtype=torch.float16), torch.tensor([1.0], dtype=torch.bfloat16)
        )
        == torch.float32
    )
    assert common_dtype(1.0, torch.tensor([2])) == torch.float32
    assert common_dtype(f64, dtype=torch.float16) == torch.float16
    assert common_dtype(dtype=torch.int64) == torch.float32


def test_builders_share_the_dtype_rule():
    # motion used to take the first floating parameter, defocus promoted: now both promote
    f32, f64 = torch.tensor([3.0]), torch.tensor([30.0], dtype=torch.float64)
    assert motion_kernel(f32, f64).dtype == torch.float64
    assert disk_kernel(f64).dtype == torch.float64
    assert (
        scatter_kernel(torch.tensor([0.2]), torch.tensor([4.0], dtype=torch.float64)).dtype
        == torch.float64
    )


def test_size_rule_is_one_message():
    with pytest.raises(ParameterError, match="expected a positive odd integer, got 8"):
        motion_kernel(3.0, 0.0, size=8)
    with pytest.raises(ParameterError, match="expected a positive odd integer, got 8"):
        scatter_kernel(0.1, 3.0, size=8)
    # the derived size reports the same limit as a given one
    with pytest.raises(
        ParameterError, match=r"radius: the kernel would be \d+x\d+ pixels \(limit 1025\)"
    ):
        odd_size(600.0, "radius")
    with pytest.raises(
        ParameterError, match=r"size: the kernel would be 1027x1027 pixels \(limit 1025\)"
    ):
        check_size(1027)


def test_finite_rule_counts_and_is_skipped_when_trusted():
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, :2] = float("nan")
    with pytest.raises(
        ParameterError,
        match=r"depth: expected finite values, got 2 NaN or infinite value\(s\) among 16",
    ):
        check_finite(x, "depth")
    with trusted_values():
        assert check_finite(x) is x
    # overflowing sum of finite values is not an error (the exact count decides)
    big = torch.full((4,), 6e4, dtype=torch.float16)
    assert check_finite(big) is big


def test_one_finite_rule():
    # the former names of the finite rule are gone: one name, one rule
    for old in ("check_image_values", "check_finite_image", "check_nonempty_image"):
        assert not hasattr(_checks, old)


def test_empty_channel_axis_is_refused():
    with pytest.raises(ShapeError, match="at least one channel, row and column"):
        check_images(torch.zeros(2, 0, 4, 4))
    from blurkit.measure import laplacian_variance

    with pytest.raises(ShapeError, match="at least one channel, row and column"):
        from blurkit.defenses.deblur import wiener

        wiener(torch.zeros(1, 0, 8, 8), torch.ones(3, 3) / 9)
    assert laplacian_variance(torch.rand(0, 1, 8, 8), reduction="none").shape == (0,)


def test_kernel_value_rule_and_psf_normalisation():
    with pytest.raises(ParameterError, match="positive sum, got a kernel summing to 0"):
        check_kernel_values(torch.zeros(1, 1, 3, 3))
    with pytest.raises(ParameterError, match="positive sum, got a kernel summing to inf"):
        check_kernel_values(torch.full((1, 1, 3, 3), 3e38))
    with pytest.raises(ParameterError, match="non-negative"):
        check_psf(torch.tensor([[[[1.0, -0.5, 1.0]]]]))
    k = check_psf(torch.ones(2, 1, 3, 3))
    assert torch.allclose(k.sum((-2, -1)), torch.ones(2, 1))
    with trusted_values():  # the check is skipped, the normalisation is not
        assert float(check_psf(torch.full((1, 1, 2, 2), 2.0)).sum()) == 1.0
