"""The robust-training study on CIFAR-10 (the committed recipe).

    python scripts/train_robust_cifar.py                     # the study (hours on 2 CPU cores)
    python scripts/train_robust_cifar.py --limit 512 --eval-limit 200 --out /tmp/s  # smoke
    python scripts/train_robust_cifar.py --seeds 0,1,2 --out cache/robust_study_seeds  # mean +- sd

The two tables of ``docs/robustness_study.md`` (multi-seed, full test set, the smaller
``airnet`` width, equal budgets of 3 passes over the 50,000 training images):

    python scripts/train_robust_cifar.py --finetune '' --epochs 3 --seeds 0,1,2 \
        --eval-limit 0 --out cache/study_scratch        # blur from the start
    python scripts/train_robust_cifar.py --pretrain 2 --epochs 1 --seeds 0,1,2 \
        --eval-limit 0 --out cache/study_finetune       # 2 clean epochs, then 1 with blur

By default every method (baseline, augment, adversarial, consistency) is fine-tuned
from the bundled baseline (``src/blurkit/assets/cifar10_airnet-baseline.safetensors``, written
by ``scripts/train_bundled_cifar.py``) with the same budget: the same training
images, seed, epochs, batch size and learning-rate schedule (one-cycle, peak 0.03 when
fine-tuning and 0.3 from scratch, 10 % warm-up). ``--pretrain N`` fine-tunes instead from
a clean ``--model`` trained here for N epochs (``out/pretrain``, seed ``--pretrain-seed``,
resumable), the start every method and seed shares; ``--finetune ''`` trains every
method from scratch, blur schedules then ramping in as in pre-training. "baseline" is
the control: the same training without blur, so any difference comes from the method
and not from the extra epochs.

Methods as configured here:

- augment: :class:`~blurkit.defenses.RandomBlur` over ``--train-families`` (default:
  Gaussian, linear motion, defocus, camera shake, myopia), the fine-tuning schedule
  (half of every batch blurred at full strength; from scratch the pre-training one);
- adversarial: free-form kernels in a radius-2 disk, 3 inner steps, half of each batch
  attacked, SSIM >= 0.85 constraint;
- consistency: AugMix's JS term (weight 12) between the clean image and two blurred
  views of the same mixture;
- adversarial_consistency: the adversarial method plus the JS term (weight 12) between
  the clean and adversarial predictions;
- baseline+learned (``--frontends``): the control model behind the bundled learned
  deblurring network (``DeblurFrontEnd``), no extra training.

Evaluation: the CIFAR-10 test set (``--eval-limit`` images), the
``cifar-10-c-blur`` suite plus the natural families at severities 1-5, critical
blur (Gaussian, defocus, motion) on 200 images, free-form adversarial blur at SSIM
0.9 on 200 images. With the default families, glass and zoom blur (and astigmatism,
dirty lens, depth defocus) are held out: the study's transfer columns. Astigmatism is
evaluated only when named in ``--corruptions`` (its per-image PSF is slow: ~0.25 s per
image).

Data: ``../shared/data/cifar10/cifar10-{train,test}.tar.gz``, decoded once into
``cache/`` (the bundled recipe's ``cifar10-*-uint8.npz`` are reused when present).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from blurkit.defenses.study import run_study  # noqa: E402
from blurkit.models.cifar import CIFAR10_CLASSES  # noqa: E402

#: the training adversary of both adversarial methods (free-form kernels in a radius-2 disk)
ADVERSARY = {"kernel": "freeform", "support_radius": 2, "steps": 3, "fraction": 0.5,
             "ssim_budget": 0.85}  # fmt: skip


def _npz_with_classes(npz: Path) -> Path:
    """The bundled recipe's cache has no class list: add it (CIFAR-10 order) once."""
    out = npz.with_name(npz.stem + "-classes.npz")
    if not out.exists():
        z = np.load(npz)
        np.savez(out, images=z["images"], labels=z["labels"], classes=np.asarray(CIFAR10_CLASSES))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cifar10")
    ap.add_argument("--cache", type=Path, default=ROOT / "cache")
    ap.add_argument("--out", type=Path, default=ROOT / "cache" / "robust_study")
    ap.add_argument(
        "--finetune",
        default=str(ROOT / "src/blurkit/assets/cifar10_airnet-baseline.safetensors"),
        help="common starting weights ('' trains --model from scratch)",
    )
    ap.add_argument("--model", default="airnet")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument(
        "--lr",
        type=float,
        default=None,
        help="peak rate (default 0.03 fine-tuning, 0.3 from scratch)",
    )
    ap.add_argument(
        "--pretrain",
        type=int,
        default=0,
        help="fine-tune from a clean --model trained here for N epochs (out/pretrain), "
        "replacing --finetune",
    )
    ap.add_argument("--pretrain-seed", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--seeds",
        default="",
        help="repeat the study per seed, e.g. 0,1,2 (out/seed-<k>/; mean +- sd and paired "
        "differences to the baseline in out/study.md); replaces --seed",
    )
    ap.add_argument("--limit", type=int, default=0, help="fine-tune on N training images")
    ap.add_argument("--eval-limit", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-families", default="gaussian,motion,defocus,camera_shake,myopia")
    ap.add_argument(
        "--methods", default="baseline,augment,adversarial,consistency,adversarial_consistency"
    )
    ap.add_argument(
        "--frontends",
        default="baseline+learned",
        help="deblurring front-ends compared too: <method>+<deblurrer> (learned or blind)",
    )
    ap.add_argument(
        "--corruptions",
        # astigmatism is left out by default: its per-image PSF (a random axis per image,
        # one pupil FFT each) costs ~0.25 s per CIFAR image, four minutes per cell
        default="defocus_blur,glass_blur,motion_blur,zoom_blur,gaussian_blur,"
        "camera_shake,myopia,dirty_lens,depth_defocus",
        help="evaluation corruptions (comma-separated)",
    )
    ap.add_argument(
        "--ship",
        default="",
        help="methods whose weights to write (fp16) into src/blurkit/assets as "
        "cifar10_airnet-<method>.safetensors, e.g. 'augment,adversarial'",
    )
    args = ap.parse_args()
    if args.ship and args.seeds:
        raise SystemExit("--ship takes a single-seed study (--seed), not --seeds")

    def data_file(split: str) -> Path:
        cached = args.cache / f"cifar10-{split}-uint8.npz"
        if cached.exists():
            return _npz_with_classes(cached)
        return args.data / f"cifar10-{split}.tar.gz"

    log_path = args.out / "study.log"
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "a", buffering=1)  # noqa: SIM115

    def log(msg: str) -> None:
        line = f"{datetime.datetime.now():%H:%M:%S} {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")

    log(f"args {vars(args)}")
    finetune = args.finetune or None
    if args.pretrain:
        finetune = pretrain(args, data_file("train"), log)
    fams = [f for f in args.train_families.split(",") if f]
    study = run_study(
        data_file("train"),
        args.out,
        eval_data=data_file("test"),
        methods=[m for m in args.methods.split(",") if m],
        frontends=[f for f in args.frontends.split(",") if f],
        model=args.model,
        finetune=finetune,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        seeds=[int(v) for v in args.seeds.split(",") if v.strip()] or None,
        limit=args.limit or None,
        eval_limit=args.eval_limit or None,
        train_families=fams,
        corruptions=[c for c in args.corruptions.split(",") if c],
        critical=("gaussian", "defocus", "motion"),
        critical_images=200,
        attack_images=200,
        attack_budget=0.9,
        method_options={
            "adversarial": {"adversary": ADVERSARY},
            "adversarial_consistency": {"adversary": ADVERSARY},
        },
        threads=args.threads,
        cache=args.cache,
        log=log,
    )
    keys = ("clean_error", "mean_blur_error", "attack_success_rate", "heldout_mean_error",
            "train_seconds")  # fmt: skip
    log(json.dumps({m: {k: r.get(k) for k in keys} for m, r in study["methods"].items()}))
    print((args.out / "study.md").read_text())
    for m in [m for m in args.ship.split(",") if m]:
        ship(args.out / "train" / m / "model.safetensors", m, study["methods"][m], log)


def pretrain(args, data: Path, log) -> Path:
    """The clean start of a ``--pretrain`` study: ``--model`` trained without blur (resumes)."""
    from blurkit.defenses.methods import train_model

    if args.pretrain < 0:
        raise SystemExit(f"--pretrain: expected a number of epochs >= 0, got {args.pretrain}")
    run = args.out / "pretrain"
    if not (run / "summary.json").exists():
        log(
            f"pretraining {args.model} without blur: {args.pretrain} epochs, seed {args.pretrain_seed}"
        )
        train_model(
            data, run, model=args.model, method="baseline", epochs=args.pretrain,
            batch_size=args.batch_size, seed=args.pretrain_seed, limit=args.limit or None,
            threads=args.threads, cache=args.cache, log=log,
        )  # fmt: skip
    summary = json.loads((run / "summary.json").read_text())
    log(f"pretrained start: {run} ({summary.get('seconds', 0):.0f} s)")
    return run


def ship(src: Path, method: str, row: dict, log) -> None:
    """Write a study model as a bundled asset: fp16 (under 5 MB), with its study results."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata() or {})
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    meta.update(
        {
            "training": method,
            "recipe": "scripts/train_robust_cifar.py (fine-tuned from the bundled baseline)",
            "study_clean_error": f"{row['clean_error']:.4f}",
            "study_mean_blur_error": f"{row['mean_blur_error']:.4f}",
            "date": f"{datetime.date.today()}",
        }
    )
    out = ROOT / "src/blurkit/assets" / f"cifar10_airnet-{method}.safetensors"
    save_file(state, str(out), metadata=meta)
    log(f"shipped {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
