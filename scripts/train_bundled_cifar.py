"""Train the CIFAR-10 model bundled with blurkit (the committed recipe).

    python scripts/train_bundled_cifar.py                 # train, evaluate, write the asset
    python scripts/train_bundled_cifar.py --limit 2048 --epochs 1 --out /tmp/x.safetensors  # smoke

Data: ``../shared/data/cifar10/cifar10-{train,test}.tar.gz`` (ImageFolder trees of
JPEG-re-encoded CIFAR-10). The archives are decoded once into uint8 arrays under
``cache/`` (gitignored) and training runs from tensors.

Network: :class:`blurkit.models.cifar.AirNet` (64, 256, 256), the airbench
architecture (patch-whitening stem, conv-pool-BN-GELU groups), 2.0 M parameters.

Result of the shipped weights (the defaults below): **88.50% top-1** on the full
10,000-image test set (fp16 weights, 3.96 MB), 10 epochs in 5,201 s on the project's
2-core CPU (about 140 images/s when the machine is otherwise idle; the first epochs
ran beside other work). History: the same architecture at widths (32, 128, 128)
reached 85.1% (3 + 4 epochs, two stages) and 85.9% (8 epochs, one stage), short of
the 88% target, so the width, not the schedule, was the limit.

Recipe (:mod:`blurkit.defenses.training`): SGD + Nesterov momentum 0.9, one-cycle
LR (peak 0.3, 25% warm-up), weight decay 5e-4 on weights, label smoothing 0.2,
random 4-px translation + horizontal flip, batch 256, optional progressive resizing
(epoch resolutions ``--sizes``; off by default) and an optional second stage
(``--finetune-epochs``, a warm restart: one-cycle with peak 0.15 at 32 px; off by
default), fixed seeds, a checkpoint
after every epoch (rerunning the same command resumes), progress in
``cache/train_bundled_cifar/train.log``.

Output: the network's state dict in fp16 safetensors with the recipe and the
measured top-1 accuracy on the full 10,000-image test set in its metadata.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from blurkit.data.archive import decode_archive_uint8  # noqa: E402
from blurkit.defenses.training import TrainConfig, evaluate_accuracy, train_classifier  # noqa: E402
from blurkit.models.cifar import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, AirNet  # noqa: E402
from blurkit.models.wrappers import Classifier  # noqa: E402


def cached_arrays(archive: Path, cache: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode ``archive`` once into ``cache`` (npz of uint8 images + labels) and load it."""
    if not cache.exists():
        t = time.perf_counter()
        images, labels, classes = decode_archive_uint8(archive)
        if classes != CIFAR10_CLASSES:
            raise SystemExit(f"unexpected classes in {archive}: {classes}")
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache.with_suffix(".tmp.npz"), images=images, labels=labels)
        os.replace(cache.with_suffix(".tmp.npz"), cache)
        print(f"decoded {archive.name}: {images.shape} in {time.perf_counter() - t:.0f} s")
    z = np.load(cache)
    return torch.from_numpy(z["images"]), torch.from_numpy(z["labels"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cifar10")
    ap.add_argument("--cache", type=Path, default=ROOT / "cache")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "src/blurkit/assets/cifar10_airnet-baseline.safetensors"
    )
    ap.add_argument("--widths", default="64,256,256")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--sizes", default="", help="per-epoch resolution, '' = native")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--finetune-epochs",
        type=int,
        default=0,
        help="stage 2: a second, lower one-cycle at full resolution from stage 1's weights",
    )
    ap.add_argument("--finetune-lr", type=float, default=0.15)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images (smoke)")
    ap.add_argument("--test-limit", type=int, default=0, help="evaluate on N test images (smoke)")
    ap.add_argument("--run-dir", type=Path, default=None)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    run_dir = args.run_dir or args.cache / "train_bundled_cifar"
    run_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(run_dir / "train.log", "a", buffering=1)  # noqa: SIM115

    def log(msg: str) -> None:
        line = f"{datetime.datetime.now():%H:%M:%S} {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")

    log(f"args {vars(args)}")
    x_train, y_train = cached_arrays(
        args.data / "cifar10-train.tar.gz", args.cache / "cifar10-train-uint8.npz"
    )
    x_test, y_test = cached_arrays(
        args.data / "cifar10-test.tar.gz", args.cache / "cifar10-test-uint8.npz"
    )
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    if args.test_limit:
        x_test, y_test = (
            x_test[:: len(x_test) // args.test_limit],
            y_test[:: len(x_test) // args.test_limit],
        )
    # the member order is sorted by class folder: shuffle is done per epoch by the loop

    widths = tuple(int(w) for w in args.widths.split(","))
    torch.manual_seed(args.seed)
    net = AirNet(num_classes=10, widths=widths)
    clf = Classifier(net, CIFAR10_MEAN, CIFAR10_STD, CIFAR10_CLASSES, 32, name="training")
    g = torch.Generator().manual_seed(args.seed)
    pick = torch.randperm(len(x_train), generator=g)[:5000]
    net.init_whitening(clf.normalize(x_train[pick].permute(0, 3, 1, 2).float() / 255))

    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    if sizes is not None and len(sizes) != args.epochs:
        raise SystemExit(f"--sizes needs {args.epochs} values, got {sizes}")
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        sizes=sizes,
        seed=args.seed,
        threads=args.threads,
    )
    probe_x, probe_y = x_test[::10], y_test[::10]  # 1,000 test images for per-epoch progress

    def probe(model):
        return {"probe_acc_1k": evaluate_accuracy(model, probe_x, probe_y)}

    summary = train_classifier(
        clf, x_train, y_train, config, checkpoint=run_dir / "checkpoint.pt", log=log, eval_fn=probe
    )
    if args.finetune_epochs:
        # a warm restart (Loshchilov and Hutter, SGDR): a shorter one-cycle at a lower
        # peak and the native resolution, resumable from its own checkpoint
        config2 = TrainConfig(
            epochs=args.finetune_epochs,
            batch_size=args.batch_size,
            lr=args.finetune_lr,
            warmup=0.15,
            sizes=None,
            seed=args.seed + 1,
            threads=args.threads,
        )
        s2 = train_classifier(
            clf, x_train, y_train, config2, run_dir / "checkpoint_ft.pt", log=log, eval_fn=probe
        )
        summary = {
            **s2,
            "seconds": summary["seconds"] + s2["seconds"],
            "history": summary["history"] + [{"stage": 2, **h} for h in s2["history"]],
            "config": {"stage1": summary["config"], "stage2": s2["config"]},
        }
    from safetensors.torch import save_file

    state = {
        k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous()
        for k, v in net.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    # the fp16 copy is what users load: measure it too
    net16 = AirNet(num_classes=10, widths=widths)
    net16.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    clf16 = Classifier(net16, CIFAR10_MEAN, CIFAR10_STD, CIFAR10_CLASSES, 32)
    t = time.perf_counter()
    acc16 = evaluate_accuracy(clf16, x_test, y_test)
    log(
        f"test set ({len(x_test):,} images), fp16 weights: top-1 {acc16:.4f} [{time.perf_counter() - t:.0f} s]"
    )
    meta = {
        "architecture": "AirNet",
        "widths": json.dumps(list(widths)),
        "num_classes": "10",
        "classes": json.dumps(CIFAR10_CLASSES),
        "mean": json.dumps(list(CIFAR10_MEAN)),
        "std": json.dumps(list(CIFAR10_STD)),
        "input_size": "32",
        "training": "baseline",
        "recipe": "scripts/train_bundled_cifar.py " + json.dumps(vars(args), default=str),
        "train_config": json.dumps(summary["config"]),
        "train_seconds": f"{summary['seconds']:.0f}",
        "history": json.dumps(summary["history"]),
        "test_top1": f"{acc16:.4f}",
        "test_set": "cifar10-test.tar.gz (10,000 JPEG-re-encoded CIFAR-10 test images)",
        "date": f"{datetime.date.today()}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(args.out), metadata=meta)
    log(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) meta {json.dumps(meta)[:300]}")


if __name__ == "__main__":
    main()
