"""BlurFamily: one description per continuous blur, read by critical blur, RandomBlur,
the estimators, blind deblurring and the study."""

from __future__ import annotations

import pytest
import torch

from blurkit._checks import ParameterError
from blurkit.corruptions import list_corruptions
from blurkit.kernels import list_kernels
from blurkit.kernels.family import (
    BLUR_FAMILIES,
    BlurFamily,
    Sampler,
    blur_families,
    get_blur_family,
    register_blur_family,
)
from blurkit.kernels.registry import KERNELS


def test_built_in_families_and_their_relations():
    assert {"gaussian", "defocus", "motion", "myopia"} <= set(BLUR_FAMILIES.names())
    assert blur_families(twinned=True) == ("gaussian", "defocus", "motion")
    for name in blur_families():
        f = get_blur_family(name)
        assert f.kernel is None or f.kernel in KERNELS.values()
        assert f.corruption is None or f.corruption in list_corruptions()
        assert 0 < f.low < f.high(32, 32)
    assert get_blur_family("gaussian").corruption == "gaussian_blur"
    assert get_blur_family("motion").sampler.extra == ("angle",)
    assert "myopia" not in blur_families(sampled=True)  # RandomBlur's "myopia" is the corruption


def test_consumers_read_the_description():
    from blurkit.defenses.augment import KERNEL_FAMILIES
    from blurkit.defenses.deblur.blind import BLIND_FAMILIES
    from blurkit.measure import FAMILIES
    from blurkit.robustness import list_families
    from blurkit.robustness.engine import CRITICAL_FAMILIES

    assert FAMILIES == blur_families(estimable=True)
    assert BLIND_FAMILIES == ("free", *blur_families(estimable=True))
    assert CRITICAL_FAMILIES == blur_families(twinned=True)
    assert set(KERNEL_FAMILIES) == set(blur_families(sampled=True))
    assert list_families() == BLUR_FAMILIES.names()


def test_unknown_family_suggests_a_name():
    with pytest.raises(ParameterError, match="did you mean 'motion'"):
        get_blur_family("motoin")


def test_a_family_registered_by_a_test_reaches_critical_blur_and_random_blur():
    from blurkit.defenses.augment import RandomBlur
    from blurkit.kernels import gaussian_blur
    from blurkit.robustness import critical_blur, get_family, list_families

    fam = register_blur_family(
        BlurFamily(
            "test_box",
            lambda x, s, ctx: gaussian_blur(x, s),
            0.1,
            lambda h, w: min(h, w) / 4,
            "sigma (px)",
            strength="width",
            sampler=Sampler((0.5, 1.0), lambda x, p, boundary: gaussian_blur(x, p["width"])),
        )
    )
    try:
        assert "test_box" in list_families() and "test_box" in blur_families(sampled=True)
        assert get_family("test_box") is fam
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3))
        r = critical_blur(model, torch.rand(2, 3, 16, 16), family="test_box")
        assert r.family == "test_box" and len(r) == 2
        aug = RandomBlur(["test_box"], p=1.0, seed=0)
        x = torch.rand(2, 3, 16, 16)
        y = aug(x)
        assert sorted(aug.last_params) == ["apply", "family", "test_box.width"]
        w = aug.last_params["test_box.width"]
        torch.testing.assert_close(y, gaussian_blur(x, w).clamp(0, 1))
    finally:
        BLUR_FAMILIES.pop("test_box")
    assert "test_box" not in list_families()
    assert "test_box" not in list_kernels()


def test_registering_a_taken_name_is_refused():
    g = get_blur_family("gaussian")
    assert register_blur_family(g) is g  # the same description again: no-op
    with pytest.raises(ParameterError, match="already registered"):
        register_blur_family(BlurFamily("gaussian", g.apply, g.low, g.high))
