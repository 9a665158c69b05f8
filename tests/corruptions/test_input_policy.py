"""Regression tests of issue 10 for the corruptions: finite images, empty batches, zero-size
axes, seeds by the one seed rule, parameter-sized allocations refused before they happen,
huge angles (docs/input_policy.md)."""

from __future__ import annotations

import pytest
import torch

from blurkit import DTypeError, ParameterError, ShapeError, corrupt, list_corruptions
from blurkit.corruptions.imagenet_c import imagenet_c_glass_blur, imagenet_c_motion_blur

FAMILIES = list_corruptions()


def _x(b=2, c=3, h=16, w=16):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_images_are_refused(name, bad):
    # they used to pass through every corruption, which promises output in [0, 1]
    x = _x()
    x[1, 0, 5, 5] = bad
    with pytest.raises(ParameterError, match="images: expected finite values"):
        corrupt(x, name, 3, seed=0)


@pytest.mark.parametrize("name", FAMILIES)
def test_empty_batch_gives_an_empty_result(name):
    x = _x(b=0)
    y = corrupt(x, name, 3, seed=0)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert corrupt(x, name, 3).shape == x.shape
    with pytest.raises(ShapeError):
        corrupt(x, name, 3, seed=[1, 2])


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("shape", [(1, 0, 16, 16), (1, 3, 0, 16), (1, 3, 16, 0)])
def test_zero_size_axes_raise_a_shape_error(name, shape):
    with pytest.raises(ShapeError, match="at least one channel, row and column"):
        corrupt(torch.rand(*shape), name, 3, seed=0)


@pytest.mark.parametrize("name", FAMILIES)
def test_seeds_follow_the_seed_rule_in_every_family(name):
    x = _x()
    a = corrupt(x, name, 2, seed=2**70)
    b = corrupt(x, name, 2, seed=2**70 % 2**64)
    assert torch.equal(a, b)
    c = corrupt(x, name, 2, seed=[2**70, 3])
    assert torch.equal(c, corrupt(x, name, 2, seed=[2**70 % 2**64, 3]))
    # deterministic families too: a bad seed is an error, not ignored
    for bad, err in (("a", DTypeError), (-1, ParameterError), (1.5, DTypeError)):
        with pytest.raises(err, match="seed"):
            corrupt(x, name, 2, seed=bad)
    for bad in ([], [1, 2, 3]):
        with pytest.raises(ShapeError, match="seed"):
            corrupt(x, name, 2, seed=bad)


def test_huge_radius_is_refused_before_allocating():
    # corrupt(x, 'defocus_blur', 3, radius=1e5) asked for terabytes
    x = _x()
    with pytest.raises(ParameterError, match="radius"):
        corrupt(x, "defocus_blur", 3, radius=1e5)
    with pytest.raises(ParameterError, match="radius"):
        corrupt(x, "motion_blur", 3, radius=1e5)
    with pytest.raises(ParameterError, match="sigma"):
        corrupt(x, "gaussian_blur", 3, sigma=1e6)
    with pytest.raises(ParameterError, match="max_radius|radius"):
        corrupt(x, "depth_defocus", 3, max_radius=1e6)
    with pytest.raises(ParameterError, match="halo_radius"):
        corrupt(x, "dirty_lens", 3, halo_radius=1e6)
    with pytest.raises(ParameterError, match="trajectory|length"):
        corrupt(x, "camera_shake", 3, length=1e7)


def test_huge_zoom_factor_is_refused_before_allocating():
    with pytest.raises(ParameterError, match="factors: would allocate"):
        corrupt(_x(), "zoom_blur", 3, factors=[1.0, 1e9])


def test_glass_passes_and_seeds():
    x = _x()
    with pytest.raises(ParameterError, match="iterations"):
        corrupt(x, "glass_blur", 3, iterations=10**9)
    with pytest.raises(ParameterError, match="iterations: expected a whole number"):
        corrupt(x, "glass_blur", 3, iterations=2.5)
    with pytest.raises(ParameterError, match="max_delta: expected a whole number"):
        corrupt(x, "glass_blur", 3, max_delta=1.5)
    with pytest.raises(ParameterError, match="shuffle_seed"):
        corrupt(x, "glass_blur", 3, shuffle_seed=-1)
    a = imagenet_c_glass_blur(x, 0.7, 1, 2, shuffle_seed=2**70)
    b = imagenet_c_glass_blur(x, 0.7, 1, 2, shuffle_seed=2**70 % 2**64)
    assert torch.equal(a, b)
    # whole floats (the tables' values) are still taken
    assert torch.equal(
        imagenet_c_glass_blur(x, 0.7, 1.0, 2.0, shuffle_seed=[0, 1]),
        imagenet_c_glass_blur(x, 0.7, 1, 2, shuffle_seed=[0, 1]),
    )


def test_huge_motion_angle():
    # angle=1e30 raised IndexError
    x = _x()
    y = corrupt(x, "motion_blur", 3, angle=1e30)
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    ref = imagenet_c_motion_blur(x, 15, 8, float(torch.fmod(torch.tensor(1e30), 360)))
    assert torch.equal(y, ref)


def test_explicit_trajectory_must_be_a_finite_tensor():
    # found by the property suite: a string trajectory raised AttributeError
    x = _x()
    with pytest.raises(DTypeError, match="trajectory"):
        corrupt(x, "camera_shake", 2, trajectory="3")
    with pytest.raises(ParameterError, match="trajectory"):
        corrupt(x, "camera_shake", 2, trajectory=torch.full((1, 5, 2), float("nan")))


@pytest.mark.parametrize("angle", [-92.0, 135.0, 180.0, 270.0])
def test_motion_angles_beyond_90_degrees(angle):
    # found by the property suite: angle=-92 raised an IndexError (copies outside the frame)
    x = _x()
    y = corrupt(x, "motion_blur", 1, angle=angle)
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    # the no-gradient copies and the engine's convolution agree there too
    z = imagenet_c_motion_blur(x, 10, 3, angle, method="direct")
    torch.testing.assert_close(y, z, atol=1e-5, rtol=0)
