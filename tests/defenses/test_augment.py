"""Random blur augmentations: per-sample parameters, replay, selection, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blurkit import DTypeError, ParameterError, ShapeError, blur
from blurkit.defenses import RandomBlurBase, RandomGaussianBlur, RandomMotionBlur
from blurkit.kernels import gaussian_kernel1d, motion_blur


def _x(b=6, c=3, h=24, w=28, dtype=torch.float32):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(1), dtype=dtype)


AUGS = [
    lambda **kw: RandomGaussianBlur((0.3, 2.5), **kw),
    lambda **kw: RandomMotionBlur((2.0, 12.0), (-180.0, 180.0), **kw),
]


@pytest.mark.parametrize("make", AUGS)
def test_per_sample_params_differ_and_replay(make):
    x = _x()
    aug = make(p=1.0, seed=3)
    y = aug(x)
    params = aug.last_params
    for name in aug.param_names:
        assert params[name].shape == (6,)
        assert params[name].unique().numel() == 6  # a different value for every image
    assert torch.equal(aug(x, params=params), y)  # exact replay
    assert torch.equal(aug.apply(x, params), y)
    # image 1's parameters reproduce image 1 alone, and blur image 0 differently from its own
    second = {k: v[1:2] for k, v in params.items()}
    torch.testing.assert_close(aug.apply(x[1:2], second)[0], y[1], atol=1e-4, rtol=0)
    assert (aug.apply(x[:1], second)[0] - y[0]).abs().max() > 1e-3


@pytest.mark.parametrize("make", AUGS)
def test_seed_and_generator(make):
    x = _x()
    a, b = make(p=0.5, seed=5), make(p=0.5, seed=5)
    assert torch.equal(a(x), b(x))
    c = make(p=0.5, generator=torch.Generator().manual_seed(5))
    c(x)
    for k in a.last_params:
        assert torch.equal(a.last_params[k], c.last_params[k])
    d = make(p=0.5, seed=6)
    d(x)
    assert not torch.equal(a.last_params[a.param_names[0]], d.last_params[d.param_names[0]])
    # a generator passed to forward wins for that call
    e = make(p=0.5, seed=99)
    e(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(e.last_params[e.param_names[0]], a.last_params[a.param_names[0]])
    # sample_params draws what forward would
    p = make(p=0.5, seed=5).sample_params(6)
    assert all(torch.equal(p[k], a.last_params[k]) for k in p)


@pytest.mark.parametrize("make", AUGS)
def test_p0_identity_p1_all_changed_and_mixed(make):
    x = _x()
    assert torch.equal(make(p=0.0, seed=0)(x), x)
    y = make(p=1.0, seed=0)(x)
    assert ((y - x).abs().flatten(1).amax(1) > 1e-3).all()
    aug = make(p=0.5, seed=4)
    y = aug(_x(b=16))
    x16 = _x(b=16)
    sel = aug.last_params["apply"]
    assert 0 < int(sel.sum()) < 16
    changed = (y - x16).abs().flatten(1).amax(1) > 1e-3
    assert torch.equal(changed, sel)
    assert torch.equal(y[~sel], x16[~sel])  # unselected pass through bit for bit


def test_gaussian_matches_per_image_kernels_and_scipy():
    from scipy.ndimage import gaussian_filter

    x = _x(dtype=torch.float64)
    aug = RandomGaussianBlur((0.5, 2.0), p=1.0, seed=2, kernel_size=15)
    y = aug(x)
    s = aug.last_params["sigma"]
    for i in range(x.shape[0]):
        g = gaussian_kernel1d(s[i : i + 1], 15, dtype=torch.float64)[0]
        torch.testing.assert_close(y[i], blur(x[i], g[:, None] * g[None, :]))
    # default kernel size = scipy's radius for a single image: pin to scipy (mirror = reflect-101)
    one = RandomGaussianBlur((1.3, 1.3), p=1.0, seed=0)(x[:1])
    ref = np.stack([gaussian_filter(x[0, c].numpy(), 1.3, mode="mirror") for c in range(3)])
    np.testing.assert_allclose(one[0].numpy(), ref, atol=1e-12)


def test_motion_matches_per_image_function():
    x = _x()
    aug = RandomMotionBlur((2.0, 9.0), (-90.0, 90.0), p=1.0, seed=7, kernel_size=11)
    y = aug(x)
    L, a = aug.last_params["length"], aug.last_params["angle"]
    for i in range(x.shape[0]):
        torch.testing.assert_close(y[i], motion_blur(x[i], float(L[i]), float(a[i]), size=11))


def test_imagenet_c_profile_params():
    aug = RandomMotionBlur(
        (6.0, 10.0), (-45.0, 45.0), p=1.0, profile="imagenet-c", sigma=(1.0, 3.0), seed=0
    )
    y = aug(_x(b=3))
    assert set(aug.last_params) == {"apply", "length", "angle", "sigma"}
    assert torch.equal(aug(_x(b=3), params=aug.last_params), y)


def test_single_image_dtype_and_gradient():
    x = _x(b=1, dtype=torch.float64)[0].requires_grad_(True)
    aug = RandomMotionBlur(p=1.0, seed=0)
    y = aug(x)
    assert y.shape == x.shape and y.dtype == torch.float64
    assert aug.last_params["length"].dtype == torch.float64
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_base_is_abstract():
    with pytest.raises(NotImplementedError):
        RandomBlurBase(p=1.0)(_x(b=1))


def test_bad_input():
    with pytest.raises(ParameterError, match="sigma"):
        RandomGaussianBlur((2.0, 1.0))
    with pytest.raises(ParameterError, match="sigma"):
        RandomGaussianBlur((-1.0, 1.0))
    with pytest.raises(ParameterError, match="p"):
        RandomGaussianBlur(p=1.5)
    with pytest.raises(ParameterError, match="kernel_size"):
        RandomGaussianBlur(kernel_size=4)
    with pytest.raises(ParameterError, match="length"):
        RandomMotionBlur(length=(5.0, 1.0))
    with pytest.raises(ParameterError, match="length"):
        RandomMotionBlur(length=(1.0, 2.0, 3.0))
    with pytest.raises(DTypeError, match="angle"):
        RandomMotionBlur(angle="any")
    with pytest.raises(ParameterError, match="sigma"):
        RandomMotionBlur(profile="imagenet-c")
    with pytest.raises(ParameterError, match="seed"):
        RandomMotionBlur(seed=1, generator=torch.Generator())
    aug = RandomGaussianBlur(p=1.0, seed=0)
    with pytest.raises(ParameterError, match="sigma"):
        aug(_x(b=2), params={"apply": torch.ones(2, dtype=torch.bool)})
    with pytest.raises(ShapeError, match="sigma"):
        aug(_x(b=2), params={"apply": torch.ones(2, dtype=torch.bool), "sigma": torch.ones(3)})
    with pytest.raises(DTypeError, match="images"):
        aug(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


@pytest.mark.parametrize("make", AUGS)
def test_per_image_loop_equals_grouped_call(make, monkeypatch):
    """The CPU per-image path (tight kernels) and the single grouped call agree."""
    from blurkit.functional import per_image as augment

    x = _x(dtype=torch.float64)
    aug = make(p=1.0, seed=11)
    y_loop = aug(x)
    monkeypatch.setattr(augment, "loop_is_faster", lambda images: False)
    y_group = aug(x, params=aug.last_params)
    torch.testing.assert_close(y_loop, y_group, atol=1e-12, rtol=0)


def test_gaussian_blur_of_each_image_is_batch_independent():
    from blurkit.kernels import gaussian_blur

    x = _x()
    aug = RandomGaussianBlur((0.2, 2.5), p=1.0, seed=3)
    y = aug(x)
    for i, s in enumerate(aug.last_params["sigma"]):
        torch.testing.assert_close(y[i], gaussian_blur(x[i], float(s)), atol=1e-6, rtol=0)
