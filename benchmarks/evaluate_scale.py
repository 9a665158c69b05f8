"""Evaluation at dataset scale: memory, decodes and time per image against the dataset size.

Method: a 224-px ImageFolder of N images is built from the dev ImageNet sample
(``/work/shared/data/imagenet-sample/dev``, 100 images, one per class): image
``i`` is a seeded random 224 x 224 crop of sample image ``i mod 100``, flipped
left-right with probability 1/2, saved as a JPEG (quality 90) under the sample
image's class folder. ``efficientnet_lite0`` is evaluated on it with
``blurkit.evaluate`` (clean + two severities of one family; no flip sweep,
critical blur or examples), each N in a fresh subprocess so that its peak RSS
is its own. Measured:

- peak RSS of the evaluating process and of its largest loader worker
  (``getrusage``: ``RUSAGE_SELF`` / ``RUSAGE_CHILDREN``), which must stay flat in N,
  and the evaluating process's current RSS after every chunk of 1024 images
  (``/proc/self/statm``: flat within a run once the allocator is warm);
- full decodes per image per model, counted in the dataset's ``__getitem__``
  across worker processes (a shared counter); the header check at open time
  (``Image.open`` without decoding the pixels) is counted apart;
- wall time per image of the ``evaluate`` call;
- the share of that wall time spent outside the model's forward passes and the
  corruptions (both timed by the engine, synchronised on CUDA).

Targets (issue 9): RSS <= 2.5 GB at 20k and flat; 1 decode per image per model;
time per image +<= 10 % from 1k to 20k; time outside forward and corruption <= 15 %.

Run: ``OMP_NUM_THREADS=2 python benchmarks/evaluate_scale.py --sizes 1000 5000 20000``
(``--model tiny`` swaps in a one-layer stand-in network to measure the engine
alone quickly; ``--device cuda`` on a GPU; ``--write`` appends to RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path("/work/shared/data/imagenet-sample/dev")
HERE = Path(__file__).resolve().parent


def build_folder(root: Path, n: int, size: int = 224, seed: int = 0) -> Path:
    """``root/<synset>/<i>.jpg``: ``n`` seeded random crops / flips of the dev sample."""
    import numpy as np
    from PIL import Image

    done = root / f".complete-{n}"
    if done.exists():
        return root
    files = sorted(SAMPLE.glob("*/*"))
    if not files:
        raise SystemExit(f"no images under {SAMPLE}")
    srcs = [Image.open(f).convert("RGB") for f in files]
    rng = np.random.default_rng(seed)
    for i in range(n):
        im = srcs[i % len(srcs)]
        w, h = im.size
        if min(w, h) < size:
            s = size / min(w, h)
            im = im.resize((max(size, round(w * s)), max(size, round(h * s))))
            w, h = im.size
        x, y = int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1))
        crop = im.crop((x, y, x + size, y + size))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        d = root / files[i % len(files)].parent.name
        d.mkdir(parents=True, exist_ok=True)
        crop.save(d / f"{i:06d}.jpg", quality=90)
    done.write_text("")
    return root


def _tiny_model():
    import torch
    from torch import nn

    from blurkit.models.wrappers import Classifier, ResizeCenterCrop

    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, 1000))  # fmt: skip
    torch.manual_seed(0)
    return Classifier(net, (0.5,) * 3, (0.5,) * 3, [f"c{i}" for i in range(1000)], 224,
                      preprocess=ResizeCenterCrop(224, 224), name="tiny-stand-in")  # fmt: skip


def one(args) -> dict:
    """Evaluate one N in this process; returns the measurements."""
    import torch

    import blurkit
    from blurkit.data import ImageFolderDataset
    from blurkit.models import load_model

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    model = _tiny_model() if args.model == "tiny" else load_model(args.model, device=args.device)
    root = build_folder(Path(args.root) / f"n{args.one}", args.one)

    class Counted(ImageFolderDataset):
        def __getitem__(self, i):
            with self.decodes.get_lock():
                self.decodes.value += 1
            return super().__getitem__(i)

    synsets = sorted(p.name for p in root.iterdir() if p.is_dir())
    classes = list(model.classes) if set(synsets) <= set(model.classes) else None
    ds = Counted(root, classes=classes, preprocess=model.preprocess)
    ds.decodes = mp.Value("i", 0)
    sevs = [float(s) for s in args.severities.split(",")]
    trace, peaks = [], []  # current and peak RSS after each chunk of 1024 images (GB)

    def on_chunk(model, done, total):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        trace.append(pages * os.sysconf("SC_PAGE_SIZE") / 2**30)
        peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)

    t = time.perf_counter()
    r = blurkit.evaluate(
        model, ds, tempfile.mkdtemp(prefix="blurkit-scale-"), corruptions=[args.family],
        severities=sevs, batch_size=args.batch_size, num_workers=args.workers,
        device=args.device, examples=0, preset="imagenet-c", on_chunk=on_chunk,
    )  # fmt: skip
    wall = time.perf_counter() - t
    tm = r.timing
    return {
        "n": len(ds),
        "model": getattr(model, "name", args.model),
        "cells": len(r.rows),
        "decodes_per_image": ds.decodes.value / len(ds),
        "peak_rss_main_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "peak_rss_worker_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20,
        "wall_s": wall,
        "ms_per_image": 1e3 * wall / len(ds),
        "ms_per_image_cell": 1e3 * wall / len(ds) / len(r.rows),
        "forward_s": tm["forward_s"],
        "corrupt_s": tm["corrupt_s"],
        "outside_fraction": (wall - tm["forward_s"] - tm["corrupt_s"]) / wall,
        "clean_accuracy": r.rows[0]["accuracy"],
        "rss_trace_gb": [round(v, 3) for v in trace],
        "peak_rss_trace_gb": [round(v, 3) for v in peaks],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--family", default="defocus_blur")
    ap.add_argument("--severities", default="1,3")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--root", default=str(Path(tempfile.gettempdir()) / "blurkit-scale"))
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.one is not None:
        print("RESULT " + json.dumps(one(args)))
        return
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--model", args.model,
               "--family", args.family, "--severities", args.severities,
               "--batch-size", str(args.batch_size), "--root", args.root]  # fmt: skip
        cmd += ["--workers", str(args.workers)] if args.workers is not None else []
        cmd += ["--device", args.device] if args.device else []
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        if not line:
            print(out.stdout[-2000:], out.stderr[-4000:])
            raise SystemExit(f"N={n} failed")
        rows.append(json.loads(line[0][7:]))
        print(json.dumps(rows[-1]))
    head = (
        "| N | model | cells | decodes / image | peak RSS main / worker GB | ms / image "
        "| ms / image / cell | outside forward + corruption | RSS after chunk 1 / last GB |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['model']} | {r['cells']} | {r['decodes_per_image']:.2f} "
            f"| {r['peak_rss_main_gb']:.2f} / {r['peak_rss_worker_gb']:.2f} "
            f"| {r['ms_per_image']:.1f} | {r['ms_per_image_cell']:.1f} "
            f"| {100 * r['outside_fraction']:.1f} % "
            f"| {r['rss_trace_gb'][0]:.2f} / {r['rss_trace_gb'][-1]:.2f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.write:
        with open(HERE / "RESULTS.md", "a") as f:
            f.write(f"\n{table}\n")


if __name__ == "__main__":
    main()
