"""Per-sample random blur augmentation: blurkit vs kornia vs albumentations.

Method: a batch of 64 RGB images at 224x224 on the CPU, p=1 (every image
blurred), the same parameter ranges for every library:

- Gaussian: sigma ~ U(0.1, 2.0) per image. blurkit sizes its 1-D kernels from
  the largest sigma drawn (radius ``int(4 sigma + 0.5)``, 17 taps at sigma 2);
  kornia needs a fixed kernel size, given the same 17; albumentations derives
  it from sigma (``blur_limit=0``).
- Motion: length in [3, 15] px, angle in [-180, 180) degrees, uniform exposure.
  blurkit draws a sub-pixel length per image; kornia draws one odd kernel size
  for the whole batch (its documented behaviour) and an angle per image;
  albumentations draws per image (odd sizes, ``direction_range=(0, 0)``).

blurkit and kornia take the float32 ``(B, 3, H, W)`` batch in one call;
albumentations loops over the 64 uint8 HWC images (its intended use). Each
timing includes drawing the parameters and building the kernels. Warm-up 2,
repeats 7, median, all in one process; reported as ms per image and as the
ratio to blurkit (> 1: blurkit faster). ``--threads`` sets torch's and
OpenCV's thread count (default: leave both as they are).

Run: ``python benchmarks/augment.py [--threads N] [--write]``.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import median_time  # noqa: E402

from blurkit.defenses import RandomGaussianBlur, RandomMotionBlur  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--write", action="store_true", help="append the table to benchmarks/RESULTS.md"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        import cv2

        if args.threads:
            cv2.setNumThreads(args.threads)
    except ImportError:  # pragma: no cover
        cv2 = None

    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=g)
    imgs = [np.ascontiguousarray((im.permute(1, 2, 0).numpy() * 255).astype(np.uint8)) for im in x]
    b = args.batch

    def t(fn) -> float:
        return median_time(fn, warmup=2, repeats=args.repeats) / b * 1e3

    cases: dict[str, dict[str, float]] = {}

    bk_g = RandomGaussianBlur((0.1, 2.0), p=1.0, seed=0)
    bk_m = RandomMotionBlur((3.0, 15.0), (-180.0, 180.0), p=1.0, seed=0)
    cases["gaussian"] = {"blurkit": t(lambda: bk_g(x))}
    cases["motion"] = {"blurkit": t(lambda: bk_m(x))}
    print(f"blurkit gaussian {cases['gaussian']['blurkit']:.3f} ms/img", flush=True)
    print(f"blurkit motion {cases['motion']['blurkit']:.3f} ms/img", flush=True)

    try:
        import kornia.augmentation as K

        kg = K.RandomGaussianBlur((17, 17), (0.1, 2.0), border_type="reflect", p=1.0)
        km = K.RandomMotionBlur((3, 15), (-180.0, 180.0), 0.0, border_type="reflect", p=1.0)
        cases["gaussian"]["kornia"] = t(lambda: kg(x))
        cases["motion"]["kornia"] = t(lambda: km(x))
        print(f"kornia done: {cases['gaussian']['kornia']:.3f} / {cases['motion']['kornia']:.3f}")
    except ImportError:  # pragma: no cover
        pass

    try:
        import albumentations as A

        ag = A.GaussianBlur(blur_limit=0, sigma_limit=(0.1, 2.0), p=1.0)
        am = A.MotionBlur(
            blur_limit=(3, 15), angle_range=(0.0, 360.0), direction_range=(0.0, 0.0),
            allow_shifted=False, p=1.0,
        )  # fmt: skip
        cases["gaussian"]["albumentations"] = t(lambda: [ag(image=im)["image"] for im in imgs])
        cases["motion"]["albumentations"] = t(lambda: [am(image=im)["image"] for im in imgs])
        print("albumentations done")
    except ImportError:  # pragma: no cover
        pass

    libs = ["blurkit", "kornia", "albumentations"]
    rows = [
        "| augmentation | " + " | ".join(f"{lib} ms/img" for lib in libs)
        + " | kornia / blurkit | albumentations / blurkit |",
        "|---|" + "---|" * (len(libs) + 2),
    ]  # fmt: skip
    for name, res in cases.items():
        cells = [f"{res[lib]:.3f}" if lib in res else "n/a" for lib in libs]
        ratios = [
            f"{res[lib] / res['blurkit']:.2f}x" if lib in res else "n/a"
            for lib in ("kornia", "albumentations")
        ]
        rows.append(f"| {name} | " + " | ".join(cells + ratios) + " |")
    table = "\n".join(rows)
    print(table)
    if args.write:
        head = (
            f"\n## Random blur augmentation, per-sample parameters (batch {b}, "
            f"{args.size}x{args.size} RGB, CPU, torch threads {torch.get_num_threads()}, "
            f"{platform.processor() or platform.machine()})\n\n"
        )
        with open(Path(__file__).parent / "RESULTS.md", "a") as f:
            f.write(head + table + "\n")


if __name__ == "__main__":
    main()
