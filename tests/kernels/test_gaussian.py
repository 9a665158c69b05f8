"""Gaussian PSFs: the shared operator checks plus pins against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blurkit import DTypeError, ParameterError, blur
from blurkit.kernels import (
    GaussianBlur,
    anisotropic_gaussian_kernel,
    gaussian_blur,
    gaussian_kernel,
    gaussian_kernel1d,
    generalized_gaussian_kernel,
)


def _hf_energy(x: torch.Tensor) -> torch.Tensor:
    f = torch.fft.fft2(x).abs() ** 2
    h, w = x.shape[-2:]
    fy = torch.fft.fftfreq(h).abs()[:, None]
    fx = torch.fft.fftfreq(w).abs()[None, :]
    return (f * ((fy > 0.25) | (fx > 0.25))).sum((-2, -1)).mean(-1)


@pytest.mark.parametrize(
    "build",
    [
        lambda s: gaussian_kernel(s, dtype=torch.float64),
        lambda s: anisotropic_gaussian_kernel(s, s / 2, 30.0, dtype=torch.float64),
        lambda s: generalized_gaussian_kernel(s, 1.5, dtype=torch.float64),
    ],
)
def test_kernels_nonnegative_sum_to_one(build):
    k = build(torch.tensor([0.3, 1.0, 2.5], dtype=torch.float64))
    assert k.shape[:2] == (3, 1) and k.shape[-1] % 2 == 1
    assert (k >= 0).all()
    torch.testing.assert_close(k.sum((-2, -1)), torch.ones(3, 1, dtype=torch.float64))


def test_matches_scipy_gaussian_filter():
    from scipy import ndimage

    x = torch.rand(1, 1, 40, 33, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for sigma in (0.7, 1.0, 2.0, 3.3):
        ours = gaussian_blur(x, sigma, boundary="replicate")[0, 0].numpy()
        ref = ndimage.gaussian_filter(x[0, 0].numpy(), sigma, mode="nearest", truncate=4.0)
        np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_anisotropic_reduces_to_isotropic_and_rotates():
    iso = gaussian_kernel(2.0, size=17, dtype=torch.float64)
    an = anisotropic_gaussian_kernel(2.0, 2.0, 37.0, size=17, dtype=torch.float64)
    torch.testing.assert_close(iso, an)
    k0 = anisotropic_gaussian_kernel(3.0, 1.0, 0.0, size=21, dtype=torch.float64)
    k90 = anisotropic_gaussian_kernel(3.0, 1.0, 90.0, size=21, dtype=torch.float64)
    torch.testing.assert_close(k0[0, 0].T, k90[0, 0])
    # 45 degrees: elongated along the rising diagonal (up-right), i.e. row index decreases as x grows
    k45 = anisotropic_gaussian_kernel(4.0, 0.5, 45.0, size=21, dtype=torch.float64)[0, 0]
    assert k45[10 - 5, 10 + 5] > 10 * k45[10 + 5, 10 + 5]


def test_generalized_beta_two_is_gaussian():
    torch.testing.assert_close(
        generalized_gaussian_kernel(1.7, 2.0, size=15, dtype=torch.float64),
        gaussian_kernel(1.7, size=15, dtype=torch.float64),
    )


def test_gaussian_blur_equals_2d_kernel_and_module():
    x = torch.rand(3, 3, 24, 24, dtype=torch.float64)
    s = torch.tensor([0.5, 1.5, 2.5], dtype=torch.float64)
    a = gaussian_blur(x, s)
    b = blur(x, gaussian_kernel(s))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(GaussianBlur(1.5)(x[1:2]), gaussian_blur(x[1:2], 1.5))
    for i in range(3):  # batch equals a loop over single samples, whatever the batchmates
        torch.testing.assert_close(a[i], gaussian_blur(x[i], float(s[i])), atol=1e-12, rtol=0)


def test_gradcheck_sigma():
    x = torch.rand(2, 1, 9, 9, dtype=torch.float64)
    s = torch.tensor([0.8, 1.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: blur(x, gaussian_kernel(t, size=9)), (s,))
    sx = torch.tensor([1.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: anisotropic_gaussian_kernel(t, 0.7, 20.0, size=7), (sx,)
    )
    be = torch.tensor([1.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: generalized_gaussian_kernel(1.0, t, size=7), (be,))


def test_high_frequency_energy_falls_monotonically():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 64, 64, generator=g)
    energies = [float(_hf_energy(gaussian_blur(x, s))) for s in (0.3, 0.6, 1.0, 1.5, 2.5, 4.0)]
    assert all(a > b for a, b in zip(energies, energies[1:]))


def test_sigma_zero_is_identity_and_errors():
    x = torch.rand(1, 3, 10, 10)
    torch.testing.assert_close(gaussian_blur(x, 0.0), x)
    assert gaussian_kernel1d(0.0).shape == (1, 1)
    with pytest.raises(ParameterError, match="sigma"):
        gaussian_kernel(-1.0)
    with pytest.raises(ParameterError, match="sigma"):
        gaussian_kernel(float("nan"))
    with pytest.raises(ParameterError, match="sigma"):
        gaussian_kernel(1e6)  # absurd: the kernel would be enormous
    with pytest.raises(DTypeError, match="sigma"):
        gaussian_kernel("big")
    with pytest.raises(ParameterError, match="beta"):
        generalized_gaussian_kernel(1.0, 0.0)
