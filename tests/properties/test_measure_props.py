"""Properties of every registered measure, the full-reference ones and the blur estimate:
hostile images raise only BlurkitError subclasses; clean images give finite values of the
right shape (issue 10 item 5)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from blurkit._checks import BlurkitError
from blurkit.measure import (
    FAMILIES,
    METRICS,
    estimate_blur,
    ms_ssim,
    psnr,
    radial_power_spectrum,
    ssim,
)

from ._strategies import images

REDUCTIONS = st.sampled_from(("none", "mean", "sum"))


def _check(fn, x, clean, batch_shape):
    try:
        out = fn(x)
    except BlurkitError:
        return
    outs = list(out.values()) if isinstance(out, dict) else [out]
    for o in outs:
        if batch_shape is not None:
            assert o.shape == batch_shape
        if clean:
            assert bool(torch.isfinite(o).all()), (o, x.shape, x.dtype)


@pytest.mark.parametrize("name", list(METRICS))
@given(data=images(), reduction=REDUCTIONS)
def test_registered_measures(name, data, reduction):
    x, clean = data
    fn = METRICS[name].fn
    shape = (x.shape[0],) if reduction == "none" else ()
    _check(lambda t: fn(t, reduction=reduction), x, clean, shape)


@pytest.mark.parametrize("fn", [psnr, ssim, ms_ssim], ids=["psnr", "ssim", "ms_ssim"])
@given(
    data=images(), reduction=REDUCTIONS, data_range=st.sampled_from([1.0, 255.0, 0.0, -1.0, 1e300])
)
def test_full_reference(fn, data, reduction, data_range):
    x, clean = data
    y = (x * 0.9 + 0.05).to(x.dtype) if clean else x.flip(0)
    shape = (x.shape[0],) if reduction == "none" else ()
    # psnr of two equal images is +inf by definition; 0.9 x + 0.05 differs from x
    _check(lambda t: fn(t, y, data_range=data_range, reduction=reduction), x, clean, shape)


@pytest.mark.parametrize("family", FAMILIES)
@given(data=images(max_side=40))
def test_estimate_blur(family, data):
    x, clean = data
    _check(lambda t: estimate_blur(t, family), x, clean, (x.shape[0],))


@given(data=images(), bins=st.one_of(st.none(), st.integers(-2, 10**9)))
def test_radial_power_spectrum(data, bins):
    x, clean = data
    _check(lambda t: radial_power_spectrum(t, bins=bins)[1], x, clean, None)
