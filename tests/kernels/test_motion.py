"""Motion-blur kernels and camera shake: properties, conventions, tiers, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from blurkit import ParameterError, ShapeError, blur
from blurkit.kernels import kernel_centroid, kernel_grid, make_kernel
from blurkit.kernels.motion import (
    MotionBlur,
    camera_shake_kernel,
    motion_blur,
    motion_kernel,
    sample_shake_trajectory,
    trajectory_kernel,
)

D = torch.float64


def _moments(k: torch.Tensor):
    """Centroid (x, y-up) and the 2x2 second-moment matrix of one (kh, kw) kernel."""
    x, y = kernel_grid(k.shape[-1], dtype=k.dtype)
    m = k.sum()
    cx, cy = (k * x).sum() / m, (k * y).sum() / m
    dx, dy = x - cx, y - cy
    cov = (
        torch.stack(
            [
                torch.stack([(k * dx * dx).sum(), (k * dx * dy).sum()]),
                torch.stack([(k * dx * dy).sum(), (k * dy * dy).sum()]),
            ]
        )
        / m
    )
    return cx, cy, cov


@pytest.mark.parametrize("profile,kw", [("uniform", {}), ("imagenet-c", {"sigma": 4.0})])
def test_sum_one_nonnegative(profile, kw):
    lengths = torch.tensor([0.0, 0.3, 2.5, 9.5, 17.0], dtype=D)
    angles = torch.tensor([0.0, 12.0, 45.0, -100.0, 190.0], dtype=D)
    k = motion_kernel(lengths, angles, profile=profile, **kw)
    assert k.shape[:2] == (5, 1) and k.shape[-1] % 2 == 1
    assert (k >= 0).all()
    torch.testing.assert_close(k.sum((-2, -1)), torch.ones(5, 1, dtype=D))


def test_zero_length_is_identity():
    k = motion_kernel(0.0, 33.0)
    assert k.shape == (1, 1, 1, 1) and float(k) == 1.0
    k = motion_kernel(0.0, 33.0, size=5)
    assert float(k[0, 0, 2, 2]) == pytest.approx(1.0)


@pytest.mark.parametrize("angle", [0.0, 17.0, 45.0, 90.0, 133.0, -60.0])
def test_uniform_centroid_and_moments(angle):
    """Centred on the centre pixel; variance L^2/12 + 1/6 along the streak, 1/6-ish across."""
    L = 11.3
    k = motion_kernel(L, angle, dtype=D)[0, 0]
    cx, cy, cov = _moments(k)
    assert abs(float(cx)) < 1e-9 and abs(float(cy)) < 1e-9
    cy_i, cx_i = kernel_centroid(k)
    assert float(cy_i) == pytest.approx(k.shape[0] // 2) and float(cx_i) == pytest.approx(
        k.shape[1] // 2
    )
    t = math.radians(angle)
    u = torch.tensor([math.cos(t), math.sin(t)], dtype=D)
    along = float(u @ cov @ u)
    # tent footprint adds 1/6 px^2 along each image axis; midpoint rule error is tiny
    assert along == pytest.approx(L**2 / 12 + 1 / 6, rel=1e-3)
    # principal direction of the second moments is the streak's angle (y up)
    evals, evecs = torch.linalg.eigh(cov)
    v = evecs[:, -1]
    assert abs(float(v @ u)) == pytest.approx(1.0, abs=1e-3)


def test_direction_45_rises_to_the_right():
    k = motion_kernel(8.0, 45.0)[0, 0]
    n = k.shape[-1]
    rising = sum(float(k[n - 1 - i, i]) for i in range(n))  # bottom-left to top-right
    falling = sum(float(k[i, i]) for i in range(n))
    assert rising > 0.6 and falling < 0.2
    # top-right quadrant (rows above the centre, columns right of it) holds half the rest
    c = n // 2
    assert float(k[:c, c + 1 :].sum()) == pytest.approx(float(k[c + 1 :, :c].sum()), abs=1e-6)
    assert float(k[:c, :c].sum()) < 1e-6


def test_blurred_point_follows_the_angle():
    """A point blurred by the kernel draws the streak on the image as displayed."""
    x = torch.zeros(1, 1, 21, 21, dtype=D)
    x[0, 0, 10, 10] = 1.0
    y = motion_blur(x, 8.0, 30.0)[0, 0]
    rows, cols = torch.meshgrid(torch.arange(21, dtype=D), torch.arange(21, dtype=D), indexing="ij")
    dx, dy = cols - 10, 10 - rows  # y up
    cov = torch.tensor(
        [[(y * dx * dx).sum(), (y * dx * dy).sum()], [(y * dx * dy).sum(), (y * dy * dy).sum()]]
    )
    ang = math.degrees(0.5 * math.atan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1]))
    assert ang == pytest.approx(30.0, abs=1.0)
    # the blurred point equals the kernel itself (true convolution)
    k = motion_kernel(8.0, 30.0, dtype=D)[0, 0]
    h = k.shape[0] // 2
    torch.testing.assert_close(y[10 - h : 11 + h, 10 - h : 11 + h], k)


@pytest.mark.parametrize("angle", [0.0, 90.0, -90.0, 180.0])
def test_imagenet_c_profile_matches_reference(angle):
    """At multiples of 90 degrees the one-sided profile equals the reference port exactly."""
    from imagecorruptions.corruptions import _motion_blur

    rng = np.random.default_rng(0)
    x = (rng.random((30, 34, 3)) * 255).astype(np.float32)
    ref = _motion_blur(x, radius=4, sigma=2.5, angle=angle)
    xt = torch.from_numpy(x).permute(2, 0, 1)[None].to(D)
    out = motion_blur(xt, 8.0, 180.0 - angle, profile="imagenet-c", sigma=2.5, boundary="replicate")
    # the reference stops shifting at image borders only for huge shifts; compare everywhere
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), ref, atol=1e-3)


def test_imagenet_c_profile_is_one_sided():
    k = motion_kernel(10.0, 0.0, profile="imagenet-c", sigma=3.0)[0, 0]
    c = k.shape[-1] // 2
    assert float(k[c, c]) == float(k.max())
    assert float(k[:, :c].sum()) == 0.0 and float(k[c, c + 1 :].sum()) > 0.5
    w = torch.exp(-(torch.arange(11.0) ** 2) / 18)
    torch.testing.assert_close(k[c, c:], w / w.sum())


@pytest.mark.parametrize("profile,kw", [("uniform", {}), ("imagenet-c", {"sigma": 3.0})])
def test_continuous_in_length_and_angle(profile, kw):
    size = 25
    base = motion_kernel(7.3, 20.0, size, profile=profile, **kw, dtype=D)
    for eps in (1e-3, 1e-5):
        dl = motion_kernel(7.3 + eps, 20.0, size, profile=profile, **kw, dtype=D)
        da = motion_kernel(7.3, 20.0 + eps, size, profile=profile, **kw, dtype=D)
        assert float((dl - base).abs().sum()) < 50 * eps
        assert float((da - base).abs().sum()) < 50 * eps
    # across integer lengths (where a naive rasteriser jumps)
    lo = motion_kernel(8.0 - 1e-6, 0.0, size, profile=profile, **kw, dtype=D)
    hi = motion_kernel(8.0 + 1e-6, 0.0, size, profile=profile, **kw, dtype=D)
    assert float((lo - hi).abs().sum()) < 1e-4


def test_gradcheck_length_angle():
    L = torch.tensor([5.3, 2.7], dtype=D, requires_grad=True)
    a = torch.tensor([23.0, -71.0], dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(lambda L, a: motion_kernel(L, a, size=9), (L, a))
    s = torch.tensor([2.2, 4.1], dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda L, a, s: motion_kernel(L, a, size=9, profile="imagenet-c", sigma=s), (L, a, s)
    )


def test_gradcheck_through_blur():
    x = torch.rand(2, 1, 8, 8, dtype=D, requires_grad=True)
    L = torch.tensor([3.4, 4.6], dtype=D, requires_grad=True)
    a = torch.tensor([12.0, 100.0], dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, L, a: motion_blur(x, L, a), (x, L, a))


def test_uniform_kernel_independent_of_size():
    """The exact segment integral does not depend on the kernel size (hence on the batch)."""
    small = motion_kernel(7.3, 33.0, size=11, dtype=D)
    big = motion_kernel(7.3, 33.0, size=21, dtype=D)
    torch.testing.assert_close(small, big[..., 5:-5, 5:-5], atol=1e-15, rtol=0)


def test_batch_equals_loop_and_module():
    x = torch.rand(3, 3, 20, 24)
    L = torch.tensor([2.0, 6.5, 11.0])
    a = torch.tensor([10.0, -45.0, 200.0])
    k = motion_kernel(L, a, size=13)
    for i in range(3):
        torch.testing.assert_close(k[i : i + 1], motion_kernel(float(L[i]), float(a[i]), size=13))
    y = motion_blur(x, L, a, size=13)
    for i in range(3):
        yi = motion_blur(x[i], float(L[i]), float(a[i]), size=13)  # single (C, H, W) image
        torch.testing.assert_close(y[i], yi)
        torch.testing.assert_close(
            y[i : i + 1], MotionBlur(float(L[i]), float(a[i]), 13)(x[i : i + 1])
        )
    # the function applies blur() with the kernel
    torch.testing.assert_close(y, blur(x, k))


def test_dtype_device_follow_input():
    x = torch.rand(2, 3, 10, 10, dtype=D)
    assert motion_blur(x, 3.0, 10.0).dtype == D
    assert motion_kernel(3.0, 10.0).dtype == torch.float32


def test_registry():
    k = make_kernel("motion(length=9.5, angle=30)")
    torch.testing.assert_close(k, motion_kernel(9.5, 30.0))
    a = make_kernel("camera_shake(length=12, seed=3)")
    b = make_kernel("camera_shake(length=12, seed=3)")
    assert torch.equal(a, b) and a.shape[:2] == (1, 1)


def test_bad_input():
    with pytest.raises(ParameterError, match="length"):
        motion_kernel(-1.0, 0.0)
    with pytest.raises(ParameterError, match="profile"):
        motion_kernel(3.0, 0.0, profile="box")
    with pytest.raises(ParameterError, match="sigma"):
        motion_kernel(3.0, 0.0, profile="imagenet-c")
    with pytest.raises(ParameterError, match="sigma"):
        motion_kernel(3.0, 0.0, sigma=2.0)
    with pytest.raises(ParameterError, match="size"):
        motion_kernel(3.0, 0.0, size=4)
    with pytest.raises(ShapeError, match="angle"):
        motion_blur(torch.rand(2, 1, 8, 8), 3.0, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ShapeError, match="trajectory"):
        trajectory_kernel(torch.zeros(2, 5, 3))
    with pytest.raises(ParameterError, match="exposure"):
        sample_shake_trajectory(1, 10.0, exposure=0.0, seed=0)
    with pytest.raises(ParameterError, match="anxiety"):
        sample_shake_trajectory(1, 10.0, anxiety=2.0, seed=0)


# ------------------------------------------------------------------ camera shake


def test_shake_reproducible_and_seed_dependent():
    a = camera_shake_kernel(3, 15.0, seed=7, steps=400)
    b = camera_shake_kernel(3, 15.0, generator=torch.Generator().manual_seed(7), steps=400)
    c = camera_shake_kernel(3, 15.0, seed=8, steps=400)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # different kernels within a batch
    assert not torch.allclose(a[0], a[1])
    assert (a >= 0).all()
    torch.testing.assert_close(a.sum((-2, -1)), torch.ones(3, 1))


def test_shake_per_image_generators():
    """With one generator per image, image i depends on its own generator only."""
    gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
    t = sample_shake_trajectory(2, 10.0, generator=gens, steps=300)
    t1 = sample_shake_trajectory(1, 10.0, seed=2, steps=300)
    torch.testing.assert_close(t[1:], t1)


def test_shake_trajectory_model():
    t = sample_shake_trajectory(4, 25.0, steps=500, seed=0, dtype=D)
    assert t.shape == (4, 500, 2)
    assert torch.equal(t[:, 0], torch.zeros(4, 2, dtype=D))
    seg = (t[:, 1:] - t[:, :-1]).norm(dim=-1)
    torch.testing.assert_close(seg, torch.full_like(seg, 25.0 / 499))  # constant speed
    # exposure fraction: the start of the same path
    part = sample_shake_trajectory(4, 25.0, steps=500, seed=0, exposure=0.5, dtype=D)
    torch.testing.assert_close(part[:, -1], t[:, 249] * 0.5 + t[:, 250] * 0.5)
    assert part.shape == (4, 251, 2)  # resampled to equal time steps over [0, 249.5]
    tt = 100 * 249.5 / 250
    f = tt - math.floor(tt)
    torch.testing.assert_close(
        part[:, 100], t[:, math.floor(tt)] * (1 - f) + t[:, math.floor(tt) + 1] * f
    )
    # anxiety 0: no random acceleration, a straight line
    line = sample_shake_trajectory(2, 10.0, anxiety=0.0, steps=100, seed=0, dtype=D)
    d = line[:, -1] - line[:, 0]
    assert torch.allclose(d.norm(dim=-1), torch.full((2,), 10.0, dtype=D))


def test_trajectory_kernel_centroid_and_line():
    t = sample_shake_trajectory(2, 20.0, steps=600, seed=5, dtype=D)
    k = trajectory_kernel(t)
    cy, cx = kernel_centroid(k)
    c = k.shape[-1] // 2
    torch.testing.assert_close(cy, torch.full_like(cy, float(c)))
    torch.testing.assert_close(cx, torch.full_like(cx, float(c)))
    # a straight 2-point trajectory is the uniform motion kernel (midpoint rule vs exact)
    line = torch.tensor([[[-3.0, -1.2], [3.0, 1.2]]], dtype=D)
    L = float(line[0, 1].sub(line[0, 0]).norm())
    ang = math.degrees(math.atan2(2.4, 6.0))
    ref = motion_kernel(L, ang, 9, dtype=D)
    torch.testing.assert_close(trajectory_kernel(line, 9), ref, atol=2e-4, rtol=0)
    fine = trajectory_kernel(line, 9, subsamples=2000)
    torch.testing.assert_close(fine, ref, atol=1e-6, rtol=0)


def test_trajectory_kernel_gradcheck():
    p = torch.tensor(
        [[[0.0, 0.0], [1.3, 0.4], [2.1, 1.7], [1.2, 2.9]]], dtype=D, requires_grad=True
    )
    assert torch.autograd.gradcheck(lambda p: trajectory_kernel(p, 7, subsamples=6), (p,))
