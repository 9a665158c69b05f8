"""Properties of the ImageNet-C blur families (reference values: test_reference_compat.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import blurkit
from blurkit import ParameterError
from blurkit.corruptions import get_corruption, sample_corruption
from blurkit.corruptions import imagenet_c as ic

FAMILIES = ("gaussian_blur", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur")
PRESETS = ("imagenet-c", "cifar-10-c")


def test_registered_with_presets_tags_and_continuous_parameter():
    assert set(FAMILIES) <= set(blurkit.list_corruptions("imagenet-c"))
    expected = {"gaussian_blur": "sigma", "defocus_blur": "radius", "motion_blur": "radius"}
    for name in FAMILIES:
        c = get_corruption(name)
        assert set(c.presets) == set(PRESETS) and "blur" in c.tags
        assert c.continuous == expected.get(name)


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("preset", PRESETS)
def test_any_size_grey_and_single_image(name, preset):
    torch.manual_seed(0)
    for shape in [(2, 3, 8, 8), (2, 1, 13, 9), (3, 21, 17)]:
        x = torch.rand(*shape)
        for s in (1, 3.5, 5):
            y = blurkit.corrupt(x, name, s, preset=preset, seed=1)
            assert y.shape == x.shape and y.dtype == x.dtype
            assert bool(torch.isfinite(y).all()) and float(y.min()) >= 0 and float(y.max()) <= 1


@pytest.mark.parametrize("name", FAMILIES)
def test_constant_image_stays_constant(name):
    # every family is a weighted mean of pixels (kernels sum to one, also on tiny images)
    x = torch.full((2, 3, 10, 12), 0.25)
    y = blurkit.corrupt(x, name, 5, seed=0)
    torch.testing.assert_close(y, torch.full_like(x, 0.25), atol=3e-3, rtol=0)  # glass: uint8 step


@pytest.mark.parametrize("name", ("glass_blur", "motion_blur"))
def test_seeds_replay_and_per_image_seeds_are_batch_independent(name):
    torch.manual_seed(1)
    x = torch.rand(3, 3, 24, 24)
    a = blurkit.corrupt(x, name, 3, seed=5)
    torch.testing.assert_close(a, blurkit.corrupt(x, name, 3, seed=5), rtol=0, atol=0)
    assert not torch.equal(a, blurkit.corrupt(x, name, 3, seed=6))
    full = blurkit.corrupt(x, name, 3, seed=[7, 8, 9])
    alone = blurkit.corrupt(x[1:2], name, 3, seed=[8])
    torch.testing.assert_close(full[1:2], alone, rtol=0, atol=1e-6)


def test_explicit_angle_overrides_the_draw():
    x = torch.rand(2, 3, 32, 32)
    y = blurkit.corrupt(x, "motion_blur", 3, seed=0, angle=30.0)
    torch.testing.assert_close(y, ic.imagenet_c_motion_blur(x, 15, 8, 30.0))
    drawn = sample_corruption(x, "motion_blur", 3, seed=0)["angle"]
    assert drawn.shape == (2,) and bool((drawn.abs() <= 45).all())


def test_motion_angle_convention_points_smear_towards_180_minus_angle():
    x = torch.zeros(1, 1, 41, 41)
    x[0, 0, 20, 20] = 1.0
    for angle in (-40.0, 0.0, 30.0):
        y = ic.imagenet_c_motion_blur(x, 10.0, 20.0, angle)[0, 0]
        rows, cols = torch.meshgrid(torch.arange(41.0), torch.arange(41.0), indexing="ij")
        dy_up = float(-((rows - 20) * y).sum() / y.sum())  # y up
        dx = float(((cols - 20) * y).sum() / y.sum())
        direction = np.degrees(np.arctan2(dy_up, dx)) % 360
        assert abs(direction - (180 - angle) % 360) < 2.0  # a digital line: pixel rounding


def test_motion_kernel_is_the_sum_of_shifted_copies():
    # independent re-implementation of the port's _motion_blur with np.roll-free indexing
    rng = np.random.default_rng(0)
    img = rng.random((20, 23))
    radius, sigma, angle = 4, 2.5, 27.0
    w = np.exp(-(np.arange(2 * radius + 1) ** 2) / (2 * sigma**2))
    w /= w.sum()
    out = np.zeros_like(img)
    rows, cols = np.arange(20)[:, None], np.arange(23)[None, :]
    for i, wi in enumerate(w):
        dy = -np.ceil(i * np.sin(np.deg2rad(angle)) - 0.5)
        dx = -np.ceil(i * np.cos(np.deg2rad(angle)) - 0.5)
        out += (
            wi * img[np.clip(rows - dy, 0, 19).astype(int), np.clip(cols - dx, 0, 22).astype(int)]
        )
    ours = ic.imagenet_c_motion_blur(
        torch.from_numpy(img)[None, None], radius, sigma, angle, method="direct"
    )
    np.testing.assert_allclose(ours[0, 0].numpy(), np.clip(out, 0, 1), atol=1e-12)


def _sequential_walk(x: np.ndarray, disp: np.ndarray, d: int) -> np.ndarray:
    """The reference's loop, in plain Python: x[h, w] = x[h + dy, w + dx] (a copy, not a swap)."""
    x = x.copy()
    h_, w_ = x.shape[:2]
    for it in range(disp.shape[0]):
        for k, h in enumerate(range(h_ - d, d, -1)):
            for j, w in enumerate(range(w_ - d, d, -1)):
                dy, dx = disp[it, 0, k, j], disp[it, 1, k, j]
                x[h, w] = x[h + dy, w + dx]
    return x


@pytest.mark.parametrize("d,iterations", [(1, 2), (2, 3), (4, 2)])
def test_parallel_glass_walk_equals_the_sequential_walk(d, iterations):
    h, w = 19, 23
    disp = ic.glass_displacements([3, 4], h, w, d, iterations)
    idx = ic._glass_index(disp, h, w, d)
    for b in range(2):
        lin = np.arange(h * w).reshape(h, w)
        expected = _sequential_walk(lin, disp[b].numpy(), d)
        np.testing.assert_array_equal(idx[b].view(h, w).numpy(), expected)


def test_glass_displacements_are_uniform_on_the_asymmetric_range():
    disp = ic.glass_displacements([0], 130, 130, 3, 2)
    counts = torch.bincount((disp + 3).flatten(), minlength=6).double()
    assert counts.numel() == 6  # values -3..2 only
    freq = counts / counts.sum()
    assert float((freq - 1 / 6).abs().max()) < 0.01


def test_disk_kernels_match_the_reference_disk_in_a_batch():
    ref = pytest.importorskip("imagecorruptions.corruptions")
    radii, alias = [0.3, 1.5, 3.0, 8.0, 10.0, 12.0], [0.4, 0.1, 0.1, 0.5, 0.5, 0.3]
    k = ic.imagenet_c_disk_kernels(radii, alias, dtype=torch.float64)
    half = k.shape[-1] // 2
    for i, (r, a) in enumerate(zip(radii, alias, strict=True)):
        expected = ref.disk(radius=r, alias_blur=a)
        e = expected.shape[0] // 2
        ours = k[i, 0, half - e : half + e + 1, half - e : half + e + 1].numpy()
        np.testing.assert_allclose(ours, expected, atol=2e-7)
        assert float(k[i].sum()) == pytest.approx(float(expected.sum()), abs=1e-6)


def test_fractional_severity_interpolates_the_table():
    assert ic.severity_params("gaussian_blur", 4.5) == [5.0]
    assert ic.severity_params("motion_blur", 1.5, "cifar-10-c") == [6.0, 1.25]
    x = torch.rand(1, 3, 32, 32)
    a = blurkit.corrupt(x, "gaussian_blur", 2.0)
    b = blurkit.corrupt(x, "gaussian_blur", 2.001)
    assert float((a - b).abs().max()) < 1e-3
    torch.testing.assert_close(a, ic.imagenet_c_gaussian_blur(x, 2.0))


def test_motion_is_continuous_in_the_radius():
    x = torch.rand(1, 3, 40, 40)
    a = ic.imagenet_c_motion_blur(x, 5.0, 3.0, 10.0)
    b = ic.imagenet_c_motion_blur(x, 5.01, 3.0, 10.0)
    assert float((a - b).abs().max()) < 1e-3


def test_per_image_parameters():
    x = torch.rand(2, 3, 30, 30)
    y = blurkit.corrupt(x, "defocus_blur", 3, radius=torch.tensor([3.0, 9.0]))
    torch.testing.assert_close(y[1:], ic.imagenet_c_defocus_blur(x[1:], 9.0, 0.5))
    torch.testing.assert_close(y[:1], ic.imagenet_c_defocus_blur(x[:1], 3.0, 0.5))
    g = blurkit.corrupt(x, "gaussian_blur", 1, sigma=torch.tensor([0.5, 2.0]))
    torch.testing.assert_close(g[1:], ic.imagenet_c_gaussian_blur(x[1:], 2.0))


def test_zoom_factors_follow_numpy_arange():
    assert ic.zoom_factors(2) == np.arange(1, 1.16, 0.01).tolist()
    assert len(ic.zoom_factors(1, "cifar-10-c")) == 7


def test_differentiable_in_the_image():
    x = (0.3 + 0.4 * torch.rand(1, 1, 9, 9, dtype=torch.float64)).requires_grad_()
    for fn in (
        lambda t: ic.imagenet_c_defocus_blur(t, 1.0, 0.2),
        lambda t: ic.imagenet_c_zoom_blur(t, [1.0, 1.1, 1.2]),
        lambda t: ic.imagenet_c_motion_blur(t, 2.0, 1.0, 20.0),
    ):
        assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)
    y = ic.imagenet_c_glass_blur(x, 0.7, 1, 1, shuffle_seed=0)
    y.sum().backward()  # straight-through quantisation keeps a gradient
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_errors_name_the_parameter():
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ParameterError, match="unknown parameter"):
        blurkit.corrupt(x, "zoom_blur", 1, angle=3.0)
    with pytest.raises(ParameterError, match="factors"):
        ic.imagenet_c_zoom_blur(x, [0.5])
    with pytest.raises(ParameterError, match="shuffle_seed"):
        ic.imagenet_c_glass_blur(x, 1.0, 2, 1, shuffle_seed="a")
    with pytest.raises(ParameterError, match="preset"):
        blurkit.corrupt(x, "glass_blur", 1, preset="tiny-imagenet-c")
