"""Zernike / eye PSFs: diffraction limit (Airy), geometric limit, orientation, gradients, tiers."""

from __future__ import annotations

import math

import pytest
import torch

from blurkit import DTypeError, ParameterError, ShapeError, blur
from blurkit.kernels import (
    AstigmatismBlur,
    MyopiaBlur,
    astigmatism_blur,
    astigmatism_kernel,
    make_kernel,
    myopia_blur,
    myopia_kernel,
    zernike_index,
    zernike_polynomial,
    zernike_psf,
)

ARCMIN = math.pi / (180 * 60)


def _moments(k: torch.Tensor) -> tuple[float, float, float]:
    """Second moments (xx, yy, xy) in pixels^2 of a (kh, kw) kernel, y up."""
    n = k.shape[-1]
    c = (torch.arange(n) - n // 2).to(k.dtype)
    yy, xx = torch.meshgrid(-c, c, indexing="ij")
    return float((k * xx * xx).sum()), float((k * yy * yy).sum()), float((k * xx * yy).sum())


def _high_freq_energy(x: torch.Tensor) -> float:
    f = torch.fft.fftshift(torch.fft.fft2(x - x.mean((-2, -1), keepdim=True)), dim=(-2, -1))
    h, w = x.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    return float((f.abs() ** 2 * ((yy.abs() > h // 8) | (xx.abs() > w // 8))).sum())


def test_zernike_polynomials_are_orthonormal():
    # OSA normalisation: unit RMS and orthogonality over the unit disk (midpoint rule)
    t = (torch.arange(200, dtype=torch.float64) + 0.5) / 100 - 1
    y, x = torch.meshgrid(t, t, indexing="ij")
    rho, th = torch.hypot(x, y), torch.atan2(y, x)
    inside = rho <= 1
    zs = torch.stack([zernike_polynomial(j, rho, th)[inside] for j in range(1, 15)])
    gram = zs @ zs.T / inside.sum()
    torch.testing.assert_close(gram, torch.eye(14, dtype=torch.float64), atol=2e-2, rtol=0)
    assert [zernike_index(j) for j in (7, 8, 12)] == [(3, -1), (3, 1), (4, 0)]


def test_smoke_shapes_sum_nonneg_rgb():
    k = zernike_psf(
        {"defocus": torch.tensor([0.0, 0.3]), "spherical": 0.05}, wavelength_nm="rgb", size=15
    )
    assert k.shape == (2, 3, 15, 15) and k.dtype == torch.float32
    assert (k >= 0).all()
    torch.testing.assert_close(k.sum((-2, -1)), torch.ones(2, 3))
    k64 = zernike_psf(torch.zeros(1, 5, dtype=torch.float64), size=9)
    assert k64.dtype == torch.float64 and k64.shape == (1, 1, 9, 9)


def test_diffraction_limit_is_airy():
    scipy_special = pytest.importorskip("scipy.special")
    scale, d_mm, lam_nm = 0.05, 4.0, 550.0
    k = zernike_psf(
        torch.zeros(1, 1, dtype=torch.float64),
        wavelength_nm=lam_nm,
        pupil_diameter_mm=d_mm,
        pixel_scale_arcmin=scale,
        size=41,
    )[0, 0]
    c = torch.arange(41, dtype=torch.float64) - 20
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    v = math.pi * d_mm * 1e-3 * torch.hypot(xx, yy) * scale * ARCMIN / (lam_nm * 1e-9)
    v = v.clamp_min(1e-12)
    airy = (2 * torch.from_numpy(scipy_special.j1(v.numpy())) / v) ** 2
    airy = airy / airy.sum()
    torch.testing.assert_close(k / k.max(), airy / airy.max(), atol=2e-2, rtol=0)


def test_large_defocus_matches_geometric_blur_disk():
    # geometric optics: a uniform disk of angular radius D * R; second moment r^2 / 4 per axis
    for diopters in (1.0, 2.0):
        k = myopia_kernel(diopters, 4.0, pixel_scale_arcmin=1.0, dtype=torch.float64)[0, 0]
        r_px = diopters * 2e-3 / ARCMIN
        mxx, myy, mxy = _moments(k)
        assert mxx == pytest.approx(r_px**2 / 4, rel=0.05)
        assert myy == pytest.approx(mxx, rel=1e-6) and abs(mxy) < 1e-6


def test_myopia_widens_with_diopters_and_is_sign_symmetric():
    d = torch.tensor([0.0, 0.25, 0.5, 1.0, 2.0])
    k = myopia_kernel(d)
    widths = [_moments(k[i, 0])[0] for i in range(5)]
    assert all(a < b for a, b in zip(widths, widths[1:], strict=False)), widths
    torch.testing.assert_close(myopia_kernel(-1.0), myopia_kernel(1.0), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "axis,direction", [(0.0, "y"), (180.0, "y"), (90.0, "x"), (45.0, "anti"), (135.0, "diag")]
)
def test_astigmatism_elongates_perpendicular_to_axis(axis, direction):
    k = astigmatism_kernel(-2.0, axis, dtype=torch.float64)[0, 0]
    mxx, myy, mxy = _moments(k)
    major = {"x": mxx, "y": myy, "diag": (mxx + myy) / 2 + mxy, "anti": (mxx + myy) / 2 - mxy}
    minor = {"x": myy, "y": mxx, "diag": (mxx + myy) / 2 - mxy, "anti": (mxx + myy) / 2 + mxy}
    assert major[direction] > 10 * minor[direction]


def test_positive_tilt_moves_psf_towards_plus_x_and_up():
    kx = zernike_psf(tilt_x=0.5, size=21, dtype=torch.float64)[0, 0]
    ky = zernike_psf(tilt_y=0.5, size=21, dtype=torch.float64)[0, 0]
    c = torch.arange(21, dtype=torch.float64) - 10
    # tilt 2 c rho cos(theta) -> ray angle 2 c / R = 0.5 mrad = 1.72 arcmin
    assert float((kx.sum(0) * c).sum()) == pytest.approx(1.72, abs=0.15)
    assert float((ky.sum(1) * -c).sum()) == pytest.approx(1.72, abs=0.15)


def test_gradcheck_coefficients():
    c = torch.tensor([0.2, 0.35], dtype=torch.float64, requires_grad=True)
    s = torch.tensor([0.05], dtype=torch.float64, requires_grad=True)

    def f(defocus, spherical):
        return zernike_psf(defocus=defocus, spherical=spherical, pupil_diameter_mm=2.0, size=5)

    assert torch.autograd.gradcheck(f, (c, s), atol=1e-6)
    d = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: myopia_kernel(t, 2.0, size=5), (d,), atol=1e-6)


def test_typed_errors():
    with pytest.raises(ParameterError, match="pupil_diameter_mm"):
        myopia_kernel(1.0, 0.0)
    with pytest.raises(ParameterError, match="diopters"):
        myopia_kernel(100.0)
    with pytest.raises(ParameterError, match="wavelength_nm"):
        zernike_psf(defocus=0.1, wavelength_nm="blue")
    with pytest.raises(ParameterError, match="unknown name"):
        zernike_psf(defocusing=0.1)
    with pytest.raises(ParameterError, match="zernike"):
        zernike_psf(defocus=500.0)  # the kernel would exceed the size limit
    with pytest.raises(DTypeError, match="coefficients"):
        zernike_psf([0.1, 0.2])
    with pytest.raises(ShapeError, match="diopters"):
        myopia_blur(torch.rand(3, 1, 8, 8), torch.ones(2))


def test_batch_equals_loop_and_modules_agree():
    x = torch.rand(3, 3, 24, 24, dtype=torch.float64)
    d = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    out = myopia_blur(x, d, pixel_scale_arcmin=1.5)
    size = myopia_kernel(d, pixel_scale_arcmin=1.5).shape[-1]  # set by the largest diopters
    loop = torch.cat(
        [
            blur(x[i : i + 1], myopia_kernel(float(d[i]), pixel_scale_arcmin=1.5, size=size))
            for i in range(3)
        ]
    )
    torch.testing.assert_close(out, loop)
    torch.testing.assert_close(
        MyopiaBlur(0.5, wavelength_nm="rgb")(x), myopia_blur(x, 0.5, wavelength_nm="rgb")
    )
    torch.testing.assert_close(AstigmatismBlur(-1.0, 30.0)(x), astigmatism_blur(x, -1.0, 30.0))
    cyl = torch.tensor([-1.0, -0.5, 0.0], dtype=torch.float64)
    ax = torch.tensor([0.0, 60.0, 90.0], dtype=torch.float64)
    kb = astigmatism_kernel(cyl, ax)
    for i in range(3):
        ki = astigmatism_kernel(float(cyl[i]), float(ax[i]), dtype=torch.float64, size=kb.shape[-1])
        torch.testing.assert_close(kb[i : i + 1], ki)


def test_myopia_blur_lowers_high_frequencies_monotonically(photos_uint8):
    img = torch.from_numpy(photos_uint8["camera"][::4, ::4, 0].copy()).float()[None, None] / 255
    # at 3 arcmin per pixel, up to 1.5 D (blur radius 4.6 pixels); beyond it the defocused
    # OTF's side lobes (spurious resolution) make this band's energy level off
    energies = [
        _high_freq_energy(myopia_blur(img, d, pixel_scale_arcmin=3.0))
        for d in (0.0, 0.25, 0.5, 1.0, 1.5)
    ]
    assert all(a > b for a, b in zip(energies, energies[1:], strict=False)), energies


def test_registry():
    torch.testing.assert_close(make_kernel("myopia(diopters=1.0)"), myopia_kernel(1.0))
    torch.testing.assert_close(
        make_kernel("zernike(defocus=0.3, horizontal_coma=0.1)"),
        zernike_psf(defocus=0.3, horizontal_coma=0.1),
    )
    torch.testing.assert_close(
        make_kernel("astigmatism(cylinder_diopters=-1.0, axis_deg=30)"),
        astigmatism_kernel(-1.0, 30),
    )
