"""Issue 10, deblurrers and random blur: one rule for degenerate inputs (each failed before)."""

from __future__ import annotations

import math

import pytest
import torch

from blurkit._checks import DTypeError, ParameterError, ShapeError
from blurkit.defenses import RandomGaussianBlur
from blurkit.defenses.augment import RandomBlur, RandomBlurTransform
from blurkit.defenses.deblur import (
    DeblurNet,
    blind_deblur,
    hyper_laplacian_deconv,
    richardson_lucy,
    tv_deconv,
    wiener,
)
from blurkit.kernels import gaussian_kernel

DECONV = {
    "wiener": wiener,
    "rl": lambda x, k: richardson_lucy(x, k, 3),
    "tv": tv_deconv,
    "hyper_laplacian": hyper_laplacian_deconv,
}
BAD = {
    "nan": torch.full((5, 5), math.nan),
    "inf": torch.full((5, 5), math.inf),
    "negative": -gaussian_kernel(1.0),
    "zero": torch.zeros(5, 5),
}


@pytest.mark.parametrize("method", list(DECONV))
@pytest.mark.parametrize("bad", list(BAD))
def test_bad_kernels_raise_instead_of_nan_images(method, bad):  # all-NaN images before
    with pytest.raises(ParameterError, match="kernels"):
        DECONV[method](torch.rand(1, 3, 16, 16), BAD[bad])


@pytest.mark.parametrize("method", list(DECONV))
def test_unnormalised_kernels_are_normalised(method):
    x, k = torch.rand(1, 1, 16, 16), gaussian_kernel(1.0)
    torch.testing.assert_close(DECONV[method](x, k * 25), DECONV[method](x, k))


@pytest.mark.parametrize("method", list(DECONV))
def test_non_finite_images_empty_batches_and_zero_sides(method):
    k = gaussian_kernel(1.0)
    x = torch.rand(1, 1, 16, 16)
    x[0, 0, 0, 0] = math.nan
    with pytest.raises(ParameterError, match="finite"):
        DECONV[method](x, k)
    assert DECONV[method](torch.rand(0, 3, 16, 16), k).shape == (0, 3, 16, 16)  # MKL error
    # found by the thorough profile: an even kernel on an empty batch (0 conv groups)
    assert DECONV[method](torch.rand(0, 1, 4, 4), torch.ones(1, 2)).shape == (0, 1, 4, 4)
    with pytest.raises(ShapeError):
        DECONV[method](torch.rand(1, 3, 0, 16), k)  # index_select error


def test_wiener_inverse_filter_stays_finite():  # balance=0 on a box kernel gave 0/0
    box = torch.ones(4, 4)
    y = wiener(torch.rand(1, 1, 16, 16), box, 0.0, reg="identity", boundary="circular")
    assert bool(torch.isfinite(y).all())


def test_iterations_are_capped():  # num_iter=1e9 and beta_rate=1+1e-7 ran for days
    x, k = torch.rand(1, 1, 8, 8), gaussian_kernel(1.0)
    with pytest.raises(ParameterError, match="num_iter"):
        richardson_lucy(x, k, 10**9)
    with pytest.raises(ParameterError, match="iterations"):
        hyper_laplacian_deconv(x, k, beta_rate=1.0000001)
    with pytest.raises(ParameterError, match="inner_iter"):
        hyper_laplacian_deconv(x, k, inner_iter=10**9)
    with pytest.raises(ParameterError, match="beta_max"):
        hyper_laplacian_deconv(x, k, beta_max=1e300)  # NaN images before


def test_blind_and_learned_edge_cases():
    assert blind_deblur(torch.rand(0, 1, 32, 32)).shape == (0, 1, 32, 32)
    with pytest.raises(ParameterError, match="finite"):
        blind_deblur(torch.full((1, 1, 32, 32), math.nan), "defocus")  # IndexError before
    with pytest.raises(ParameterError, match="shrink"):
        blind_deblur(torch.rand(1, 1, 32, 32), shrink=1e300)
    net = DeblurNet(width=4)
    for dt in (torch.float16, torch.float64):  # dtype mismatch RuntimeError before
        assert net(torch.rand(1, 3, 8, 8, dtype=dt)).dtype == dt
    with pytest.raises(ShapeError):
        net(torch.rand(1, 3, 0, 8))


@pytest.mark.parametrize(
    "make",
    [
        lambda s: RandomBlur({"gaussian": (0.5, 2.0)}, p=1.0, seed=s),
        lambda s: RandomBlurTransform(p=1.0, families={"gaussian": (0.5, 2.0)}, seed=s),
        lambda s: RandomGaussianBlur(p=1.0, seed=s),
    ],
)
def test_seeds_follow_the_seed_rule(make):
    x = torch.rand(2, 3, 8, 8)
    # 2**70 raised "Overflow when unpacking long long"; it folds to 2**70 % 2**64
    torch.testing.assert_close(make(2**70)(x), make(2**70 % 2**64)(x), rtol=0, atol=0)
    for bad in ("a", [], [1, 2, 3], 1.5, True):
        with pytest.raises(DTypeError, match="seed"):
            make(bad)
    with pytest.raises(ParameterError, match="seed"):
        make(-1)


def test_random_blur_refuses_non_finite_images_and_zero_sides():
    aug = RandomBlur({"gaussian": (0.5, 2.0)}, p=1.0, seed=0)
    with pytest.raises(ParameterError, match="finite"):
        aug(torch.full((1, 1, 8, 8), math.nan))  # NaN passed through before
    with pytest.raises(ShapeError):
        aug(torch.rand(1, 1, 0, 8))  # index_select RuntimeError before
    y = aug(torch.ones(2, 1, 8, 8))
    assert float(y.max()) <= 1.0
