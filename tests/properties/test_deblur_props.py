"""Properties of the deblurrers: hostile images, kernels and options raise only BlurkitError
subclasses; clean images with valid kernels give finite images of the input's shape and
dtype (issue 10 item 5)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from blurkit._checks import BlurkitError
from blurkit.defenses.deblur import (
    DeblurNet,
    blind_deblur,
    hyper_laplacian_deconv,
    richardson_lucy,
    tv_deconv,
    wiener,
)

from ._strategies import images

BAD_KERNELS = ("nan", "inf", "negative", "zeros", "huge")


@st.composite
def kernels(draw):
    """A ``(kh, kw)`` kernel (odd or even sides 1-7): random non-negative, or a hostile one."""
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**31))
    k = torch.rand(kh, kw, generator=torch.Generator().manual_seed(seed)) + 1e-3
    kind = draw(st.sampled_from((None, None, None, *BAD_KERNELS)))
    if kind == "nan":
        k[0, 0] = math.nan
    elif kind == "inf":
        k[-1, -1] = math.inf
    elif kind == "negative":
        k[0, 0] = -1.0
    elif kind == "zeros":
        k.zero_()
    elif kind == "huge":
        k = k * 1e30  # finite: normalised to sum 1 by the kernel rule
    return k, kind in (None, "huge")


METHODS = {
    "wiener": lambda x, k, n: wiener(x, k, balance=[0.0, 1e-3, 5e-3][n % 3]),
    "rl": lambda x, k, n: richardson_lucy(x, k, n),
    "tv": lambda x, k, n: tv_deconv(x, k, beta_max=8.0),
    "hyper_laplacian": lambda x, k, n: hyper_laplacian_deconv(x, k, beta_max=8.0),
}


def _check(fn, x, clean):
    try:
        out = fn()
    except BlurkitError:
        return
    assert out.shape == x.shape and out.dtype == x.dtype
    if clean and out.numel():
        assert bool(torch.isfinite(out).all())
        assert float(out.min()) >= 0 and float(out.max()) <= 1  # clip=True by default


@pytest.mark.parametrize("method", list(METHODS))
@given(data=images(max_side=24), kernel=kernels(), n=st.integers(0, 4))
def test_nonblind(method, data, kernel, n):
    (x, clean), (k, k_ok) = data, kernel
    _check(lambda: METHODS[method](x, k, n), x, clean and k_ok)


@given(
    n=st.one_of(st.integers(-3, 10**12), st.floats(allow_nan=True), st.just("3")),
    beta_rate=st.one_of(st.floats(0.5, 4.0), st.just(1.0 + 1e-9)),
    beta_max=st.one_of(st.floats(-1, 1e300), st.just(math.inf)),
    inner=st.integers(-1, 10**10),
    lam=st.one_of(st.floats(-1, 1e300), st.just(1e-45)),
)
def test_iterations_and_weights_are_bounded(n, beta_rate, beta_max, inner, lam):
    x, k = torch.rand(1, 1, 8, 8), torch.ones(3, 3)
    _check(lambda: richardson_lucy(x, k, n), x, True)
    _check(
        lambda: hyper_laplacian_deconv(
            x, k, lam, beta_rate=beta_rate, beta_max=beta_max, inner_iter=inner
        ),
        x,
        True,
    )


@pytest.mark.parametrize("family", ["gaussian", "defocus", "motion"])
@given(data=images(max_side=40), shrink=st.sampled_from([0.9, 0.0, -1.0, 1e300, math.nan]))
def test_blind(family, data, shrink):
    x, clean = data
    _check(lambda: blind_deblur(x, family, shrink=shrink), x, clean)


NET = DeblurNet(width=4)


@given(data=images(max_side=32))
def test_learned(data):
    x, clean = data
    with torch.no_grad():
        _check(lambda: NET(x), x, clean)
