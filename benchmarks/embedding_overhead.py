"""Cost of the embedding task against classification on the same evaluation grid.

Method: the bundled CIFAR-10 model on ``--images`` images of the bundled sample (spread
over the classes), the main job's grid (``cifar-10-c-blur``: four families at severities
1-5 plus the clean cell; ``--family`` for one family only),
batch 256, CPU, no critical blur, flip sweep or examples. Each task runs ``--repeats``
times in the same process, alternating, each into a fresh results folder, after one
warm-up run of each; the median wall time is reported and the ratio
embedding / classification. The extra work of the embedding task is the feature hook,
the per-cell kNN / probe / retrieval / CKA and storing the embeddings per chunk; the
target of issue 12 is a ratio <= 1.10.

Run: ``OMP_NUM_THREADS=2 python benchmarks/embedding_overhead.py [--images 1000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--family", default=None, help="one family instead of the suite")
    args = ap.parse_args()

    import blurkit
    from blurkit.models import load_model

    model = load_model("cifar10_airnet-baseline")
    grid = dict(
        corruptions=[args.family] if args.family else "cifar-10-c-blur", severities=[1, 2, 3, 4, 5], limit=args.images,
        batch_size=256, flip_frames=0, examples=0, num_workers=0,
    )  # fmt: skip

    def run(task: str) -> float:
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            blurkit.evaluate(model, "sample", task=task, out=out, **grid)
            return time.perf_counter() - t

    times = {"classification": [], "embedding": []}
    for task in times:  # warm-up
        run(task)
    for _ in range(args.repeats):
        for task in times:
            times[task].append(run(task))
    med = {k: statistics.median(v) for k, v in times.items()}
    grid_name = args.family or "cifar-10-c-blur"
    print(f"images {args.images}, {grid_name} severities 1-5 + clean, {args.repeats} repeats")
    for k, v in med.items():
        print(f"  {k:15s} median {v:6.2f} s  ({', '.join(f'{t:.2f}' for t in times[k])})")
    print(f"  ratio embedding / classification: {med['embedding'] / med['classification']:.3f}")


if __name__ == "__main__":
    main()
