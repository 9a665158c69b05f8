"""Which pyramid depth of the free-form blind estimate, on synthetic camera shake.

    OMP_NUM_THREADS=1 python benchmarks/freeform_depths.py

scikit-image's ``camera`` (128 px crop) blurred by :func:`blurkit.kernels.camera_shake_kernel`
of lengths 12 and 20 px, seeds 1-6; per shake and coarsest kernel side (5, 7, 9 px): the
kernel error (relative L2 at the best integer alignment), the PSNR after ``tv_deconv``
with the estimate (up to shift, 10 px border) and the normalised sparsity of that result,
which ``estimate_freeform_kernel(coarsest=(5, 7, 9))`` minimises to pick a depth per image.
The real-capture counterpart is ``benchmarks/deblur_levin.py``; both tables are in
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from blurkit import blur  # noqa: E402
from blurkit.defenses.deblur import estimate_freeform_kernel, tv_deconv  # noqa: E402
from blurkit.defenses.deblur.freeform import normalized_sparsity  # noqa: E402
from blurkit.kernels import camera_shake_kernel  # noqa: E402
from blurkit.measure import compare_up_to_shift  # noqa: E402
from blurkit.measure.fit import kernel_error  # noqa: E402

DEPTHS = (5, 7, 9)


def main() -> None:
    from skimage.data import camera

    torch.set_num_threads(1)
    x = torch.from_numpy(camera()[60:188, 150:278]).float()[None, None] / 255
    print("| length px | seed | kernel px | " + " | ".join(
        f"c{c} err / PSNR / sparsity" for c in DEPTHS) + " | picked | best |")
    print("|---" * (len(DEPTHS) + 5) + "|")
    totals = {c: 0.0 for c in DEPTHS}
    picked_total = 0.0
    n = 0
    for length, box in ((12.0, 15), (20.0, 25)):
        for seed in range(1, 7):
            k = camera_shake_kernel(1, length, seed=seed)
            y = blur(x, k)
            cells, scores = [], {}
            for c in DEPTHS:
                e = estimate_freeform_kernel(y, box, coarsest=c)
                z = tv_deconv(y, e)
                p = float(compare_up_to_shift(z, x, border=10).psnr)
                ns = float(normalized_sparsity(z))
                scores[c] = (ns, p)
                totals[c] += p
                cells.append(f"{kernel_error(e[0, 0], k[0, 0], box=41):.2f} / {p:.2f} / {ns:.2f}")
            pick = min(DEPTHS, key=lambda c: scores[c][0])
            best = max(DEPTHS, key=lambda c: scores[c][1])
            picked_total += scores[pick][1]
            n += 1
            print(f"| {length:.0f} | {seed} | {k.shape[-1]} | " + " | ".join(cells)
                  + f" | c{pick} | c{best} |", flush=True)
    means = " | ".join(f"PSNR {totals[c] / n:.2f}" for c in DEPTHS)
    print(f"| mean | | | {means} | PSNR {picked_total / n:.2f} | |")


if __name__ == "__main__":
    main()
