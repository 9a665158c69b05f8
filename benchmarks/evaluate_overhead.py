"""Overhead of the evaluation engine outside the model's forward pass.

Method: the bundled CIFAR-10 model (or, before it exists, a ResNet-9 of the
same family with random weights) on the bundled 1,000-image sample (or 1,000
random 32x32 images), the ``cifar-10-c-blur`` suite at severities 1-5, batch
256, on the CPU, one warm-up cell first. The engine times every forward pass;
everything else in a cell (corruption on the fly, per-image seeds, top-k,
gathering, writing the cell atomically) is overhead. Reported per family as a
fraction of forward time. Target: overhead <= 25 % of forward time.

Run: ``OMP_NUM_THREADS=2 python benchmarks/evaluate_overhead.py [--images N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch


def _model_and_data(n: int):
    try:
        from blurkit.cli.cmd_evaluate import default_model
        from blurkit.data import open_dataset
        from blurkit.models import load_model

        m = load_model(default_model())
        ds = open_dataset("sample", classes=m.classes, preprocess=m.preprocess)
        return m, [ds[i] for i in range(min(n, len(ds)))], "bundled model + sample"
    except Exception as e:  # models/data not available in this build
        from blurkit.models.cifar import ResNet9

        m = ResNet9(widths=(32, 64, 128, 256)).eval()
        m.name = "resnet9-random"
        g = torch.Generator().manual_seed(0)
        x = torch.rand(n, 3, 32, 32, generator=g)
        return (
            m,
            [(x[i], i % 10, i) for i in range(n)],
            f"ResNet-9 (w/2, random weights; {type(e).__name__})",
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    from blurkit.robustness.evaluate import evaluate

    model, data, what = _model_and_data(args.images)
    print(f"{what}; {len(data)} images; batch {args.batch_size}; threads {torch.get_num_threads()}")
    # warm-up (allocators, first-call overheads)
    evaluate(
        model,
        data[:64],
        tempfile.mkdtemp(),
        corruptions=["defocus_blur"],
        severities=[1],
        examples=0,
    )
    fams = ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur")
    print(f"{'cell set':<14}{'forward s':>10}{'total s':>10}{'overhead':>10}")
    tf = tt = 0.0
    for c in fams:
        t = time.perf_counter()
        r = evaluate(
            model, data, tempfile.mkdtemp(), corruptions=[c], batch_size=args.batch_size, examples=0
        )
        wall = time.perf_counter() - t
        f, tot = r.timing["forward_s"], r.timing["total_s"]
        tf, tt = tf + f, tt + tot
        print(
            f"{c:<14}{f:>10.2f}{tot:>10.2f}{(tot - f) / f:>9.0%}   (6 cells incl. clean; wall {wall:.1f} s)"
        )
    print(f"{'all':<14}{tf:>10.2f}{tt:>10.2f}{(tt - tf) / tf:>9.0%}")


if __name__ == "__main__":
    main()
