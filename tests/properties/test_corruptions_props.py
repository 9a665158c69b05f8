"""Property tests over every registered corruption (``blurkit.list_corruptions()``).

For any images (empty batches, 1-3 channels, 8 to 40 px and some smaller, float16/32/64,
sometimes a NaN or infinite pixel), severities, presets, seeds and family parameters,
ordinary or hostile: only :class:`~blurkit.BlurkitError` subclasses escape, and a result
has the input's shape and dtype, is finite and lies in [0, 1]. The strengths fed to the
slow families (pupil FFTs, large halos) are capped in their ordinary range.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from blurkit import corrupt, list_corruptions
from blurkit.corruptions import get_corruption

from ._blur_api_strategies import (
    HOSTILE_NUMBERS,
    HOSTILE_TYPES,
    SEEDS,
    images,
    only_typed_errors,
    param,
)

SEVERITY = st.one_of(
    st.integers(1, 5),
    st.integers(1, 5),
    st.floats(1, 5),
    st.floats(1, 5),
    HOSTILE_NUMBERS,
    st.sampled_from([0, 6, "3", None]),
)
INTS = st.one_of(st.integers(0, 4), st.sampled_from([-1, 10**9, 2.5, 2.0, "2", 2**70]))

#: ordinary and hostile values of each family's parameters (``Corruption.params``)
PARAMS = {
    "gaussian_blur": {"sigma": param(0, 4)},
    "defocus_blur": {"radius": param(0, 10), "alias_blur": param(0.01, 1)},
    "glass_blur": {
        "sigma": param(0, 2),
        "max_delta": INTS,
        "iterations": INTS,
        "shuffle_seed": SEEDS,
    },
    "motion_blur": {"radius": param(0, 12), "sigma": param(0.1, 10), "angle": param(-1e3, 1e3)},
    "zoom_blur": {
        "factors": st.one_of(
            st.lists(param(1, 1.4, tensors=False), max_size=5), param(1, 1.4), HOSTILE_TYPES
        )
    },
    "camera_shake": {
        "length": param(0, 40),
        "trajectory": st.one_of(
            st.builds(lambda n: torch.randn(1, n, 2) / n, st.integers(1, 40)),
            st.sampled_from(
                [torch.full((1, 5, 2), float("nan")), torch.zeros(2, 3), torch.zeros(1, 0, 2)]
            ),
            HOSTILE_TYPES,
        ),
    },
    "myopia": {"diopters": param(-3, 3)},
    "astigmatism": {"cylinder": param(-3, 3), "axis": param(-720, 720)},
    "dirty_lens": {
        "core_sigma": param(0, 3),
        "weight": param(0, 1),
        "halo_scale": param(0.1, 8),
        "halo_radius": param(0.5, 40),
    },
    "depth_defocus": {
        "max_radius": param(0, 12),
        "focus": param(0, 1),
        "angle": param(-720, 720),
    },
}


def test_every_registered_family_is_covered():
    assert set(PARAMS) == set(list_corruptions())
    for name, ps in PARAMS.items():
        assert set(ps) == set(get_corruption(name).params), name


@pytest.mark.parametrize("name", sorted(PARAMS))
# most draws are refused (that is the point), so the profile's budget is taken four times
@settings(max_examples=4 * settings().max_examples)
@given(
    data=st.data(),
    image=images(batch=st.integers(0, 2), channels=st.integers(1, 3), height=st.integers(6, 40)),
)
def test_corruptions(name, data, image):
    x, finite = image
    c = get_corruption(name)
    severity = data.draw(SEVERITY, label="severity")
    preset = data.draw(st.sampled_from([*c.presets] * 4 + ["bogus"]), label="preset")
    seed = data.draw(SEEDS, label="seed")
    given_params = data.draw(
        st.fixed_dictionaries({}, optional=PARAMS[name]).filter(lambda d: len(d) <= 2),
        label="params",
    )
    single = data.draw(st.booleans(), label="single") and x.shape[0] == 1
    xi = x[0] if single else x
    y = only_typed_errors(
        lambda: corrupt(xi, name, severity, preset=preset, seed=seed, **given_params)
    )
    if y is None:
        return
    assert finite, "a non-finite image was accepted"
    assert y.shape == xi.shape and y.dtype == xi.dtype, (y.shape, y.dtype)
    assert torch.isfinite(y).all()
    if y.numel():
        assert float(y.min()) >= 0 and float(y.max()) <= 1
