"""Blur estimation from one image: accuracy on photographs not used for tuning, conventions, errors.

The estimator's constants were fitted on astronaut, camera and the ImageNet sample images
with index < 50; these tests use coffee, chelsea, rocket and sample images with index >= 50
(the full held-out validation is benchmarks/measure_validation.py), plus synthetic scenes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from blurkit import ParameterError, ShapeError
from blurkit.kernels import defocus_blur, gaussian_blur, motion_blur
from blurkit.measure import estimate_blur


def _crop(img: np.ndarray, size: int = 192) -> torch.Tensor:
    h, w = img.shape[:2]
    t, l = (h - size) // 2, (w - size) // 2
    return torch.from_numpy(img[t : t + size, l : l + size].copy()).permute(2, 0, 1).float() / 255


@pytest.fixture(scope="module")
def held_out(photos_uint8):
    return torch.stack([_crop(photos_uint8[n]) for n in ("coffee", "chelsea", "rocket")])


def _q(x):  # 8-bit quantisation, as a saved file
    return (x * 255).round() / 255


def test_gaussian_sigma(held_out):
    # coffee and chelsea carry ~0.5-0.7 px of blur of their own (the estimate is of the
    # total blur), so the mildest blur goes on rocket, the sharpest photo
    sig = torch.tensor([3.0, 4.5, 1.5])
    est = estimate_blur(_q(gaussian_blur(held_out, sig)), "gaussian")
    rel = (est / sig - 1).abs()
    assert est.shape == (3,)
    assert float(rel.max()) < 0.25, est


def _shapes_scene(n: int = 192, seed: int = 0) -> torch.Tensor:
    """Piecewise-constant scene: six random rectangles and disks (radius 14-26 px) on grey."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    img = torch.full((n, n), 0.5, dtype=torch.float64)
    for i in range(6):
        cy, cx = (torch.rand(2, generator=g) * (n - 60) + 30).tolist()
        r = 14 + 12 * float(torch.rand(1, generator=g))
        v = 0.15 + 0.7 * float(torch.rand(1, generator=g))
        if i % 2:
            m = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        else:
            m = ((yy - cy).abs() < r) & ((xx - cx).abs() < 0.7 * r)
        img[m] = v
    return img[None, None]


def test_gaussian_sigma_synthetic_edges():
    # blurred step edges are the estimator's model (no photo needed): within 8 % for
    # sigma 0.75-3 (measured 0.93-1.00 x); at 4-5 px the re-blur reaches the shapes' corners,
    # curvature and far sides (14-26 px away), which read low (measured 0.84-0.89 x), as
    # in photographs (docs/measure.md)
    x = torch.cat([_shapes_scene(seed=0), _shapes_scene(seed=1)])
    sig = torch.tensor([0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    est = torch.stack([estimate_blur(_q(gaussian_blur(x, s)), "gaussian") for s in sig])
    ratio = est / sig[:, None]
    assert float((ratio[:5] - 1).abs().max()) < 0.08, ratio
    assert float(ratio[5:].min()) > 0.8 and float(ratio[5:].max()) < 1.0, ratio
    assert bool((est[1:] > est[:-1]).all()), est


def test_defocus_radius(held_out):
    # radii >= 1.5 px are read from the zeros of the disk's spectrum: within a few percent
    rad = torch.tensor([4.0, 7.0, 2.0])
    est = estimate_blur(_q(defocus_blur(held_out, rad)), "defocus")
    assert float((est / rad - 1).abs().max()) < 0.05, est


@pytest.fixture(scope="module")
def imagenet_held_out(shared_data):
    root = shared_data("imagenet-sample", "dev")
    paths = sorted(root.rglob("*.jpg"))[50::12]  # 5 images, none used for tuning
    return torch.stack([_crop(np.asarray(Image.open(p).convert("RGB"))) for p in paths])


def test_targets_on_held_out_imagenet(imagenet_held_out):
    # the issue's targets: Gaussian median <= 10 % (here sigma >= 1, where the photo's own
    # blur or sharpening is small against the applied blur), defocus median <= 15 %
    x = imagenet_held_out
    for fam, op, grid, target in (
        ("gaussian", gaussian_blur, (1.0, 2.0, 3.5, 5.0), 0.10),
        ("defocus", defocus_blur, (1.5, 3.0, 5.0, 8.0), 0.15),
    ):
        rel = torch.cat([(estimate_blur(_q(op(x, p)), fam) / p - 1).abs() for p in grid])
        assert float(rel.median()) <= target, (fam, rel)
    # the spectral defocus reading is much better than the target for radii >= 1.5
    assert float(rel.quantile(0.9)) < 0.05, rel


@pytest.fixture(scope="module")
def imagenet_held_out_256(shared_data):
    root = shared_data("imagenet-sample", "dev")
    paths = sorted(root.rglob("*.jpg"))[50::2]  # 25 images, none used for tuning
    ims = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    return torch.stack([_crop(im, 256) for im in ims])


def test_gaussian_issue_targets_median_and_p90_held_out(imagenet_held_out_256):
    # the issue's acceptance grid and targets: median <= 10 % AND p90 <= 25 % over all
    # (image, sigma) pairs, sigma in [0.5, 5], 8-bit quantised; measured 6.6 % and 17.9 % here
    # (the single re-blur reading it replaced: 9.7 % and 36 % on the held-out photographs)
    x = imagenet_held_out_256
    grid = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0)
    rel = torch.cat(
        [(estimate_blur(_q(gaussian_blur(x, s)), "gaussian") / s - 1).abs() for s in grid]
    )
    assert rel.numel() == 8 * 25
    assert float(rel.median()) <= 0.10, rel
    assert float(rel.quantile(0.9)) <= 0.25, rel


def test_motion_length_and_angle(held_out):
    length = torch.tensor([7.0, 15.0, 26.0])
    angle = torch.tensor([30.0, 120.0, 170.0])
    est = estimate_blur(_q(motion_blur(held_out, length, angle)), "motion")
    assert float((est["length"] / length - 1).abs().max()) < 0.15, est
    d = (est["angle"] - angle + 90) % 180 - 90
    assert float(d.abs().max()) < 5.0, est


def test_motion_angle_convention_streak_rising_right():
    # one bright dot smeared along +45 degrees (y up) must read 45, not 135
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 128, 128, generator=g)
    x = gaussian_blur(x, 1.0)
    est = estimate_blur(motion_blur(x, 12.0, 45.0), "motion")
    assert abs(float(est["angle"][0]) - 45.0) < 5.0


def test_more_blur_reads_larger(held_out):
    x = held_out[:1]
    vals = [float(estimate_blur(gaussian_blur(x, s))) for s in (1.0, 2.0, 4.0)]
    assert vals == sorted(vals)


def test_single_image_and_errors(held_out):
    assert estimate_blur(held_out[0]).shape == ()
    m = estimate_blur(held_out[0], "motion")
    assert set(m) == {"length", "angle"} and m["length"].shape == ()
    with pytest.raises(ParameterError, match="family"):
        estimate_blur(held_out, "zoom")
    with pytest.raises(ShapeError):
        estimate_blur(torch.rand(1, 3, 16, 16))
