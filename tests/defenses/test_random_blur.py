"""RandomBlur: per-sample draws, replay, p, the three front doors, schedules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blurkit import corrupt
from blurkit._checks import BlurkitError
from blurkit.defenses import RandomGaussianBlur
from blurkit.defenses.augment import (
    SCHEDULES,
    AlbumentationsRandomBlur,
    RandomBlur,
    RandomBlurTransform,
)
from blurkit.kernels.defocus import defocus_blur

FAMS = {"gaussian": (0.5, 2.0), "motion": (2.0, 7.0), "defocus": (0.5, 2.5)}


def _x(b=8, seed=0, size=24):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, size, size, generator=g)


def test_per_sample_params_differ_and_replay_exactly():
    aug = RandomBlur(FAMS, p=1.0, seed=3)
    x = _x(16)
    y = aug(x)
    params = aug.last_params
    assert params["family"].unique().numel() == 3  # families mixed within the batch
    for k in ("gaussian.sigma", "motion.length", "defocus.radius"):
        assert params[k].unique().numel() == 16  # one draw per image
    torch.testing.assert_close(aug(x, params=params), y, rtol=0, atol=0)
    # each image got exactly its own family and parameters
    for i in range(16):
        f = aug.family_names[int(params["family"][i])]
        if f == "defocus":
            ref = defocus_blur(x[i : i + 1], params["defocus.radius"][i : i + 1])
            torch.testing.assert_close(y[i : i + 1], ref, rtol=1e-5, atol=1e-5)
        elif f == "gaussian":
            g = RandomGaussianBlur(p=1.0)
            ref = g(x[i : i + 1], params={"apply": torch.tensor([True]),
                                          "sigma": params["gaussian.sigma"][i : i + 1]})  # fmt: skip
            torch.testing.assert_close(y[i : i + 1], ref, rtol=1e-5, atol=1e-5)


def test_image_result_does_not_depend_on_the_batch():
    aug = RandomBlur(FAMS, p=1.0, seed=0)
    x = _x(6)
    y = aug(x)
    p = aug.last_params
    sub = {k: v[2:4] for k, v in p.items()}
    torch.testing.assert_close(aug(x[2:4], params=sub), y[2:4], rtol=1e-5, atol=1e-6)


def test_same_seed_same_draws_and_generator_advances():
    a, b = RandomBlur(FAMS, seed=5), RandomBlur(FAMS, seed=5)
    x = _x(8)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    first = a.last_params["gaussian.sigma"].clone()
    a(x)
    assert not torch.equal(first, a.last_params["gaussian.sigma"])


def test_p_zero_is_identity_and_p_one_blurs_all():
    x = _x(8)
    aug0 = RandomBlur(FAMS, p=0.0, seed=0)
    assert torch.equal(aug0(x), x)
    aug1 = RandomBlur(FAMS, p=1.0, seed=0)
    diff = (aug1(x) - x).abs().flatten(1).amax(1)
    assert bool((diff > 1e-3).all())


def test_p_selects_about_p_of_the_images():
    aug = RandomBlur(FAMS, p=0.3, seed=1)
    sel = aug.sample_params(4000)["apply"].float().mean()
    assert abs(float(sel) - 0.3) < 0.03  # 4 sigma of a binomial mean at n=4000


def test_weights_set_the_mixture():
    aug = RandomBlur(FAMS, weights=[0.0, 1.0, 3.0], seed=0)
    fam = aug.sample_params(4000)["family"]
    assert int((fam == 0).sum()) == 0
    assert abs(float((fam == 2).float().mean()) - 0.75) < 0.03


@pytest.mark.parametrize("bank", [0, 16])
def test_corruption_family_matches_corrupt_with_the_drawn_seed(bank):
    aug = RandomBlur(
        {"camera_shake": (1.0, 5.0)}, p=1.0, seed=0, severity_step=1.0, kernel_bank=bank
    )
    x = _x(4, size=32)
    y = aug(x)
    p = aug.last_params
    for i in range(4):
        s = int(p["camera_shake.seed"][i])
        ref = corrupt(
            x[i : i + 1], "camera_shake", float(p["camera_shake.severity"][i]),
            preset="cifar-10-c", seed=[s % bank if bank else s],
        )  # fmt: skip
        # the bank holds impulse responses of the same corruption: equal up to rounding
        torch.testing.assert_close(y[i : i + 1], ref, rtol=0, atol=1e-3 if bank else 1e-6)
    assert set(p["camera_shake.severity"].tolist()) <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_strength_scale_shrinks_the_ranges():
    aug = RandomBlur({"gaussian": (0.5, 2.5)}, p=1.0, seed=0, strength_scale=0.25)
    s = aug.sample_params(500)["gaussian.sigma"]
    assert float(s.min()) >= 0.5 and float(s.max()) <= 0.5 + 0.25 * 2.0 + 1e-6


def test_gradients_flow_to_images():
    aug = RandomBlur(FAMS, p=1.0, seed=0)
    x = _x(4).requires_grad_(True)
    aug(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_bad_input_raises_typed_errors():
    with pytest.raises(BlurkitError, match="families"):
        RandomBlur({"gaussian": (2.0, 1.0)})
    with pytest.raises(BlurkitError, match="corruption"):
        RandomBlur(["no_such_blur"])
    with pytest.raises(BlurkitError, match="weights"):
        RandomBlur(FAMS, weights=[1.0])
    with pytest.raises(BlurkitError, match="p"):
        RandomBlur(FAMS, p=1.5)
    aug = RandomBlur(FAMS)
    with pytest.raises(BlurkitError, match="params"):
        aug(_x(4), params={"apply": torch.ones(3, dtype=torch.bool)})


def test_torchvision_v2_compose_on_tensors():
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    t = v2.Compose(
        [v2.RandomHorizontalFlip(p=0.0), RandomBlurTransform(RandomBlur(FAMS, p=1.0, seed=0))]
    )
    x = _x(5)
    y = t(x)  # a batch: per-image parameters
    assert y.shape == x.shape and not torch.equal(y, x)
    blur = t.transforms[1].blur
    torch.testing.assert_close(y, blur(x, params=_last_params_of(t, x)), rtol=0, atol=0)
    # a single image, an Image tv_tensor with a label, and uint8
    img = tv_tensors.Image(_x(1)[0])
    out, label = t(img, 3)
    assert isinstance(out, tv_tensors.Image) and label == 3 and out.shape == (3, 24, 24)
    u8 = (_x(1)[0] * 255).to(torch.uint8)
    out8 = t(u8)
    assert out8.dtype == torch.uint8 and out8.shape == u8.shape
    # p=0 leaves the image alone
    t0 = v2.Compose([RandomBlurTransform(p=0.0, families=FAMS)])
    assert torch.equal(t0(x), x)


def _last_params_of(t, x):
    """Replay: draw again from a fresh copy seeded alike, as the transform did."""
    return RandomBlur(FAMS, p=1.0, seed=0).sample_params(x.shape[0])


def test_albumentations_adaptor_on_uint8_hwc():
    import albumentations as A

    img = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    t = A.Compose([A.HorizontalFlip(p=0.0), AlbumentationsRandomBlur(RandomBlur(FAMS), p=1.0)],
                  seed=7)  # fmt: skip
    out = t(image=img)["image"]
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.abs(out.astype(int) - img.astype(int)).mean() > 1.0
    # reproducible with the pipeline seed, and replayable from the applied params
    t2 = A.Compose([A.HorizontalFlip(p=0.0), AlbumentationsRandomBlur(RandomBlur(FAMS), p=1.0)],
                   seed=7)  # fmt: skip
    np.testing.assert_array_equal(t2(image=img)["image"], out)
    adaptor = t.transforms[1]
    params = adaptor.get_applied_params()["blur_params"]
    np.testing.assert_array_equal(adaptor.apply(img, blur_params=params), out)
    # grey images and p=0
    grey = img[..., 0]
    assert t(image=grey)["image"].shape == grey.shape
    t0 = A.Compose([AlbumentationsRandomBlur(RandomBlur(FAMS), p=0.0)])
    np.testing.assert_array_equal(t0(image=img)["image"], img)


def test_schedules():
    pre, fine = SCHEDULES["pretrain"], SCHEDULES["finetune"]
    assert pre.at(0.0)[0] == 0.0 and pre.at(0.0)[1] < 1.0  # starts clean and weak
    assert pre.at(0.15)[0] == pytest.approx(0.25)
    assert pre.at(0.5) == (0.5, 1.0) == pre.at(1.0)
    assert fine.at(0.0) == fine.at(1.0) == (0.5, 1.0)  # blur from the first step
    aug = RandomBlur(FAMS)
    pre.step(aug, 0.0)
    assert aug.p == 0.0 and torch.equal(aug(_x(4)), _x(4))
