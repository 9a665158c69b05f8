"""Natural-blur corruption families: shapes, replay, severity order, overrides, presets."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import blurkit
from blurkit import ParameterError, corrupt
from blurkit.corruptions import get_corruption, list_corruptions
from blurkit.corruptions.natural import NATURAL_TABLES, VIEW_FIELD_DEG
from blurkit.functional import blur
from blurkit.measure import ssim

NATURAL = blurkit.SUITES["natural"]
RANDOM = ("camera_shake", "astigmatism", "depth_defocus")


@functools.lru_cache(maxsize=4)
def _photos(size: int) -> torch.Tensor:
    from PIL import Image
    from skimage import data

    out = []
    for n in ("astronaut", "coffee", "chelsea", "rocket"):
        im = Image.fromarray(getattr(data, n)())
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        im = im.resize((size, size), Image.BICUBIC)
        out.append(torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def test_registered_with_tags_and_presets():
    assert set(NATURAL) <= set(list_corruptions("natural"))
    for name in NATURAL:
        c = get_corruption(name)
        assert {"natural", "imagenet-c", "cifar-10-c"} <= set(c.presets)
        assert c.continuous in c.params
        assert "blur" in c.tags
        for table in NATURAL_TABLES[name].values():
            col = [row[0] for row in table]
            assert len(col) == 5 and col == sorted(col) and col[0] > 0


@pytest.mark.parametrize("name", NATURAL)
def test_shapes_rgb_grey_and_sizes(name):
    sizes = [(8, "natural"), (8, "cifar-10-c"), (32, "cifar-10-c"), (224, "natural")]
    if name in ("myopia", "astigmatism"):
        # the diffraction PSF at 75 arcmin per pixel (natural preset, 8 px) takes seconds
        sizes = sizes[1:]
    for size, preset in sizes:
        for c in (3, 1):
            if size == 224 and c == 1:
                continue
            x = torch.rand(2, c, size, size)
            y = corrupt(x, name, 5, preset=preset, seed=0)
            assert y.shape == x.shape and y.dtype == x.dtype
            assert float(y.min()) >= 0 and float(y.max()) <= 1
    single = corrupt(torch.rand(1, 17, 23), name, 2, preset="natural", seed=1)
    assert single.shape == (1, 17, 23)


@pytest.mark.parametrize("name", NATURAL)
def test_same_seed_same_output_and_per_image_seeds(name):
    x = _photos(48)[:2]
    a = corrupt(x, name, 3, preset="natural", seed=[5, 9])
    torch.testing.assert_close(
        a, corrupt(x, name, 3, preset="natural", seed=[5, 9]), atol=0, rtol=0
    )
    # an image's corruption does not depend on the batch it is in
    # (the diffraction PSFs of the eye families are sized for the whole batch, which moves
    # values by ~2e-4)
    tol = 5e-4 if name in ("myopia", "astigmatism") else 1e-6
    torch.testing.assert_close(
        a[1:], corrupt(x[1:], name, 3, preset="natural", seed=[9]), atol=tol, rtol=0
    )
    if name in RANDOM:
        b = corrupt(x, name, 3, preset="natural", seed=[6, 10])
        assert (a - b).abs().amax(dim=(1, 2, 3)).min() > 1e-3


@pytest.mark.parametrize("name", NATURAL)
def test_ssim_decreases_with_severity_on_photos(name):
    x = _photos(96)[:3]
    seeds = [11, 12, 13]
    scores = [
        float(ssim(corrupt(x, name, s, preset="natural", seed=seeds), x).mean())
        for s in (1, 2, 3, 4, 5)
    ]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert scores[-1] < 0.8, scores


def test_natural_preset_equals_imagenet_c_at_224_and_scales():
    x = _photos(224)[:1]
    for name in ("depth_defocus", "myopia"):
        torch.testing.assert_close(
            corrupt(x, name, 3, preset="natural", seed=2),
            corrupt(x, name, 3, preset="imagenet-c", seed=2),
        )
    # natural at 112 px is the 224 px table at half the length
    x2 = _photos(112)[:1]
    r = NATURAL_TABLES["depth_defocus"]["imagenet-c"][2][0]
    torch.testing.assert_close(
        corrupt(x2, "depth_defocus", 3, preset="natural", seed=2),
        corrupt(x2, "depth_defocus", 3, preset="imagenet-c", seed=2, max_radius=r / 2),
    )


def test_explicit_params_override_and_pin_to_kernels():
    from blurkit.kernels import motion_kernel, myopia_kernel, trajectory_kernel

    x = _photos(64)[:2]
    # a straight unit-length trajectory: camera shake becomes linear motion blur
    line = torch.tensor([[-0.5, 0.0], [0.5, 0.0]])
    y = corrupt(x, "camera_shake", 1, preset="imagenet-c", trajectory=line, length=9.0)
    k = trajectory_kernel(line * 9.0)
    torch.testing.assert_close(y, blur(x, k).clamp(0, 1), atol=1e-6, rtol=0)
    # (the rasterised path is the motion kernel up to sub-sampling of the path)
    torch.testing.assert_close(y, blur(x, motion_kernel(9.0, 0.0)).clamp(0, 1), atol=1e-3, rtol=0)
    # myopia: diopters override, viewing geometry of the preset
    y = corrupt(x, "myopia", 4, preset="imagenet-c", diopters=1.25)
    k = myopia_kernel(1.25, 4.0, pixel_scale_arcmin=VIEW_FIELD_DEG * 60 / 224)
    torch.testing.assert_close(y, blur(x, k).clamp(0, 1), atol=1e-6, rtol=0)
    # depth: explicit focus and angle make the seed irrelevant; severity only picks the table
    kw = dict(preset="natural", focus=0.0, angle=0.0, max_radius=3.0)
    torch.testing.assert_close(
        corrupt(x, "depth_defocus", 1, seed=1, **kw), corrupt(x, "depth_defocus", 5, seed=2, **kw)
    )
    # astigmatism axis override
    a1 = corrupt(x, "astigmatism", 3, preset="natural", seed=1, axis=30.0)
    torch.testing.assert_close(
        a1, corrupt(x, "astigmatism", 3, preset="natural", seed=7, axis=30.0)
    )
    with pytest.raises(ParameterError, match="unknown"):
        corrupt(x, "myopia", 3, radius=2.0)
    with pytest.raises(ParameterError, match="max_radius"):
        corrupt(x, "depth_defocus", 3, max_radius=-1.0)


def test_fractional_severity_interpolates_and_tensor_strengths():
    x = _photos(48)[:2]
    t = NATURAL_TABLES["myopia"]["imagenet-c"]
    mid = 0.5 * (t[1][0] + t[2][0])
    torch.testing.assert_close(corrupt(x, "myopia", 2.5), corrupt(x, "myopia", 1, diopters=mid))
    # per-image strengths, as the critical-blur search passes them
    r = torch.tensor([0.5, 4.0])
    y = corrupt(x, "depth_defocus", 1, preset="natural", seed=[3, 4], max_radius=r)
    for i in range(2):
        yi = corrupt(
            x[i], "depth_defocus", 1, preset="natural", seed=[[3, 4][i]], max_radius=float(r[i])
        )
        torch.testing.assert_close(y[i], yi, atol=1e-6, rtol=0)
