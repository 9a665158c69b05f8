"""Direct vs FFT convolution in blurkit's engine, and the crossover behind ``method="auto"``.

Method: batch of 64 RGB float32 images at 224x224 on the CPU, one kernel per
image (grouped convolution), square kernels of growing side; warm-up 2, 5
repeats, median. Also times kornia's ``filter2d`` (cross-correlation, one
kernel per sample, direct only) in the same process for reference.

Run: ``python benchmarks/blur_engine.py [--write]``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import median_time  # noqa: E402

from blurkit import blur  # noqa: E402
from blurkit.functional import choose_method  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument(
        "--write", action="store_true", help="append the table to benchmarks/RESULTS.md"
    )
    args = ap.parse_args()
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size)
    try:
        import kornia.filters as kf
    except ImportError:  # pragma: no cover
        kf = None
    rows = [
        "| kernel | direct ms/img | fft ms/img | kornia filter2d ms/img | auto picks | fastest |",
        "|---|---|---|---|---|---|",
    ]
    for k in (3, 5, 9, 15, 21, 31, 41, 61):
        kern = torch.rand(args.batch, 1, k, k)
        kern /= kern.sum((-2, -1), keepdim=True)
        td = median_time(lambda: blur(x, kern, method="direct")) / args.batch * 1e3  # noqa: B023
        tf = median_time(lambda: blur(x, kern, method="fft")) / args.batch * 1e3  # noqa: B023
        tk = float("nan")
        if kf is not None and k <= 31:
            tk = (
                median_time(lambda: kf.filter2d(x, kern[:, 0], border_type="reflect"), repeats=3)
                / args.batch
                * 1e3
            )  # noqa: B023
        auto = choose_method((args.size, args.size), (k, k))
        best = "direct" if td < tf else "fft"
        rows.append(f"| {k}x{k} | {td:.2f} | {tf:.2f} | {tk:.2f} | {auto} | {best} |")
        print(rows[-1], flush=True)
        n = args.size + k - 1
        print(
            f"    measured crossover constant for this size: {td / tf * 3.0 * 0 + (k * k * args.size**2) / (n * n * math.log2(n * n)) * (tf / td):.2f}"
        )
    table = "\n".join(rows)
    print(table)
    if args.write:
        with open(Path(__file__).parent / "RESULTS.md", "a") as f:
            f.write(
                f"\n## Blur engine: direct vs FFT (batch {args.batch}, {args.size}x{args.size}, per-sample kernels)\n\n{table}\n"
            )


if __name__ == "__main__":
    main()
