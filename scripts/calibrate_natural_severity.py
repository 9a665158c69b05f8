"""Calibrate the severity tables of the natural-blur corruption families.

Rule: severity ``s`` of every natural family is the strength at which the mean
SSIM (blurkit.measure.ssim: Gaussian 11-tap window, sigma 1.5) between the
corrupted and the clean image equals the mean SSIM of the benchmark's
``defocus_blur`` at the same severity, on the same natural images:

- ``imagenet-c`` / ``natural`` tables: ImageNet-C defocus_blur (reference port
  ``imagecorruptions``) on 224x224 centre crops of the ImageNet sample
  (../shared/data/imagenet-sample, first N images in sorted order);
- ``cifar-10-c`` table: CIFAR-10-C defocus_blur on 32x32 CIFAR-10 test images
  (../shared/data/cifar10/cifar10-test.tar.gz, every 50th image).

Random families are averaged over their random draws with a fixed seed per
image (seed = image index), the same seeds at every trial strength (common
random numbers keep the mean SSIM monotone in the strength); the strength is
found by inverting the mean-SSIM curve measured on a log-spaced grid of
14 strengths (linear interpolation in log strength), then checked by
measuring the SSIM at the strength found; where that misses the target by
more than 0.0015, up to 8 bisection steps inside the grid bracket refine it
(the best strength seen is kept).

Usage: python scripts/calibrate_natural_severity.py [--n224 40] [--n32 200] [--families ...]
Prints the targets and the tables as Markdown and Python literals.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def imagenet_images(n: int) -> torch.Tensor:
    files = sorted((DATA / "imagenet-sample" / "dev").glob("*/*.jpg"))[:n]
    out = []
    for f in files:
        a = np.asarray(Image.open(f).convert("RGB"))
        h, w = a.shape[:2]
        t, l = (h - 224) // 2, (w - 224) // 2
        out.append(a[t : t + 224, l : l + 224])
    return np.stack(out)


def cifar_images(n: int) -> np.ndarray:
    out = []
    with tarfile.open(DATA / "cifar10" / "cifar10-test.tar.gz") as tf:
        members = sorted(
            (m for m in tf if m.isfile() and m.name.endswith(".jpg")), key=lambda m: m.name
        )
        for m in members[:: max(1, len(members) // n)][:n]:
            out.append(np.asarray(Image.open(io.BytesIO(tf.extractfile(m).read())).convert("RGB")))
    return np.stack(out)


def to_t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255


def targets(imgs: np.ndarray, kind: str) -> list[float]:
    """Mean SSIM of the benchmark defocus_blur per severity 1..5."""
    from blurkit.measure import ssim

    if kind == "cifar":
        import contextlib

        # CIFAR-10-C's defocus table (make_cifar_c.py) on the imagecorruptions code path
        from imagecorruptions import corruptions as ic

        table = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)]

        def run(x, s):
            c = table[s - 1]
            xx = np.asarray(x) / 255.0
            kernel = ic.disk(radius=c[0], alias_blur=c[1])
            import cv2

            ch = [cv2.filter2D(xx[:, :, d].astype(np.float32), -1, kernel) for d in range(3)]
            return np.clip(np.array(ch).transpose((1, 2, 0)), 0, 1) * 255

        del contextlib
    else:
        from imagecorruptions import corrupt

        def run(x, s):
            return corrupt(x, corruption_name="defocus_blur", severity=s)

    clean = to_t(imgs)
    res = []
    for s in range(1, 6):
        out = np.stack([np.asarray(run(x, s), dtype=np.float64) for x in imgs])
        blurred = torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255
        res.append(float(ssim(blurred.clamp(0, 1), clean).mean()))
    return res


def mean_ssim(name: str, x: torch.Tensor, preset: str, params: dict) -> float:
    from blurkit import corrupt
    from blurkit.measure import ssim

    y = corrupt(x, name, 3, preset=preset, seed=list(range(x.shape[0])), **params)
    return float(ssim(y.clamp(0, 1), x).mean())


# family -> strength parameter and log-spaced search range per table (224 px, 32 px)
FAMILIES = {
    "camera_shake": ("length", (8.0, 800.0), (0.5, 80.0)),
    "depth_defocus": ("max_radius", (1.0, 200.0), (0.1, 30.0)),
    "myopia": ("diopters", (0.1, 12.0), (0.05, 20.0)),
    "astigmatism": ("cylinder", (0.1, 20.0), (0.05, 30.0)),
    "dirty_lens": ("core_sigma", (0.05, 12.0), (0.01, 3.0)),
}

# parameters held fixed per severity (index 0..4) while the strength is calibrated
FIXED = {"dirty_lens": lambda i: {"weight": 0.1 * (i + 1)}}


def calibrate(
    name: str,
    x,
    preset: str,
    tg: list[float],
    points: int = 14,
    tol: float = 0.0015,
    refine: int = 8,
):
    """Strengths matching each target SSIM: mean SSIM on a log-spaced grid of strengths,
    inverted by linear interpolation in (SSIM, log strength), then checked at the result."""
    pname, r224, r32 = FAMILIES[name]
    lo, hi = r32 if preset == "cifar-10-c" else r224
    grid = np.exp(np.linspace(math.log(lo), math.log(hi), points))
    fixed = FIXED.get(name, lambda i: {})
    curves: dict[str, np.ndarray] = {}
    out, check = [], []
    for i, t in enumerate(tg):
        extra = fixed(i)
        key = json.dumps(extra)
        if key not in curves:
            c = [mean_ssim(name, x, preset, {pname: float(v), **extra}) for v in grid]
            # enforce monotone decreasing (tiny non-monotone noise from random draws)
            curves[key] = np.minimum.accumulate(np.array(c))
        curve = curves[key]
        if t > curve[0] or t < curve[-1]:
            out.append(float("nan"))
            check.append(float("nan"))
            continue
        v = float(np.exp(np.interp(-t, -curve, np.log(grid))))
        got = mean_ssim(name, x, preset, {pname: v, **extra})
        # refine by bisection inside the grid bracket when interpolation missed by > tol
        j = int(np.searchsorted(-curve, -t))
        a, b = math.log(grid[max(j - 1, 0)]), math.log(grid[min(j, points - 1)])
        for _ in range(refine if abs(got - t) > tol else 0):
            m = 0.5 * (a + b)
            sm = mean_ssim(name, x, preset, {pname: math.exp(m), **extra})
            if sm > t:
                a = m
            else:
                b = m
            if abs(sm - t) < abs(got - t):
                v, got = math.exp(m), sm
        out.append(v)
        check.append(got)
    return out, check


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n224", type=int, default=40)
    p.add_argument("--n32", type=int, default=200)
    p.add_argument("--families", nargs="*", default=list(FAMILIES))
    p.add_argument("--targets-only", action="store_true")
    p.add_argument("--presets", nargs="*", default=["imagenet-c", "cifar-10-c"])
    p.add_argument("--cache", default="", help="JSON file caching the target SSIMs")
    a = p.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    big, small = imagenet_images(a.n224), cifar_images(a.n32)
    cache = Path(a.cache) if a.cache else None
    if cache is not None and cache.exists():
        tb, ts = json.loads(cache.read_text())
    else:
        tb, ts = targets(big, "imagenet"), targets(small, "cifar")
        if cache is not None:
            cache.write_text(json.dumps([tb, ts]))
    print("target SSIM imagenet-c defocus (224):", [round(v, 4) for v in tb])
    print("target SSIM cifar-10-c defocus (32):", [round(v, 4) for v in ts])
    sys.stdout.flush()
    if a.targets_only:
        return
    xb, xs = to_t(big), to_t(small)
    for name in a.families:
        for preset, x, tg in (("imagenet-c", xb, tb), ("cifar-10-c", xs, ts)):
            if preset not in a.presets:
                continue
            vals, check = calibrate(name, x, preset, tg)
            print(
                f"{name} [{preset}]: {[float(f'{v:.3g}') for v in vals]}  "
                f"achieved SSIM {[round(c, 4) for c in check]}  ({time.time() - t0:.0f}s)"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
