"""Properties of RandomBlur and its two adaptors: hostile images and seeds raise only
BlurkitError subclasses; clean images come back in [0, 1] with their shape and dtype
(issue 10 item 5)."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from blurkit._checks import BlurkitError
from blurkit.defenses import RandomGaussianBlur, RandomMotionBlur
from blurkit.defenses.augment import RandomBlur, RandomBlurTransform

from ._strategies import HOSTILE_SEEDS, images

FAMILIES = st.sampled_from(
    [
        None,
        {"gaussian": (0.3, 3.0), "motion": (1.0, 9.0), "defocus": (0.3, 3.0)},
        {"camera_shake": (1.0, 5.0)},
        {"myopia": (1.0, 5.0)},
    ]
)


def _check(fn, x, clean):
    try:
        y = fn()
    except BlurkitError:
        return
    assert y.shape == x.shape and y.dtype == x.dtype
    if clean and y.numel():
        assert bool(torch.isfinite(y).all())
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


@given(data=images(max_side=32), families=FAMILIES, p=st.sampled_from([0.0, 0.5, 1.0]))
def test_random_blur_keeps_images_in_range(data, families, p):
    x, clean = data
    aug = RandomBlur(families, p=p, seed=0, kernel_bank=4)
    _check(lambda: aug(x), x, clean)
    if x.ndim == 4 and x.shape[0]:
        t = RandomBlurTransform(aug)
        _check(lambda: t(x[0]), x[0], clean)


@given(seed=HOSTILE_SEEDS)
def test_hostile_seeds_are_folded_or_typed(seed):
    x = torch.rand(2, 3, 12, 12)
    for make in (
        lambda: RandomBlur({"gaussian": (0.5, 2.0)}, p=1.0, seed=seed),
        lambda: RandomGaussianBlur(p=1.0, seed=seed),
        lambda: RandomMotionBlur((1.0, 5.0), p=1.0, seed=seed),
        lambda: RandomBlurTransform(p=1.0, families={"gaussian": (0.5, 2.0)}, seed=seed),
    ):
        try:
            aug = make()
        except BlurkitError:
            continue
        _check(lambda aug=aug: aug(x), x, True)
    # folding is exact for the module
    if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0:
        a = RandomBlur({"gaussian": (0.5, 2.0)}, p=1.0, seed=seed).sample_params(3)
        b = RandomBlur({"gaussian": (0.5, 2.0)}, p=1.0, seed=seed % 2**64).sample_params(3)
        assert torch.equal(a["gaussian.sigma"], b["gaussian.sigma"])


@given(
    strength=st.one_of(st.floats(allow_nan=True), st.tuples(st.floats(-1, 1e300), st.floats())),
    p=st.floats(allow_nan=True),
    weights=st.one_of(st.none(), st.lists(st.floats(allow_nan=True), max_size=3)),
)
def test_hostile_options_are_typed(strength, p, weights):
    x = torch.rand(1, 1, 12, 12)
    try:
        aug = RandomBlur({"gaussian": strength}, p=p, weights=weights, seed=0)
    except BlurkitError:
        return
    _check(lambda: aug(x), x, True)
