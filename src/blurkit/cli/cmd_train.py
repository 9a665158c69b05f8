"""``blurkit train``: train or fine-tune a classifier with a blur-robustness method.

A thin wrapper over :func:`blurkit.defenses.methods.train_model`: a progress bar,
a checkpoint after every epoch in ``--out`` (rerun the same command after a kill
to resume), fixed seeds, and under ``torchrun`` one process per slice of every
global batch (``DistributedDataParallel``, gloo on CPU).
"""

from __future__ import annotations

from pathlib import Path

import typer

from .._checks import BlurkitError
from .._json import dumps
from ._app import app, console, fail, hold_out_lock
from ._model_options import with_model_options
from ._options import finite_float, nonneg_int, positive_int


def _families(text: str | None):
    if not text:
        return None
    fams = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            name, rng = part.split("=", 1)
            lo, _, hi = rng.partition(":")
            try:
                fams[name.strip()] = (float(lo), float(hi or lo))
            except ValueError:
                fail(f"--families: expected name=low:high, got {part!r}")
        else:
            fams[part] = None
    if all(v is None for v in fams.values()):
        return list(fams)
    if any(v is None for v in fams.values()):
        fail("--families: give ranges for every family or for none")
    return fams


@app.command("train")
@with_model_options
def train_command(
    data: str = typer.Option(
        ..., "--data", "-d", help="ImageFolder directory, .tar(.gz) archive, .npz, or 'sample'."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (rerun to resume)."),
    model: str = typer.Option(
        "airnet",
        "--model",
        "-m",
        help="Architecture when from scratch: airnet, airnet-tiny, resnet9, ..., the registry's "
        "cifar10_airnet / cifar10_resnet9 / cifar10_resnet20, or timm:/torchvision:<arch>.",
    ),
    method: str = typer.Option(
        "baseline",
        "--method",
        help="baseline | augment | adversarial | consistency | adversarial_consistency.",
    ),
    finetune: str = typer.Option(
        None,
        "--finetune",
        help="Start from this model (model.pt, .safetensors, a name, or an architecture "
        "with --weights).",
    ),
    epochs: int = typer.Option(1, help="Epochs.", callback=positive_int()),
    batch_size: int = typer.Option(
        256, help="Global batch size (split across processes).", callback=positive_int()
    ),
    lr: float = typer.Option(
        None,
        help="Peak learning rate (default 0.3, fine-tuning 0.03).",
        callback=finite_float(0.0, low_inclusive=False),
    ),
    seed: int = typer.Option(
        0, help="Seed of initialisation, data order and blur draws.", callback=nonneg_int()
    ),
    limit: int = typer.Option(
        None, help="Train on N images of a fixed random subset.", callback=positive_int()
    ),
    threads: int = typer.Option(None, help="Torch threads per process.", callback=positive_int()),
    cache: Path = typer.Option(None, help="Directory to cache decoded archives in."),
    families: str = typer.Option(
        None,
        help="Blur families of augment/consistency: 'gaussian,motion' or "
        "'gaussian=0.3:1.5,camera_shake=1:5' (default: RandomBlur's mixture).",
    ),
    schedule: str = typer.Option(
        None, help="finetune | pretrain (default: finetune with --finetune)."
    ),
    blur_share: float = typer.Option(
        None,
        help="augment: share of every batch blurred, constant (default 0.5, the finetune "
        "schedule; replaces --schedule).",
        callback=finite_float(0.0, 1.0),
    ),
    consistency_weight: float = typer.Option(
        None,
        help="Jensen-Shannon weight (default 12 for consistency, 0 otherwise).",
        callback=finite_float(0.0),
    ),
    adv_kernel: str = typer.Option("freeform", help="Adversary: freeform | motion | zernike."),
    adv_steps: int = typer.Option(3, help="Adversary inner steps.", callback=positive_int()),
    adv_fraction: float = typer.Option(
        0.5, help="Share of each batch attacked.", callback=finite_float(0.0, 1.0)
    ),
    adv_ssim: float = typer.Option(
        0.85,
        help="Adversary SSIM budget.",
        callback=finite_float(0.0, 1.0, low_inclusive=False),
    ),
    adv_radius: int = typer.Option(
        2, help="Adversary kernel support radius (px).", callback=positive_int()
    ),
    adv_fidelity: str = typer.Option("constraint", help="constraint | penalty | none."),
    adv_warm_start: bool = typer.Option(False, help="Warm-start kernels per image."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    model_options: dict | None = None,
) -> None:
    """Train or fine-tune with a blur-robustness method: checkpoint.pt, model.pt, summary.json."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    hold_out_lock(out, "train")
    from ..defenses.methods import METHODS, train_model

    if method not in METHODS:
        fail(f"--method: expected one of {', '.join(METHODS)}, got {method!r}")
    opts: dict = {}
    if method in ("augment", "consistency"):
        opts["families"] = _families(families)
    if schedule:
        opts["schedule"] = schedule
    if consistency_weight is not None:
        opts["consistency_weight"] = consistency_weight
    if blur_share is not None:
        opts["blur_share"] = blur_share
    if method in ("adversarial", "adversarial_consistency"):
        opts["adversary"] = {
            "kernel": adv_kernel,
            "steps": adv_steps,
            "fraction": adv_fraction,
            "ssim_budget": adv_ssim,
            "support_radius": adv_radius,
            "fidelity": None if adv_fidelity == "none" else adv_fidelity,
            "warm_start": adv_warm_start,
        }
    import os

    rank0 = int(os.environ.get("RANK", "0")) == 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet or not rank0,
    ) as bar:
        task = bar.add_task(f"training ({method})", total=None)

        def progress(done, total):
            bar.update(task, completed=done, total=total)

        def log(line: str) -> None:
            if not quiet and rank0 and (line.startswith("{") or line.startswith("resumed")):
                bar.console.print(line, highlight=False)

        try:
            model_opts = model_options or {}
            if model_opts and not finetune:
                fail("--weights, --num-classes, ... describe the --finetune model; give --finetune")
            summary = train_model(
                data,
                out,
                model=model,
                method=method,
                finetune=finetune,
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                seed=seed,
                limit=limit,
                threads=threads,
                cache=cache,
                method_options=opts,
                log=log,
                progress=progress,
                model_options=model_opts,
            )
        except BlurkitError as e:
            fail(str(e))
    if rank0:
        keys = ("method", "epochs", "images", "loss", "train_acc", "seconds", "world")
        console.print(dumps({k: summary.get(k) for k in keys}), highlight=False)
        console.print(f"wrote {Path(out) / 'model.pt'}", highlight=False)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
