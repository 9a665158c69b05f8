"""ImageNet-C blur corruptions: blurkit (batched) against the reference port, per image.

Method: the reference (``imagecorruptions``, fork ``imagecorruptions-imaug``) runs
in the same process on one uint8 224x224x3 image at a time, as it is used
(numba compiled and warm); blurkit corrupts a float32 batch of 64 images
``(64, 3, 224, 224)`` on the CPU with ``blurkit.corrupt``. Each family is timed at
severities 1-5 (motion at a fixed random angle per image, glass and motion with
a fixed seed), the per-image time is the median over repeats (after warm-up) of
one call divided by the images it corrupts, then averaged over the 5 severities.
Reference and blurkit are timed alternately per severity, so load on a shared
machine affects both alike; the ratio is the number to read.

Run: ``python benchmarks/corruptions.py [--repeats 5] [--families zoom_blur,...] [--write]``.
``--write`` appends the table to ``benchmarks/RESULTS.md``.
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

import blurkit  # noqa: E402

FAMILIES = ("gaussian_blur", "defocus_blur", "motion_blur", "zoom_blur", "glass_blur")
# acceptance: blurkit at least this many times faster per image than the reference
REQUIRED = {
    "gaussian_blur": 2.0,
    "defocus_blur": 2.0,
    "motion_blur": 2.0,
    "zoom_blur": 5.0,
    "glass_blur": 5.0,
}


def _natural_batch(batch: int, size: int) -> tuple[torch.Tensor, np.ndarray]:
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    imgs = []
    for i in range(batch):
        p = photos[i % len(photos)]
        top = (i * 7) % (p.shape[0] - size)
        left = (i * 13) % (p.shape[1] - size)
        imgs.append(p[top : top + size, left : left + size, :3])
    arr = np.stack(imgs)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255, arr


def _reference(name: str):
    from imagecorruptions import corruptions as ref

    if name == "glass_blur":
        return lambda img, s: ref.glass_blur(img, s, seed=0)
    if name == "motion_blur":

        def motion(img, s):
            np.random.seed(0)  # noqa: NPY002  (the reference draws its angle from the legacy RNG)
            return ref.motion_blur(img, s)

        return motion
    return getattr(ref, name)


def run(families, batch: int, size: int, repeats: int, ref_images: int) -> list[dict]:
    x, arr = _natural_batch(batch, size)
    rows = []
    for name in families:
        ref_fn = _reference(name)
        ref_fn(arr[0], 1)  # numba compile / warm caches
        t_ref, t_ours = [], []
        for s in range(1, 6):
            imgs = arr[:ref_images]

            def ref_call(imgs=imgs, s=s, ref_fn=ref_fn):
                for img in imgs:
                    ref_fn(img, s)

            t_ref.append(median_time(ref_call, warmup=1, repeats=repeats) / len(imgs))
            t_ours.append(
                median_time(
                    lambda s=s, name=name: blurkit.corrupt(x, name, s, seed=0),
                    warmup=1,
                    repeats=repeats,
                )
                / batch
            )
        r, o = 1e3 * float(np.mean(t_ref)), 1e3 * float(np.mean(t_ours))
        rows.append({"family": name, "reference_ms": r, "blurkit_ms": o, "speedup": r / o})
        print(f"{name}: reference {r:.2f} ms/img, blurkit {o:.2f} ms/img, x{r / o:.1f}", flush=True)
    return rows


def table(rows: list[dict], batch: int, size: int) -> str:
    lines = [
        f"Per image, {size}x{size} RGB, blurkit batch of {batch} (float32, CPU, "
        f"{torch.get_num_threads()} threads), reference one uint8 image at a time; "
        "mean over severities 1-5 of the median over repeats.",
        "",
        "| family | reference ms/img | blurkit ms/img | speed-up | required |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        need = REQUIRED[r["family"]]
        ok = "yes" if r["speedup"] >= need else "NO"
        lines.append(
            f"| {r['family']} | {r['reference_ms']:.2f} | {r['blurkit_ms']:.2f} | "
            f"x{r['speedup']:.1f} | x{need:.0f} ({ok}) |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ref-images", type=int, default=8, help="reference images per timed call")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument(
        "--write", action="store_true", help="append the table to benchmarks/RESULTS.md"
    )
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = run(args.families.split(","), args.batch, args.size, args.repeats, args.ref_images)
    text = table(rows, args.batch, args.size)
    print(text)
    if args.write:
        out = Path(__file__).parent / "RESULTS.md"
        header = "" if out.exists() else "# Benchmark results\n"
        with out.open("a") as f:
            f.write(
                f"{header}\n## ImageNet-C blur corruptions (benchmarks/corruptions.py)\n\n"
                f"Machine: {platform.processor() or platform.machine()}, "
                f"torch {torch.__version__}.\n\n"
                f"{text}\n"
            )


if __name__ == "__main__":
    main()
