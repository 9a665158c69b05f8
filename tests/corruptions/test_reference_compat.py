"""blurkit's ImageNet-C blur families against the reference port ``imagecorruptions``.

Acceptance (foundation issue): gaussian, defocus, zoom, and motion at the same
angle reach PSNR >= 40 dB against the reference at every severity, on natural
224x224 images with the ``imagenet-c`` preset and on 32x32 images with
``cifar-10-c`` (reference built from the port's own helpers with the CIFAR
parameters, mirroring ``make_cifar_c.py``). The implementation is exact up to
float32 rounding (about 140 dB measured), so the tests pin 60 dB.

Glass blur is random: its mean SSIM to the clean image over >= 50 natural images
is within 0.01 of the reference's at every severity (skimage
``structural_similarity`` for both). 64x64 crops are used for the imagenet-c
preset and 32x32 images for cifar-10-c to keep the reference's numba walk fast.
Beyond the statistic, the batched walk is checked to *equal* the reference
when fed the reference's own random draws (numba's ``np.random`` stream is the
legacy ``RandomState`` stream).
"""

from __future__ import annotations

import io
import math
import tarfile

import numpy as np
import pytest
import torch

pytest.importorskip("imagecorruptions")
from imagecorruptions import corruptions as ref  # noqa: E402
from skimage.filters import gaussian as sk_gaussian  # noqa: E402
from skimage.metrics import structural_similarity  # noqa: E402

import blurkit  # noqa: E402
from blurkit.corruptions import imagenet_c as ic  # noqa: E402

PSNR_MIN = 60.0  # acceptance is 40 dB; see the module docstring
SEVERITIES = (1, 2, 3, 4, 5)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _to_t(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float() / 255


def _to_np(t: torch.Tensor) -> np.ndarray:
    return t.permute(0, 2, 3, 1).double().numpy() * 255


def _crops(photos: dict, size: int, per_photo: int, scale: float = 1.0) -> np.ndarray:
    from PIL import Image

    out = []
    for img in photos.values():
        im = Image.fromarray(img)
        if scale != 1.0:
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BICUBIC)
        a = np.asarray(im)
        h, w = a.shape[:2]
        for k in range(per_photo):
            top = (k * 97) % (h - size)
            left = (k * 61 + 17) % (w - size)
            out.append(a[top : top + size, left : left + size])
    return np.stack(out)


@pytest.fixture(scope="module")
def natural224(photos_uint8) -> np.ndarray:
    return _crops(photos_uint8, 224, 1)[:4]


@pytest.fixture(scope="module")
def natural32(photos_uint8) -> np.ndarray:
    return _crops(photos_uint8, 32, 2, scale=0.125)


# ------------------------------------------------------------- reference for both presets


def _reference(
    name: str, img: np.ndarray, severity: int, preset: str, angle: float = 0.0
) -> np.ndarray:
    """The reference output; for cifar-10-c built from the port's helpers (make_cifar_c)."""
    row = ic.SEVERITY_TABLES[preset][name][severity - 1]
    x = img / 255.0
    if name == "gaussian_blur":
        out = sk_gaussian(x, sigma=row[0], channel_axis=-1)
        return np.clip(out, 0, 1) * 255
    if name == "defocus_blur":
        import cv2

        kernel = ref.disk(radius=row[0], alias_blur=row[1])
        out = np.stack([cv2.filter2D(x[..., d], -1, kernel) for d in range(x.shape[2])], -1)
        return np.clip(out, 0, 1) * 255
    if name == "motion_blur":
        return np.clip(ref._motion_blur(img, radius=int(row[0]), sigma=row[1], angle=angle), 0, 255)
    if name == "zoom_blur":
        xf = x.astype(np.float32)
        out = np.zeros_like(xf)
        factors = np.arange(1, row[0], row[1])
        for z in factors:
            out += ref.clipped_zoom(xf, z)[: xf.shape[0], : xf.shape[1]]
        return np.clip((xf + out) / (len(factors) + 1), 0, 1) * 255
    raise ValueError(name)


def _ours(
    name: str, batch: np.ndarray, severity: int, preset: str, angle: float = 0.0
) -> np.ndarray:
    params = {"angle": angle} if name == "motion_blur" else {}
    return _to_np(blurkit.corrupt(_to_t(batch), name, severity, preset=preset, **params))


DETERMINISTIC = ("gaussian_blur", "defocus_blur", "motion_blur", "zoom_blur")


def _check_psnr(name, images, preset, angles=(0.0,)):
    worst = float("inf")
    for s in SEVERITIES:
        for angle in angles:
            ours = _ours(name, images, s, preset, angle)
            for i, img in enumerate(images):
                if preset == "imagenet-c" and name != "motion_blur":
                    expected = getattr(ref, name)(img, s)  # the port's own corruption
                else:
                    expected = _reference(name, img, s, preset, angle)
                worst = min(worst, _psnr(expected, ours[i]))
    assert worst >= PSNR_MIN, f"{name} {preset}: min PSNR {worst:.1f} dB"


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_imagenet_c_matches_reference_224(name, natural224):
    imgs = natural224[:2] if name == "zoom_blur" else natural224
    _check_psnr(
        name, imgs, "imagenet-c", angles=(-37.3, 12.0, 44.9) if name == "motion_blur" else (0.0,)
    )


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_cifar_matches_reference_32(name, natural32):
    _check_psnr(
        name,
        natural32[:6],
        "cifar-10-c",
        angles=(-44.0, 3.3, 29.0) if name == "motion_blur" else (0.0,),
    )


def _cifar_test_images(shared_data, n: int) -> np.ndarray:
    from PIL import Image

    path = shared_data("cifar10", "cifar10-test.tar.gz")
    out = []
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".jpg"):
                data = tar.extractfile(member).read()
                out.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
                if len(out) == n:
                    break
    return np.stack(out)


def _imagenet_sample(shared_data, n: int) -> np.ndarray:
    from PIL import Image

    root = shared_data("imagenet-sample", "dev")
    files = sorted(root.rglob("*.JPEG")) + sorted(root.rglob("*.jpg"))
    out = [np.asarray(Image.open(f).convert("RGB"))[16:240, 16:240] for f in files[:n]]
    return np.stack(out)


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_matches_reference_on_shared_data(name, shared_data):
    _check_psnr(name, _cifar_test_images(shared_data, 4), "cifar-10-c", angles=(17.0,))
    _check_psnr(name, _imagenet_sample(shared_data, 1), "imagenet-c", angles=(-21.0,))


# ------------------------------------------------------------- glass


def _glass_reference(img: np.ndarray, severity: int, preset: str, seed: int) -> np.ndarray:
    sigma, d, it = ic.SEVERITY_TABLES[preset]["glass_blur"][severity - 1]
    x = np.uint8(sk_gaussian(img / 255.0, sigma=sigma, channel_axis=-1) * 255)
    x = ref._shuffle_pixels_njit_glass_blur(x.shape[0], x.shape[1], x, (sigma, d, it), seed)
    return np.clip(sk_gaussian(x / 255.0, sigma=sigma, channel_axis=-1), 0, 1) * 255


def _reference_displacements(seed: int, h: int, w: int, d: int, it: int) -> torch.Tensor:
    # the reference draws (dx, dy) = randint(-d, d, 2) per visited pixel, in walk order
    draws = np.random.RandomState(seed).randint(-d, d, size=(it, h - 2 * d, w - 2 * d, 2))
    return torch.from_numpy(np.stack([draws[..., 1], draws[..., 0]], 1))[None]


@pytest.mark.parametrize("preset,size", [("imagenet-c", 80), ("cifar-10-c", 32)])
def test_glass_walk_equals_reference_with_its_own_draws(preset, size, natural224, natural32):
    img = natural224[0, :size, :size] if size > 32 else natural32[0]
    for s in SEVERITIES:
        sigma, d, it = ic.SEVERITY_TABLES[preset]["glass_blur"][s - 1]
        expected = _glass_reference(img, s, preset, seed=s)
        disp = _reference_displacements(s, size, size, int(d), int(it))
        ours = ic.imagenet_c_glass_blur(
            _to_t(img[None]), sigma, int(d), int(it), displacements=disp
        )
        # equal except where float32 rounding moves a value across a uint8 step of the
        # quantisation (frequent at sigma 0.25, a near-identity blur: ~1% of values, 68 dB)
        diff = np.abs(expected - _to_np(ours)[0])
        assert _psnr(expected, _to_np(ours)[0]) >= 60
        assert diff.max() <= 1.0 + 1e-3 and np.mean(diff < 1e-2) >= 0.98


def _mean_ssim(clean: np.ndarray, blurred: np.ndarray) -> float:
    return float(
        np.mean(
            [
                structural_similarity(c.astype(np.float64), b, channel_axis=-1, data_range=255)
                for c, b in zip(clean, blurred, strict=True)
            ]
        )
    )


def _glass_ssim_gaps(images: np.ndarray, preset: str) -> list[float]:
    gaps = []
    for s in SEVERITIES:
        expected = np.stack(
            [_glass_reference(img, s, preset, seed=1000 * s + i) for i, img in enumerate(images)]
        )
        ours = _to_np(blurkit.corrupt(_to_t(images), "glass_blur", s, preset=preset, seed=s))
        gaps.append(_mean_ssim(images, ours) - _mean_ssim(images, expected))
    return gaps


def test_glass_ssim_statistic_matches_reference(photos_uint8):
    # >= 50 natural images per preset: 64x64 crops (imagenet-c) and 32x32 crops (cifar-10-c)
    imgs64 = _crops(photos_uint8, 64, 9, scale=0.5)
    imgs32 = _crops(photos_uint8, 32, 9, scale=0.25)
    assert len(imgs64) >= 50 and len(imgs32) >= 50
    for preset, imgs in (("imagenet-c", imgs64), ("cifar-10-c", imgs32)):
        gaps = _glass_ssim_gaps(imgs, preset)
        assert max(abs(g) for g in gaps) <= 0.01, f"{preset}: SSIM gaps {gaps}"


def test_glass_ssim_statistic_on_cifar_test_images(shared_data):
    imgs = _cifar_test_images(shared_data, 60)
    gaps = _glass_ssim_gaps(imgs, "cifar-10-c")
    assert max(abs(g) for g in gaps) <= 0.01, f"SSIM gaps {gaps}"
