"""Regression tests of issue 10 for the kernel builders: sizes by the one size rule, no
parameter-sized allocation past the limit, PSF values checked, empty batches, huge angles,
seeds (docs/input_policy.md)."""

from __future__ import annotations

import pytest
import torch

import blurkit._checks as checks
from blurkit import BlurkitError, DTypeError, ParameterError
from blurkit import kernels as K

# every builder that takes ``size=``, with arguments that are otherwise fine
SIZED = {
    "gaussian": lambda **kw: K.gaussian_kernel(1.0, **kw),
    "gaussian1d": lambda **kw: K.gaussian_kernel1d(1.0, **kw),
    "anisotropic_gaussian": lambda **kw: K.anisotropic_gaussian_kernel(2.0, 1.0, 30.0, **kw),
    "generalized_gaussian": lambda **kw: K.generalized_gaussian_kernel(1.0, 4.0, **kw),
    "defocus": lambda **kw: K.disk_kernel(2.0, **kw),
    "motion": lambda **kw: K.motion_kernel(5.0, 30.0, **kw),
    "motion_imagenet_c": lambda **kw: K.motion_kernel(
        5.0, 30.0, profile="imagenet-c", sigma=2.0, **kw
    ),
    "camera_shake": lambda **kw: K.camera_shake_kernel(1, 5.0, seed=0, steps=50, **kw),
    "zernike": lambda **kw: K.zernike_psf(defocus=0.1, **kw),
    "myopia": lambda **kw: K.myopia_kernel(0.5, **kw),
    "scatter": lambda **kw: K.scatter_kernel(0.2, 5.0, **kw),
}


@pytest.mark.parametrize("name", SIZED)
def test_explicit_size_is_capped_before_allocating(name):
    # gaussian_kernel(1.0, size=100001) used to ask for 40 GB
    with pytest.raises(ParameterError, match=r"size: .*100001.*limit 1025"):
        SIZED[name](size=100001)


@pytest.mark.parametrize("name", SIZED)
@pytest.mark.parametrize("size", [0, -3, 8])
def test_size_must_be_positive_and_odd(name, size):
    with pytest.raises(ParameterError, match="size: expected a positive odd integer"):
        SIZED[name](size=size)


@pytest.mark.parametrize("name", SIZED)
@pytest.mark.parametrize("size", ["9", 9.0, True])
def test_size_must_be_an_integer(name, size):
    with pytest.raises(DTypeError, match="size: expected an integer"):
        SIZED[name](size=size)


def test_defocus_spec_with_huge_size_is_refused():
    # blurkit blur img.jpg --kernel 'defocus(radius=10000, size=20001)' was OOM-killed at 23.6 GB
    with pytest.raises(ParameterError, match="20001"):
        K.make_kernel("defocus(radius=10000, size=20001)")
    with pytest.raises(ParameterError, match="radius"):
        K.make_kernel("defocus(radius=10000)")


def test_imagenet_c_disk_kernel_huge_radius_is_refused_before_its_grid():
    with pytest.raises(ParameterError, match="radius"):
        K.imagenet_c_disk_kernel(1e15)


def test_batch_of_kernels_is_guarded(monkeypatch):
    monkeypatch.setattr(checks, "MAX_ALLOC_BYTES", 2**20)
    with pytest.raises(ParameterError, match="sigma: would allocate"):
        K.gaussian_kernel(torch.full((100,), 20.0))
    with pytest.raises(ParameterError, match="would allocate"):
        K.disk_kernel(torch.full((100,), 20.0))


def test_motion_imagenet_c_long_streak_is_cut_at_the_frame():
    # length 1e10 with size=9 used to build 1e10 points (40 GB); points beyond the frame
    # carry no weight, so the kernel equals any streak that already fills the frame
    a = K.motion_kernel(1e10, 0.0, 9, profile="imagenet-c", sigma=2.0)
    b = K.motion_kernel(20.0, 0.0, 9, profile="imagenet-c", sigma=2.0)
    assert torch.equal(a, b)


@pytest.mark.parametrize("profile", ["uniform", "imagenet-c"])
def test_huge_angle_is_reduced(profile):
    sigma = 2.0 if profile == "imagenet-c" else None
    k = K.motion_kernel(5.0, 1e30, profile=profile, sigma=sigma)
    ref = K.motion_kernel(
        5.0, float(torch.fmod(torch.tensor(1e30), 360)), profile=profile, sigma=sigma
    )
    assert torch.equal(k, ref)
    # angles inside (-360, 360) are untouched, bit for bit
    th = torch.tensor([-359.5, -45.0, 0.0, 30.0, 359.9])
    assert torch.equal(K.motion_kernel(5.0, th), K.motion_kernel(5.0, th.clone()))


def test_anisotropic_and_astigmatism_take_huge_angles():
    k = K.anisotropic_gaussian_kernel(3.0, 1.0, 1e30)
    assert torch.isfinite(k).all() and abs(float(k.sum()) - 1) < 1e-5
    k = K.astigmatism_kernel(-1.0, 1e30)
    assert torch.isfinite(k).all()


@pytest.mark.parametrize(
    "bad",
    [
        torch.tensor([[float("nan"), 1.0], [1.0, 1.0]]),
        torch.tensor([[float("inf"), 1.0], [1.0, 1.0]]),
        torch.tensor([[-1.0, 1.0], [2.0, 1.0]]),
        torch.zeros(3, 3),
    ],
)
def test_normalize_kernel_refuses_what_is_no_psf(bad):
    for fn in (K.normalize_kernel, K.center_kernel, K.crop_to_energy):
        with pytest.raises(ParameterError, match="kernels"):
            fn(bad)


def test_empty_parameter_batches_give_empty_kernels():
    e = torch.empty(0)
    assert K.gaussian_kernel(e).shape[0] == 0
    assert K.gaussian_kernel1d(e).shape[0] == 0
    assert K.anisotropic_gaussian_kernel(e, e, e).shape[0] == 0
    assert K.generalized_gaussian_kernel(e, 2.0).shape[0] == 0
    assert K.disk_kernel(e).shape[0] == 0
    assert K.imagenet_c_disk_kernel(e).shape[0] == 0
    assert K.motion_kernel(e, e).shape[0] == 0
    assert K.motion_kernel(e, e, profile="imagenet-c", sigma=1.0).shape[0] == 0
    assert K.myopia_kernel(e).shape[0] == 0
    assert K.scatter_kernel(e, 3.0).shape[0] == 0
    assert K.camera_shake_kernel(0, 5.0, seed=0, steps=20).shape[0] == 0
    assert K.trajectory_kernel(torch.zeros(0, 5, 2)).shape[0] == 0


def test_shake_steps_and_batch_are_bounded(monkeypatch):
    with pytest.raises(ParameterError, match="steps"):
        K.camera_shake_kernel(1, 5.0, seed=0, steps=10**9)
    monkeypatch.setattr(checks, "MAX_ALLOC_BYTES", 2**20)
    with pytest.raises(ParameterError, match="batch: would allocate"):
        K.camera_shake_kernel(10**6, 5.0, seed=0)


def test_trajectory_subsamples_are_guarded(monkeypatch):
    monkeypatch.setattr(checks, "MAX_ALLOC_BYTES", 2**20)
    line = torch.tensor([[-1.5, 0.0], [1.5, 0.0]])
    with pytest.raises(ParameterError, match="subsamples"):
        K.trajectory_kernel(line, subsamples=10**9)


def test_non_finite_trajectory_is_refused():
    with pytest.raises(ParameterError, match="trajectory"):
        K.trajectory_kernel(torch.tensor([[0.0, 0.0], [float("nan"), 1.0]]), 9)


def test_shake_seeds_by_the_seed_rule():
    a = K.camera_shake_kernel(2, 8.0, seed=2**70, steps=50)
    b = K.camera_shake_kernel(2, 8.0, seed=2**70 % 2**64, steps=50)
    assert torch.equal(a, b)
    for bad, err in (("a", DTypeError), (-1, ParameterError), (1.5, DTypeError)):
        with pytest.raises(err, match="seed"):
            K.camera_shake_kernel(2, 8.0, seed=bad, steps=50)


def test_too_many_wavelengths_are_refused():
    with pytest.raises(ParameterError, match="wavelength_nm"):
        K.zernike_psf(defocus=0.1, wavelength_nm=[550.0] * 1000)


def test_grid_and_pad_sizes_are_guarded():
    with pytest.raises(ParameterError, match="size"):
        K.kernel_grid(10**6)
    with pytest.raises(DTypeError, match="size"):
        K.kernel_grid("9")
    with pytest.raises(BlurkitError, match="size"):
        K.pad_kernel(torch.ones(1, 1, 3, 3), (10**6, 10**6))
    with pytest.raises(BlurkitError, match="size"):
        K.pad_kernel(torch.ones(1, 1, 3, 3), 9)


# --- found by the property suite (tests/properties/test_kernels_props.py) ---------------


def test_parameter_sequences_with_non_numbers_are_typed_errors():
    for call in (
        lambda: K.motion_kernel((1.0, "a"), 0.0),
        lambda: K.gaussian_kernel([1.0, None]),
        lambda: K.myopia_kernel([True, 1.0]),
    ):
        with pytest.raises(DTypeError):
            call()


def test_degenerate_but_accepted_values_give_valid_kernels():
    cases = [
        lambda: K.disk_kernel(1e30, size=1),  # the corner areas cancelled to an all-zero kernel
        lambda: K.disk_kernel(1e6, size=5),
        lambda: K.motion_kernel(0.0, 30.0, profile="imagenet-c", sigma=1e-30),  # 0 / 0
        lambda: K.scatter_kernel(0.2, 5.0, halo_scale=1e-30),  # 0 / 0
        lambda: K.scatter_kernel(0.2, 5.0, halo_scale=1e-4, dtype=torch.float16),
        lambda: K.generalized_gaussian_kernel(1.0, 0.2, dtype=torch.float16),
        lambda: K.gaussian_kernel(0.0, truncate=100.0, dtype=torch.float16),
    ]
    for make in cases:
        k = make()
        assert torch.isfinite(k).all() and (k >= 0).all()
        torch.testing.assert_close(
            k.double().sum((-2, -1)), torch.ones(k.shape[:2]).double(), atol=5e-3, rtol=0
        )


def test_values_outside_what_the_formulas_hold_are_refused():
    with pytest.raises(ParameterError, match="beta"):
        K.generalized_gaussian_kernel(1.0, 1e-30)  # NaN kernel
    with pytest.raises(ParameterError, match="truncate"):
        K.gaussian_kernel(0.0, truncate=1e300)  # inf * 0 in float32: NaN kernel
    for kw in ({"pupil_diameter_mm": 5e-324}, {"pixel_scale_arcmin": 5e-324}):
        with pytest.raises(ParameterError):  # ZeroDivisionError
            K.zernike_psf(defocus=0.1, **kw)
        with pytest.raises(ParameterError):
            K.astigmatism_kernel(-1.0, 0.0, **kw)


def test_float64_camera_shake_sums_to_one_in_float64():
    # found by the property suite: rasterised in float32 then cast, it summed to 1 +- 1e-7
    k = K.camera_shake_kernel(2, 12.0, seed=3, steps=200, dtype=torch.float64)
    assert k.dtype == torch.float64
    torch.testing.assert_close(
        k.sum((-2, -1)), torch.ones(2, 1, dtype=torch.float64), atol=1e-12, rtol=0
    )
    # float32 (the default) is what it always was
    k32 = K.camera_shake_kernel(2, 12.0, seed=3, steps=200)
    assert k32.dtype == torch.float32
    torch.testing.assert_close(k32.double(), k, atol=1e-6, rtol=0)
