"""Robust-training methods as training-step strategies, and the ``blurkit train`` engine.

A method is a callable ``step(net, x, y, generator, info) -> (loss, logits, y)``
plugged into :func:`blurkit.defenses.training.train_classifier` as ``step_fn``
(the loop keeps its data order, standard augmentation, optimiser, schedule,
checkpoints and DDP; the method only decides what the network sees and the loss):

- ``baseline``: cross-entropy on the (translated, flipped) images;
- ``augment``: :class:`~blurkit.defenses.RandomBlur` on each batch, ``p`` and the
  strength following a :class:`~blurkit.defenses.BlurSchedule` (``finetune`` or
  ``pretrain``);
- ``adversarial``: a :class:`~blurkit.defenses.KernelAdversary` blurs a share of each
  batch with the worst kernel it finds under the SSIM budget;
- ``consistency``: AugMix's objective with blur views: cross-entropy on the clean
  image plus ``lambda`` times the Jensen-Shannon divergence among the predictions
  on the clean image and two randomly blurred views
  (:func:`~blurkit.defenses.consistency_loss`);
- ``adversarial_consistency``: the adversarial method with the consistency term at
  AugMix's weight (cross-entropy on the clean view plus JS between the clean and
  adversarial predictions, TRADES-like): the "adversarial plus consistency" recipe.

Any method can add the consistency term (``consistency_weight``): the augment
method then also sees clean views, the adversarial one compares clean and
adversarial predictions. Every random draw is made for the whole global batch
from the loop's generator and then sliced to this process's share, so a run
under ``torchrun`` draws exactly what one process would and a resumed run what
an unbroken one would.

:func:`train_model` is what ``blurkit train`` does: read the data (ImageFolder
directory, ``.tar``/``.tar.gz`` archive, ``.npz`` of uint8 arrays, or
``"sample"``), build or load the model, train, and write ``model.pt``,
``model.safetensors`` (the bundled-model format) and ``summary.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import ParameterError, check_scalar
from .._json import dumps
from .._seeds import fresh_seed, make_generator
from ..data.archive import decode_archive_uint8, is_archive
from ..data.datasets import SAMPLE_PATH
from ..io import display_path, walk_image_files
from ..models.architectures import ARCHITECTURES
from ..models.trained import build_model, load_trained
from ..robustness.distributed import init_distributed
from ..robustness.store import atomic_write
from .adversarial import KernelAdversary
from .augment import SCHEDULES, BlurSchedule, RandomBlur
from .consistency import AUGMIX_WEIGHT, consistency_loss
from .training import StepInfo, TrainConfig, train_classifier

__all__ = [
    "METHODS",
    "ARCHITECTURES",
    "BaselineStep",
    "BlurAugmentStep",
    "AdversarialStep",
    "make_method",
    "load_training_arrays",
    "build_model",
    "load_trained",
    "train_model",
]

METHODS = ("baseline", "augment", "adversarial", "consistency", "adversarial_consistency")


def _ce(logits, y, info: StepInfo):
    return F.cross_entropy(logits, y, label_smoothing=info.label_smoothing)


class BaselineStep:
    """Plain cross-entropy (the reference every method is compared with)."""

    name = "baseline"

    def __call__(self, net, x, y, gen, info: StepInfo):
        xs, ys = x[info.local], y[info.local]
        logits = net(xs)
        return _ce(logits, ys, info), logits, ys


def _slice_params(params: dict, sl: slice) -> dict:
    return {k: v[sl] for k, v in params.items()}


class BlurAugmentStep:
    """Train on randomly blurred images; optionally AugMix-style consistency with blurred views.

    Args:
        blur: the :class:`RandomBlur` (default: its default mixture).
        schedule: a :class:`BlurSchedule` or a name of :data:`SCHEDULES`; sets ``p`` and
            the strength scale at every step.
        consistency_weight: ``lambda`` of the Jensen-Shannon term (0: none). With it,
            the loss is the clean cross-entropy plus ``lambda`` times JS among the clean
            prediction and ``views`` blurred views (every view blurred).
        views: blurred views for the consistency term.
    """

    def __init__(
        self,
        blur: RandomBlur | None = None,
        schedule: str | BlurSchedule = "finetune",
        consistency_weight: float = 0.0,
        views: int = 2,
    ) -> None:
        self.blur = blur if blur is not None else RandomBlur()
        if isinstance(schedule, str):
            if schedule not in SCHEDULES:
                raise ParameterError(
                    f"schedule: expected one of {sorted(SCHEDULES)}, got {schedule!r}"
                )
            schedule = SCHEDULES[schedule]
        self.schedule = schedule
        self.consistency_weight = float(consistency_weight)
        self.views = int(views)
        self.name = "consistency" if self.consistency_weight > 0 else "augment"

    def __call__(self, net, x, y, gen, info: StepInfo):
        self.schedule.step(self.blur, info.progress)
        b = x.shape[0]
        xs, ys = x[info.local], y[info.local]
        if self.consistency_weight <= 0:
            params = self.blur.sample_params(b, generator=gen)
            xb = self.blur.apply(xs, _slice_params(params, info.local))
            logits = net(xb)
            return _ce(logits, ys, info), logits, ys
        views = []
        for _ in range(self.views):
            params = self.blur.sample_params(b, generator=gen)
            params["apply"] = torch.ones_like(params["apply"])
            views.append(self.blur.apply(xs, _slice_params(params, info.local)))
        # one forward over all views (one DDP pass; BatchNorm sees them together, as AugMix)
        out = net(torch.cat([xs, *views]))
        parts = out.chunk(1 + self.views)
        loss = consistency_loss(
            parts[0],
            *parts[1:],
            labels=ys,
            weight=self.consistency_weight,
            label_smoothing=info.label_smoothing,
        )
        return loss, parts[0], ys


class AdversarialStep:
    """Adversarial blur training: a share of each batch blurred by a :class:`KernelAdversary`.

    Args:
        adversary: the kernel adversary (its ``fraction`` is the share attacked).
        consistency_weight: add ``lambda`` times JS between the clean and adversarial
            predictions (then the cross-entropy is on the clean view), TRADES-like.

    Attributes:
        last: statistics of the last step (mean SSIM of the attacked images, share flipped).
    """

    name = "adversarial"

    def __init__(self, adversary: KernelAdversary | None = None, consistency_weight: float = 0.0):
        self.adversary = adversary if adversary is not None else KernelAdversary()
        self.consistency_weight = float(consistency_weight)
        self.last: dict = {}

    def __call__(self, net, x, y, gen, info: StepInfo):
        b = x.shape[0]
        m = round(self.adversary.fraction * b)
        mask = torch.zeros(b, dtype=torch.bool)
        mask[torch.randperm(b, generator=gen)[:m]] = True
        seed = fresh_seed(gen)
        xs, ys = x[info.local], y[info.local]
        x_adv, st = self.adversary.perturb(
            info.module,
            xs,
            ys,
            mask=mask[info.local],
            generator=make_generator(seed),
            indices=info.indices[info.local],
        )
        if st["ssim"].numel():
            self.last = {
                "adv_ssim": float(st["ssim"].mean()),
                "adv_flipped": float(st["flipped"].float().mean()),
            }
        if self.consistency_weight > 0:
            out = net(torch.cat([xs, x_adv]))
            clean, adv = out.chunk(2)
            loss = consistency_loss(
                clean,
                adv,
                labels=ys,
                weight=self.consistency_weight,
                label_smoothing=info.label_smoothing,
            )
            return loss, clean, ys
        logits = net(x_adv)
        return _ce(logits, ys, info), logits, ys

    def state_dict(self) -> dict:
        return {"adversary": self.adversary.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.adversary.load_state_dict(state.get("adversary", {}))


def make_method(
    name: str,
    *,
    families=None,
    schedule: str = "finetune",
    consistency_weight: float | None = None,
    adversary: dict | None = None,
    blur: dict | None = None,
    blur_share: float | None = None,
) -> Callable:
    """A training-step strategy by name (:data:`METHODS`).

    Args:
        name: ``baseline``, ``augment``, ``adversarial``, ``consistency`` or
            ``adversarial_consistency``.
        families: blur families of the augment / consistency methods (see
            :class:`RandomBlur`; ``None``: its default mixture).
        schedule: ``finetune`` or ``pretrain`` (see :data:`SCHEDULES`).
        consistency_weight: the JS weight; default 12 (AugMix) for ``consistency`` and
            ``adversarial_consistency``, 0 for the others.
        adversary: keyword arguments of :class:`KernelAdversary`.
        blur: other keyword arguments of :class:`RandomBlur` (e.g. ``preset``).
        blur_share: the share of every batch blurred, constant from the first step (the
            ``finetune`` schedule's 0.5 by default); augment only (the consistency
            method blurs every view).

    Example:
        >>> make_method("augment", families=["gaussian"]).name
        'augment'
    """
    if name not in METHODS:
        raise ParameterError(f"method: expected one of {', '.join(METHODS)}, got {name!r}")
    if blur_share is not None and name != "augment":
        raise ParameterError(f"blur_share: only the augment method has one, got method {name!r}")
    if name == "baseline":
        if consistency_weight:
            raise ParameterError("consistency_weight: the baseline has no blurred view")
        return BaselineStep()
    if name in ("adversarial", "adversarial_consistency"):
        both = name == "adversarial_consistency"
        w = (AUGMIX_WEIGHT if both else 0.0) if consistency_weight is None else consistency_weight
        if both and w <= 0:
            raise ParameterError(f"consistency_weight: expected > 0 for {name}, got {w}")
        step = AdversarialStep(KernelAdversary(**(adversary or {})), w)
        step.name = name
        return step
    w = (
        (AUGMIX_WEIGHT if name == "consistency" else 0.0)
        if consistency_weight is None
        else (consistency_weight)
    )
    if name == "consistency" and w <= 0:
        raise ParameterError("consistency_weight: expected > 0 for the consistency method")
    rb = RandomBlur(families, **(blur or {}))
    if blur_share is not None:
        share = check_scalar(blur_share, "blur_share", low=0.0, high=1.0)
        if schedule != "finetune":
            raise ParameterError(
                f"blur_share: a constant share replaces the schedule; got schedule={schedule!r} too"
            )
        schedule = BlurSchedule(f"share {share:g}", share, share, 1.0, 1.0, 0.0)
    return BlurAugmentStep(rb, schedule, consistency_weight=w)


# --------------------------------------------------------------------------- data


def _sample_archive() -> Path:
    return SAMPLE_PATH


def _decode_folder(root: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image

    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ParameterError(f"data: {root} has no class folders (expected ImageFolder layout)")
    arrays, labels, size = [], [], None
    issues: list[tuple[str, str]] = []  # symlink loops, broken links, unreadable files
    empty = []
    for ci, c in enumerate(classes):
        found = walk_image_files(root / c, issues=issues, inside=[root])
        if not found:
            empty.append(c)
        for f in found:
            try:
                with Image.open(f) as im:
                    a = np.asarray(im.convert("RGB"))
            except OSError as e:  # unreadable file: skipped, like the evaluation reader
                issues.append((display_path(f), f"{type(e).__name__}: {e}"))
                continue
            size = size or a.shape[:2]
            if a.shape[:2] != size:
                raise ParameterError(
                    f"data: {f} is {a.shape[1]}x{a.shape[0]}, expected every image to be "
                    f"{size[1]}x{size[0]} (resize the dataset first)"
                )
            arrays.append(a)
            labels.append(ci)
    if not arrays:
        raise ParameterError(f"data: no readable images under {root}")
    if empty or issues:
        import warnings

        parts = (
            [f"{len(empty)} empty class folder(s) {empty[:5]} (kept as classes)"] if empty else []
        )
        if issues:
            parts.append(f"{len(issues)} path(s) skipped, e.g. {issues[0][0]}: {issues[0][1]}")
        warnings.warn(f"data: {display_path(root)}: " + "; ".join(parts), stacklevel=3)
    return np.stack(arrays), np.asarray(labels, np.int64), classes


def _read_npz(src: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """An ``.npz`` of uint8 ``images (N, H, W, 3)``, int ``labels (N,)`` and optional
    ``classes``, read without pickle (``allow_pickle=False``) and validated."""
    import zipfile

    try:
        with np.load(src, allow_pickle=False) as z:
            if "images" not in z or "labels" not in z:
                raise ParameterError(f"data: {src} needs 'images' and 'labels' arrays")
            images, labels = z["images"], z["labels"]
            classes = [str(c) for c in z["classes"]] if "classes" in z else None
    except ParameterError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:  # object arrays, corrupt
        raise ParameterError(f"data: could not read {src} as an .npz of arrays ({e})") from e
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ParameterError(
            f"data: {src}: images must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}"
        )
    if (
        labels.ndim != 1
        or len(labels) != len(images)
        or not np.issubdtype(labels.dtype, np.integer)
    ):
        raise ParameterError(
            f"data: {src}: labels must be {len(images)} integers, got {labels.shape} {labels.dtype}"
        )
    labels = labels.astype(np.int64)
    if len(labels) and labels.min() < 0:
        raise ParameterError(f"data: {src}: labels must be non-negative")
    n = int(labels.max()) + 1 if len(labels) else 0
    classes = classes or [str(i) for i in range(n)]
    if n > len(classes):
        raise ParameterError(f"data: {src}: label {n - 1} but only {len(classes)} classes")
    return torch.from_numpy(images), torch.from_numpy(labels), classes


def load_training_arrays(
    source: str | os.PathLike, cache: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Training images as ``(N, H, W, 3)`` uint8 and ``(N,)`` int64 labels, and class names.

    ``source``: ``"sample"`` (the bundled 1,000-image CIFAR-10 sample), an ImageFolder
    directory, a ``.tar``/``.tar.gz`` archive of one (``train/<class>/x.jpg`` works:
    the class is the parent folder), or an ``.npz`` with ``images``/``labels`` (and
    optionally ``classes``). Archives and folders are decoded once into ``cache``
    (a directory) when given.
    """

    src = _sample_archive() if str(source) == "sample" else Path(source)
    if not src.exists():
        raise ParameterError(f"data: {src} does not exist")
    if src.suffix == ".npz":
        return _read_npz(src)
    cached = None
    if cache is not None:
        st = src.stat()
        key = hashlib.sha1(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
        cached = Path(cache) / f"train-{key[:16]}.npz"
        if cached.exists():
            return load_training_arrays(cached)
    if is_archive(src):
        images, labels, classes = decode_archive_uint8(src)
    elif src.is_dir():
        images, labels, classes = _decode_folder(src)
    else:
        raise ParameterError(
            f"data: expected 'sample', an ImageFolder directory, a .tar(.gz) or .npz, got {src}"
        )
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, labels=labels, classes=np.asarray(classes))
        os.replace(tmp, cached)
    return torch.from_numpy(images), torch.from_numpy(labels), list(classes)


# --------------------------------------------------------------------------- models


def _save_outputs(clf, out: Path, method: str, summary: dict) -> None:
    from safetensors.torch import save_file

    state = {
        "arch": clf.info.get("arch"),
        "arch_kwargs": clf.info.get("arch_kwargs", {}),
        "state_dict": {k: v.detach().cpu() for k, v in clf.net.state_dict().items()},
        "classes": list(clf.classes),
        "mean": clf.normalize.mean.flatten().tolist(),
        "std": clf.normalize.std.flatten().tolist(),
        "input_size": clf.input_size,
        "name": out.name,
        "info": {"training": method},
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    tmp = out / "model.pt.tmp"
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, out / "model.pt")
    if state["arch"] and state["arch"].startswith("airnet"):
        meta = {
            "architecture": "AirNet",
            "widths": json.dumps(list(state["arch_kwargs"].get("widths", (32, 128, 128)))),
            "num_classes": str(len(state["classes"])),
            "classes": json.dumps(state["classes"]),
            "mean": json.dumps(state["mean"]),
            "std": json.dumps(state["std"]),
            "input_size": str(state["input_size"]),
            "training": method,
            "train_seconds": f"{summary.get('seconds', 0):.0f}",
        }
        sd = {
            k: v.contiguous()
            for k, v in state["state_dict"].items()
            if not k.endswith("num_batches_tracked")
        }
        save_file(sd, str(out / "model.safetensors"), metadata=meta)
    atomic_write(out / "summary.json", dumps(summary, indent=1))


def train_model(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model: str = "airnet",
    method: str = "baseline",
    finetune: str | os.PathLike | None = None,
    epochs: int = 1,
    batch_size: int = 256,
    lr: float | None = None,
    seed: int = 0,
    limit: int | None = None,
    threads: int | None = None,
    cache: str | os.PathLike | None = None,
    method_options: dict | None = None,
    config_overrides: dict | None = None,
    log: Callable[[str], None] = print,
    progress: Callable[[int, int], None] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
    arrays: tuple | None = None,
    model_options: dict | None = None,
) -> dict:
    """Train (or fine-tune) a classifier with a robustness method; what ``blurkit train`` does.

    Writes into ``out``: ``checkpoint.pt`` after every epoch (rerunning the same call
    resumes from it), then ``model.pt`` (load with :func:`load_trained`),
    ``model.safetensors`` (AirNet: the bundled-model format) and ``summary.json``.
    Under ``torchrun`` each process trains on its slice of every global batch
    (``batch_size`` is the global batch) and rank 0 writes the files.

    Args:
        data: see :func:`load_training_arrays`.
        out: output directory.
        model: architecture when training from scratch: an :data:`ARCHITECTURES` name,
            a registry architecture name (``cifar10_airnet``, ...) or ``timm:``/
            ``torchvision:<arch>``.
        method: one of :data:`METHODS`.
        finetune: start from these weights (see :func:`build_model`); the default learning
            rate is then a tenth of the from-scratch one, and blur schedules default to
            ``finetune`` (else ``pretrain``).
        epochs, batch_size, lr, seed: training budget and hyper-parameters.
        limit: train on the first ``limit`` images of a fixed shuffle of the data.
        threads: torch threads per process.
        cache: directory for decoded archives.
        method_options: keyword arguments of :func:`make_method`.
        config_overrides: fields of :class:`~blurkit.defenses.training.TrainConfig`.
        arrays: ``(images, labels, classes)`` already decoded (skips ``data``).
        model_options: keyword arguments of :func:`blurkit.models.load_model` for the
            ``finetune`` model (``weights``, ``num_classes``, ``classes``, ...).

    Returns:
        The training summary (also in ``summary.json``).
    """

    ctx = init_distributed("cpu")
    out = Path(out)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
    images, labels, classes = arrays if arrays is not None else load_training_arrays(data, cache)
    if limit:
        g = make_generator(seed)
        pick = torch.randperm(len(images), generator=g)[:limit].sort().values
        images, labels = images[pick], labels[pick]
    if len(images) < batch_size:
        raise ParameterError(
            f"batch_size: {batch_size} is more than the {len(images)} training images"
        )
    opts = dict(method_options or {})
    if opts.get("blur_share") is None:  # a constant share replaces the stage's schedule
        opts.setdefault("schedule", "finetune" if finetune else "pretrain")
    step = make_method(method, **opts)
    clf = build_model(model, classes, images, finetune, seed, model_options)
    base_lr = 0.3 if finetune is None else 0.03
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=base_lr if lr is None else lr,
        seed=seed,
        threads=threads,
        log_every=10,
    )
    for k, v in (config_overrides or {}).items():
        if not hasattr(cfg, k):
            raise ParameterError(f"config_overrides: TrainConfig has no field {k!r}")
        setattr(cfg, k, v)
    if finetune is not None and not (config_overrides or {}).get("warmup"):
        cfg.warmup = 0.1
    t0 = time.perf_counter()
    summary = train_classifier(
        clf,
        images,
        labels,
        cfg,
        checkpoint=out / "checkpoint.pt",
        log=log,
        step_fn=step,
        progress=progress,
        on_epoch_end=on_epoch_end,
    )
    summary.update(
        {
            "method": method,
            "model": clf.info.get("arch", model),
            "finetune": str(finetune) if finetune else None,
            "images": int(len(images)),
            "classes": list(classes),
            "world": ctx.world,
            "wall_seconds": time.perf_counter() - t0,
            "method_options": opts,
        }
    )
    if ctx.is_main:
        _save_outputs(clf, out, method, summary)
    ctx.barrier()
    return summary
