"""Blur-augmentation overhead against one training step of the bundled CIFAR network.

The requirement: ``RandomBlur`` may cost at most 10 % of a training step's time for
the bundled CIFAR-10 network (AirNet at the widths of the bundled weights) at batch 256 on
the CPU.

Method (``README.md``): the training step is what :mod:`blurkit.defenses.training`
does per batch (standard translate/flip augmentation, forward, cross-entropy,
backward, SGD step); the augmentation is one ``RandomBlur`` call on the same
batch, with the fine-tuning schedule's ``p = 0.5``. Both are timed alternately in
the same process (2 warm-ups, median of the repeats). Reported: median times and
the ratio ``augment / step`` per mixture (the default mixture, the three kernel
families alone, and each family alone at ``p = 1`` to show where the cost is).

Run: ``python benchmarks/augment_overhead.py [--threads N] [--repeats R] [--write]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from _timing import median_time  # noqa: E402

from blurkit.defenses.augment import DEFAULT_FAMILIES, RandomBlur  # noqa: E402
from blurkit.defenses.training import augment_batch  # noqa: E402
from blurkit.models.cifar import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, AirNet  # noqa: E402
from blurkit.models.wrappers import Classifier  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from safetensors import safe_open

    from blurkit.models import BUNDLED_CIFAR, model_info

    with safe_open(model_info(BUNDLED_CIFAR)["weights_file"], "pt") as f:
        widths = tuple(json.loads((f.metadata() or {}).get("widths", "[32, 128, 128]")))
    print(f"network: AirNet widths {widths} (the bundled model's)")
    net = AirNet(widths=widths)
    clf = Classifier(net, CIFAR10_MEAN, CIFAR10_STD, CIFAR10_CLASSES, 32)
    clf = clf.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(clf.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (args.batch,), generator=g)

    def step():
        xb = augment_batch(x, g).contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(clf(xb), y, label_smoothing=0.2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    kernel_only = {
        k: v for k, v in DEFAULT_FAMILIES.items() if k in ("gaussian", "motion", "defocus")
    }
    configs = [
        ("default mixture, p=0.5", RandomBlur(p=0.5, seed=0)),
        ("kernel families, p=0.5", RandomBlur(kernel_only, p=0.5, seed=0)),
    ]
    configs += [
        (f"{k} only, p=1", RandomBlur({k: v}, p=1.0, seed=0)) for k, v in DEFAULT_FAMILIES.items()
    ]

    rows = []
    t_step = median_time(step, repeats=args.repeats)
    for name, aug in configs:
        t_aug = median_time(lambda aug=aug: aug(x), repeats=args.repeats)
        t_step2 = median_time(step, repeats=max(1, args.repeats // 2))  # alternate with the step
        t_step = (t_step + t_step2) / 2
        rows.append((name, t_aug))
    lines = [
        f"| augmentation (batch {args.batch}, {args.threads} threads) | median ms | "
        f"% of a training step ({t_step * 1e3:.0f} ms) |",
        "|---|---|---|",
    ]
    for name, t in rows:
        lines.append(f"| {name} | {t * 1e3:.1f} | {100 * t / t_step:.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        with open(Path(__file__).parent / "RESULTS.md", "a") as f:
            f.write("\n## augment_overhead.py\n\n" + table + "\n")


if __name__ == "__main__":
    main()
