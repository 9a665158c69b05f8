"""Blind deblurring of real camera shake: Levin et al. 2009's captures, their protocol.

    OMP_NUM_THREADS=1 python benchmarks/deblur_levin.py                # the 16 dev files
    OMP_NUM_THREADS=1 python benchmarks/deblur_levin.py --images 1 --kernels 1 2

Data: ``imNN_kerMM.mat`` in ``../shared/data/levin`` (``--data``, or the
``BLURKIT_SHARED_DATA`` folder): ``x`` sharp, ``y`` a real capture blurred by
camera shake, ``f`` its recorded kernel (255x255 grayscale). ``y`` is ``x``
*correlated* with ``f``, so the convolution kernel is ``f`` rotated by 180 degrees.

Protocol (:func:`blurkit.measure.compare_up_to_shift`, Levin's ``comp_upto_shift``
with integer shifts): PSNR / SSIM against ``x`` at the best shift of at most 5 px,
a 15 px border cropped; the error ratio is the SSD of a result over the SSD of the
non-blind result with the true kernel (:func:`blurkit.measure.error_ratio`).

Methods, all with default parameters:

- ``input``: the blurred capture itself.
- ``true-kernel tv``: :func:`~blurkit.defenses.deblur.tv_deconv` with the recorded kernel.
- ``blind free``: :func:`~blurkit.defenses.deblur.blind_deblur` (its default: free-form
  kernel estimate, then ``tv_deconv``).
- ``blind free 5/7/9``: the same with three pyramid depths (coarsest kernel 5, 7 and
  9 px), the sparsest TV result kept per image (``estimator={"coarsest": (5, 7, 9)}``).
- ``blind gaussian`` / ``blind motion``: the parametric estimates of the previous
  ``blind_deblur`` default (gaussian + Wiener) and the motion family with ``tv``.

Seconds per image: wall time of one call (no warm-up: the free-form estimate takes
seconds), on the machine the script runs on; ``--threads`` sets torch's threads.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from blurkit.defenses.deblur import blind_deblur, tv_deconv  # noqa: E402
from blurkit.measure import compare_up_to_shift  # noqa: E402


def load(path: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from scipy.io import loadmat  # not pickle: a MATLAB container of arrays

    d = loadmat(path)

    def t(a):
        return torch.from_numpy(a).to(torch.float32)[None, None]

    return t(d["x"]), t(d["y"]), t(d["f"]).flip(-2, -1)


METHODS = {
    "input": lambda y, k: y,
    "true-kernel tv": lambda y, k: tv_deconv(y, k),
    "blind free": lambda y, k: blind_deblur(y),
    "blind free 5/7/9": lambda y, k: blind_deblur(y, estimator={"coarsest": (5, 7, 9)}),
    "blind gaussian": lambda y, k: blind_deblur(y, "gaussian", "wiener"),
    "blind motion": lambda y, k: blind_deblur(y, "motion", "tv"),
}


def main() -> None:
    default = Path(os.environ.get("BLURKIT_SHARED_DATA", ROOT / ".." / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default / "levin")
    ap.add_argument("--images", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--kernels", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    methods = [m for m in METHODS if m in args.methods or m == "true-kernel tv"]
    rows, secs = [], {m: [] for m in methods}
    for i in args.images:
        for j in args.kernels:
            p = args.data / f"im{i:02d}_ker{j:02d}.mat"
            if not p.is_file():
                sys.exit(f"missing {p} (see /work/shared/data/README.md, levin/)")
            x, y, k = load(p)
            row = {"file": p.stem}
            ref = None
            for m in methods:
                t0 = time.perf_counter()
                z = METHODS[m](y, k)
                secs[m].append(time.perf_counter() - t0)
                r = compare_up_to_shift(z, x)
                if m == "true-kernel tv":
                    ref = r.ssd
                row[m] = (float(r.psnr), float(r.ssim), float(r.ssd))
            for m in methods:
                row[m] = (*row[m][:2], row[m][2] / float(ref))
            rows.append(row)
            print(
                p.stem,
                "  ".join(f"{m}: {row[m][0]:.2f} dB ER {row[m][2]:.2f}" for m in methods),
                file=sys.stderr,
                flush=True,
            )
    head = "| file | " + " | ".join(f"{m} PSNR / SSIM / ER" for m in methods) + " |"
    print(head)
    print("|---" * (len(methods) + 1) + "|")
    for row in rows:
        cells = [f"{row[m][0]:.2f} / {row[m][1]:.3f} / {row[m][2]:.2f}" for m in methods]
        print(f"| {row['file']} | " + " | ".join(cells) + " |")
    n = len(rows)
    mean = [
        f"**{sum(r[m][0] for r in rows) / n:.2f}** / {sum(r[m][1] for r in rows) / n:.3f} / "
        f"{sum(r[m][2] for r in rows) / n:.2f} (max {max(r[m][2] for r in rows):.2f})"
        for m in methods
    ]
    print("| mean | " + " | ".join(mean) + " |")
    print("| s / image | " + " | ".join(f"{sum(secs[m]) / n:.2f}" for m in methods) + " |")


if __name__ == "__main__":
    main()
