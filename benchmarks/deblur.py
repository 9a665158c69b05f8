"""Deblurring front-ends: restoration quality and the accuracy they recover.

    python benchmarks/deblur.py                      # both tables (markdown on stdout)
    python benchmarks/deblur.py --part natural       # only the photograph table
    python benchmarks/deblur.py --part cifar --severities 1 3 5 --limit 500

Method.

1. Natural photographs with known kernels. Crops (``--crop`` px, default 128) of
   four scikit-image photographs (astronaut, camera, coffee, chelsea), blurred by
   ``blurkit.blur`` (replicate boundary) with a Gaussian (sigma 2), a pillbox defocus
   (radius 3) and a 30-degree uniform motion streak (length 11), then quantised to 8
   bits as an image file would be. Each method restores them; PSNR and SSIM
   against the sharp crop are averaged over the photographs and compared with
   those of the blurred input. Non-blind methods get the true kernel; ``blind``
   fits the kernel of the right family with ``estimate_blur``; ``learned`` is the
   bundled network (blind, trained on 32x32 CIFAR/photo patches). Default
   parameters throughout (no tuning per image).
2. Accuracy recovered. The bundled CIFAR-10 model (``blurkit.models.BUNDLED_CIFAR``)
   on the bundled 1,000-image test sample under the ``cifar-10-c`` presets of
   ``defocus_blur`` and ``motion_blur`` (seed 0, one random angle per image),
   with and without each front-end (:class:`DeblurFrontEnd`). Non-blind
   front-ends get each image's true corruption kernel (an upper bound for a
   deployed system that must estimate it); ``blind`` estimates a Gaussian per
   image; ``learned`` needs nothing. The clean row shows what each blind
   front-end costs on sharp images.

Timings are not the point here (see ``blur_engine.py`` for speed); the column
``ms/img`` is one run on a shared CPU and only indicates the order of magnitude.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from blurkit.defenses.deblur import (  # noqa: E402
    BlindDeblur,
    DeblurFrontEnd,
    NonBlindDeblur,
    blind_deblur,
    deconvolve,
    load_deblur_net,
)
from blurkit.functional import blur  # noqa: E402
from blurkit.kernels import disk_kernel, gaussian_kernel, motion_kernel  # noqa: E402
from blurkit.measure import psnr, ssim  # noqa: E402

NONBLIND = ("wiener", "rl", "tv", "hyper_laplacian")


def photos(crop: int) -> torch.Tensor:
    from skimage import data

    out = []
    for name in ("astronaut", "camera", "coffee", "chelsea"):
        img = getattr(data, name)()
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        h, w = img.shape[:2]
        top, left = (h - crop) // 3, (w - crop) // 2
        out.append(img[top : top + crop, left : left + crop, :3])
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255


def natural_table(crop: int, learned) -> str:
    x = photos(crop)
    kernels = {
        "gaussian sigma=2": ("gaussian", gaussian_kernel(2.0)),
        "defocus r=3": ("defocus", disk_kernel(3.0)),
        "motion L=11 @30deg": ("motion", motion_kernel(11.0, 30.0)),
    }
    rows = [
        "| kernel | method | PSNR (dB) | SSIM | gain (dB) | ms/img |",
        "|---|---|---|---|---|---|",
    ]
    for label, (family, k) in kernels.items():
        y = (blur(x, k, boundary="replicate") * 255).round() / 255
        p0, s0 = float(psnr(y, x).mean()), float(ssim(y, x).mean())
        rows.append(f"| {label} | blurred input | {p0:.2f} | {s0:.3f} | - | - |")
        methods = {m: (lambda m=m: deconvolve(y, k, m)) for m in NONBLIND}
        methods["blind"] = lambda: blind_deblur(y, family)
        if learned is not None:
            methods["learned"] = lambda: learned(y)
        for m, fn in methods.items():
            t = time.perf_counter()
            with torch.no_grad():
                z = fn()
            ms = 1000 * (time.perf_counter() - t) / x.shape[0]
            p, s = float(psnr(z, x).mean()), float(ssim(z, x).mean())
            rows.append(f"| {label} | {m} | {p:.2f} | {s:.3f} | {p - p0:+.2f} | {ms:.0f} |")
    return "\n".join(rows)


def cifar_sample(limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``limit`` images evenly spaced over the sample (it is ordered by class)."""
    try:
        from blurkit.data import open_dataset

        ds = open_dataset("sample")
        n = len(ds)
        items = [ds[int(i)] for i in torch.linspace(0, n - 1, min(limit, n)).long()]
        return torch.stack([it[0] for it in items]), torch.tensor([it[1] for it in items])
    except (ImportError, AttributeError):  # the data package not written yet: read the archive
        from blurkit.data.archive import decode_archive_uint8

        imgs, labels, _ = decode_archive_uint8(ROOT / "src/blurkit/assets/cifar10-sample.tar.gz")
        idx = torch.linspace(0, len(labels) - 1, min(limit, len(labels))).long().numpy()
        x = torch.from_numpy(imgs[idx]).permute(0, 3, 1, 2).float() / 255
        return x, torch.from_numpy(labels[idx])


def corruption_kernels(
    x: torch.Tensor, name: str, severity: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The corrupted images and each image's true kernel, centred at k // 2."""
    from blurkit.corruptions import corrupt, sample_corruption
    from blurkit.corruptions.imagenet_c import (
        imagenet_c_disk_kernels,
        imagenet_c_motion_kernels,
        severity_params,
    )

    y = corrupt(x, name, severity, preset="cifar-10-c", seed=0)
    row = severity_params(name, severity, "cifar-10-c")
    if name == "defocus_blur":
        return y, imagenet_c_disk_kernels(*row)
    angle = sample_corruption(x, name, severity, preset="cifar-10-c", seed=0)["angle"]
    k, shift = imagenet_c_motion_kernels(row[0], row[1], angle, tuple(x.shape[-2:]))
    # the port evaluates the convolution `shift` columns to the right: move the centre
    return y, F.pad(k, (0, 2 * shift))


def accuracy(model, x, labels, batch=100, kernels=None, method=None) -> float:
    """Top-1 of ``model``; with ``kernels`` (one or one per image), of the model behind a
    non-blind front-end of ``method`` built for each batch's kernels."""
    preds = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            m = model
            if kernels is not None:
                k = kernels if kernels.shape[0] == 1 else kernels[i : i + batch]
                m = DeblurFrontEnd(model, NonBlindDeblur(k, method))
            preds.append(m(x[i : i + batch]).argmax(1))
    return float((torch.cat(preds) == labels).float().mean())


def cifar_table(
    severities, limit: int, learned, weights=None, families=("defocus_blur", "motion_blur")
) -> str:
    from blurkit.models import BUNDLED_CIFAR, load_model

    try:
        model = load_model(BUNDLED_CIFAR, weights=weights)
    except Exception as e:  # weights not trained yet
        return f"(skipped: bundled model {BUNDLED_CIFAR!r} not available: {e})"
    x, labels = cifar_sample(limit)
    names = ["none", *NONBLIND, "blind", *(["learned"] if learned is not None else [])]
    head = "| corruption | severity | " + " | ".join(names) + " |"
    rows = [head, "|" + "---|" * (len(names) + 2)]
    clean = [f"{accuracy(model, x, labels):.3f}"] + ["n/a"] * len(NONBLIND)
    clean.append(f"{accuracy(DeblurFrontEnd(model, BlindDeblur('gaussian')), x, labels):.3f}")
    if learned is not None:
        clean.append(f"{accuracy(DeblurFrontEnd(model, learned), x, labels):.3f}")
    rows.append("| clean | - | " + " | ".join(clean) + " |")
    print(rows[2], file=sys.stderr, flush=True)
    for name in families:
        for s in severities:
            y, k = corruption_kernels(x, name, s)
            accs = [accuracy(model, y, labels)]
            for m in NONBLIND:
                accs.append(accuracy(model, y, labels, kernels=k, method=m))
            accs.append(accuracy(DeblurFrontEnd(model, BlindDeblur("gaussian")), y, labels))
            if learned is not None:
                accs.append(accuracy(DeblurFrontEnd(model, learned), y, labels))
            rows.append(f"| {name} | {s:g} | " + " | ".join(f"{a:.3f}" for a in accs) + " |")
            print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("all", "natural", "cifar"), default="all")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--severities", type=float, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--families", nargs="+", default=["defocus_blur", "motion_blur"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--model-weights", type=Path, default=None, help="weights for the bundled architecture"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        learned = load_deblur_net()
    except Exception as e:
        print(f"(learned front-end skipped: {e})")
        learned = None
    if args.part in ("all", "natural"):
        print(f"## Natural photographs ({args.crop}x{args.crop} crops, 8-bit), mean of 4\n")
        print(natural_table(args.crop, learned), "\n", flush=True)
    if args.part in ("all", "cifar"):
        src = args.model_weights or "bundled weights"
        print(f"## Bundled CIFAR-10 model ({src}), top-1 on {args.limit} sample images\n")
        print(
            cifar_table(
                args.severities, args.limit, learned, args.model_weights, tuple(args.families)
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
