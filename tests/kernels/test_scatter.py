"""Scatter (dirty lens) PSFs: mixture, heavy tail, contrast loss, gradients, tiers."""

from __future__ import annotations

import pytest
import torch

from blurkit import ParameterError, ShapeError
from blurkit.kernels import DirtyLensBlur, dirty_lens_blur, make_kernel, scatter_kernel


def _high_freq_energy(x: torch.Tensor) -> float:
    f = torch.fft.fftshift(torch.fft.fft2(x - x.mean((-2, -1), keepdim=True)), dim=(-2, -1))
    h, w = x.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    return float((f.abs() ** 2 * ((yy.abs() > h // 8) | (xx.abs() > w // 8))).sum())


def test_smoke_shapes_sum_nonneg():
    k = scatter_kernel(torch.tensor([0.0, 0.1, 0.5, 1.0]), torch.tensor([5.0, 10.0, 20.0, 20.0]))
    assert k.shape == (4, 1, 41, 41) and k.dtype == torch.float32
    assert (k >= 0).all()
    torch.testing.assert_close(k.sum((-2, -1)), torch.ones(4, 1))
    assert float(k[0, 0, 20, 20]) == 1.0  # weight 0: the sharp core only
    # the unscattered fraction stays in the centre pixel (plus the halo's own share there)
    assert float(k[1, 0, 20, 20]) >= 0.9
    assert scatter_kernel(0.1, 3.0, dtype=torch.float64).dtype == torch.float64


def test_halo_tail_is_a_power_law():
    # Moffat halo: k(r) proportional to (1 + (r / gamma)^2)^(-beta), tail r^(-2 beta)
    for beta in (1.0, 1.5):
        k = scatter_kernel(1.0, 60.0, halo_scale=2.0, beta=beta, dtype=torch.float64)[0, 0]
        c = 60
        ratio = float(k[c, c + 40] / k[c, c + 20])
        assert ratio == pytest.approx(((1 + 100) / (1 + 400)) ** beta, rel=1e-9)
        assert float(k[c + 20, c]) == pytest.approx(float(k[c, c + 20]), rel=1e-9)  # isotropic


def test_veiling_glare_lowers_fine_contrast_by_the_weight():
    # a fine grating (period 2 px) under a wide halo keeps about (1 - w) of its amplitude
    x = torch.zeros(1, 1, 64, 64, dtype=torch.float64)
    x[..., ::2] = 1.0
    for w in (0.1, 0.3):
        y = dirty_lens_blur(x, w, 30.0, boundary="circular")[0, 0, 32]
        contrast = float(y[::2].mean() - y[1::2].mean())
        assert contrast == pytest.approx(1 - w, abs=0.03)


def test_continuous_in_halo_radius_and_gradcheck():
    rs = torch.linspace(2.9, 4.1, 121, dtype=torch.float64)
    k = scatter_kernel(0.5, rs, size=11)
    assert float((k[1:] - k[:-1]).abs().max()) < 2e-3
    p = [
        torch.tensor([v], dtype=torch.float64, requires_grad=True)
        for v in (0.3, 2.7, 1.5, 1.2, 0.6)
    ]

    def f(w, r, g, b, s):
        return scatter_kernel(w, r, halo_scale=g, beta=b, core_sigma=s, size=7)

    assert torch.autograd.gradcheck(f, p)


def test_typed_errors():
    with pytest.raises(ParameterError, match="weight"):
        scatter_kernel(1.5, 10.0)
    with pytest.raises(ParameterError, match="weight"):
        scatter_kernel(-0.1, 10.0)
    with pytest.raises(ParameterError, match="halo_radius"):
        scatter_kernel(0.1, 0.0)
    with pytest.raises(ParameterError, match="halo_radius"):
        scatter_kernel(0.1, 5000.0)  # larger than the kernel size limit
    with pytest.raises(ParameterError, match="beta"):
        scatter_kernel(0.1, 10.0, beta=0.0)
    with pytest.raises(ShapeError, match="weight"):
        dirty_lens_blur(torch.rand(3, 1, 8, 8), torch.ones(2) * 0.1, 4.0)


def test_batch_equals_loop_and_module_agrees():
    x = torch.rand(3, 2, 24, 24, dtype=torch.float64)
    w = torch.tensor([0.0, 0.2, 0.5], dtype=torch.float64)
    r = torch.tensor([4.0, 8.0, 12.0], dtype=torch.float64)
    out = dirty_lens_blur(x, w, r)
    # kernels are zero-padded to the batch's largest radius: pad-invariant by construction
    loop = torch.cat([dirty_lens_blur(x[i : i + 1], float(w[i]), float(r[i])) for i in range(3)])
    torch.testing.assert_close(out, loop)
    torch.testing.assert_close(DirtyLensBlur(0.2, 8.0)(x), dirty_lens_blur(x, 0.2, 8.0))
    torch.testing.assert_close(dirty_lens_blur(x[0], 0.2, 8.0), dirty_lens_blur(x[:1], 0.2, 8.0)[0])


def test_fft_path_for_large_halos_agrees_with_direct():
    x = torch.rand(1, 3, 40, 40, dtype=torch.float64)
    a = dirty_lens_blur(x, 0.3, 25.0, method="direct")
    b = dirty_lens_blur(x, 0.3, 25.0)  # auto -> fft for a 51 x 51 kernel
    torch.testing.assert_close(a, b)


def test_blur_lowers_high_frequencies_monotonically(photos_uint8):
    img = torch.from_numpy(photos_uint8["camera"][::4, ::4, 0].copy()).float()[None, None] / 255
    energies = [_high_freq_energy(dirty_lens_blur(img, w, 20.0)) for w in (0.0, 0.1, 0.2, 0.4, 0.7)]
    assert all(a > b for a, b in zip(energies, energies[1:], strict=False)), energies


def test_registry():
    torch.testing.assert_close(
        make_kernel("scatter(weight=0.2, halo_radius=12.0)"), scatter_kernel(0.2, 12.0)
    )
