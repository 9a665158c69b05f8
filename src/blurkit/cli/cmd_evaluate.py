"""``blurkit evaluate``: robustness of classifiers to blur, as tables and an HTML report.

With no arguments it runs the main job: the bundled CIFAR-10 model on the
bundled 1,000-image sample, the ``cifar-10-c-blur`` suite at severities 1-5,
critical blur on a subset, and the report. Under ``torchrun`` the images are
sharded across processes and rank 0 writes the results.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .._checks import BlurkitError
from .._json import dumps
from ._app import app, console, fail, hold_out_lock
from ._model_options import LABEL_SPACE_OPTION, with_model_options
from ._options import (
    device_option,
    float_list,
    int_at_least,
    nonneg_int,
    positive_int,
    preset_option,
)

#: defaults of the main job (chosen so that it finishes in under 3 minutes on a 2-core CPU)
MAIN_JOB = {
    "data": "sample",
    "suite": "cifar-10-c-blur",
    "severities": "1,2,3,4,5",
    "critical_images": 100,
    "flip_frames": 11,
    "flip_images": 100,
}


def default_model() -> str:
    """Name of the bundled CIFAR-10 model (the one with weights in the package)."""
    from .. import models

    name = getattr(models, "DEFAULT_MODEL", None)
    if name:
        return name
    for n in models.list_models():
        info = models.model_info(n)
        if info.get("bundled") and "cifar" in str(info.get("task", n)).lower() + n.lower():
            return n
    raise BlurkitError("no bundled CIFAR-10 model found; pass --model")


def _parse_floats(text: str, name: str) -> list[float]:
    """Comma-separated severities, each finite and in [1, 5] (a typed error otherwise)."""
    return float_list(text, name, low=1.0, high=5.0)


def _flip_frames(ctx, param, value):
    """``--flip-frames``: 0 (skip the sweep) or at least 2 frames."""
    value = int_at_least(0)(ctx, param, value)
    if value == 1:
        from .._checks import ParameterError

        raise ParameterError("--flip-frames: expected 0 (skip) or at least 2 frames, got 1")
    return value


def _match_label_spaces(loaded: dict, classes, label_space: str) -> dict:
    from ..models import Classifier
    from ..models.label_space import match_label_space

    out = {}
    for name, m in loaded.items():
        if isinstance(m, Classifier) and (label_space == "auto" or m.info.get("generic_classes")):
            m = match_label_space(m, classes, "auto")
            name = m.name if m.info.get("label_space") else name
        out[name] = m
    return out


def run_evaluate(
    models: list[str] | None = None,
    data: str = "sample",
    out: Path = Path("blurkit-results"),
    *,
    suite: str = MAIN_JOB["suite"],
    corruptions: str | None = None,
    severities: str = MAIN_JOB["severities"],
    preset: str | None = None,
    seed: int = 0,
    batch_size: int = 256,
    limit: int | None = None,
    device: str | None = None,
    critical: bool = True,
    critical_images: int = MAIN_JOB["critical_images"],
    flip_frames: int = MAIN_JOB["flip_frames"],
    flip_images: int = MAIN_JOB["flip_images"],
    examples: int = 8,
    baseline: str | None = None,
    overwrite: bool = False,
    report: bool = True,
    report_path: Path | None = None,
    quiet: bool = False,
    model_options: dict | None = None,
    label_space: str = "auto",
    shard: str | None = None,
    num_workers: int | None = None,
    amp: str | None = None,
    channels_last: bool = False,
    task: str = "classification",
    task_options: dict | None = None,
):
    """What ``blurkit evaluate`` does, callable from Python: load the models and
    the dataset, run :func:`blurkit.robustness.evaluate_model`, render the report.
    ``model_options`` are :func:`blurkit.models.load_model` keyword arguments
    (``weights``, ``num_classes``, ``classes``, ``mean``, ``std``, ``input_size``,
    ``trust_pickle``) applied to every model. ``label_space``: ``auto`` scores a model
    with more classes than the data on the data's classes by restricting its logits
    (ImageNet-R/A style; the model's name then says ``@<k>-of-<n>-classes``), ``full``
    maps the folders into the model's whole output.
    Returns the :class:`~blurkit.robustness.engine.EvaluationResult`."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .._checks import check_int
    from ..data import open_dataset
    from ..models import load_model
    from ..robustness.distributed import init_distributed
    from ..robustness.engine import evaluate_model

    if limit is not None:  # 0 is refused, not taken as "everything"
        limit = check_int(limit, "limit", low=1)
    ctx = init_distributed(device)
    names = list(models) if models else [default_model()]
    loaded = {}
    model_options = dict(model_options or {})
    from ..models.label_space import LABEL_SPACES

    if label_space not in LABEL_SPACES:
        raise BlurkitError(
            f"--label-space: expected one of {', '.join(LABEL_SPACES)}, got {label_space!r}"
        )
    if model_options.get("weights") and len(names) > 1:
        raise BlurkitError("--weights: give one --model with it (the weights are for one network)")
    for n in names:
        m = load_model(
            n, device=str(ctx.device) if ctx.world > 1 else (device or "cpu"), **model_options
        )
        loaded[getattr(m, "name", None) or n] = m
    first = next(iter(loaded.values()))
    full = label_space == "full" and not getattr(first, "info", {}).get("generic_classes")
    ds = open_dataset(
        data,
        classes=getattr(first, "classes", None) if full else None,
        preprocess=getattr(first, "preprocess", None),
    )
    if getattr(ds, "classes", None) is not None:
        loaded = _match_label_spaces(loaded, ds.classes, label_space)
    skipped = getattr(ds, "skipped", None)
    if skipped and ctx.is_main and not quiet:
        console.print(
            f"[yellow]{len(skipped)} file(s) or folder(s) skipped[/], e.g. {skipped[0][0]}: {skipped[0][1]}"
        )
    show = ctx.is_main and not quiet
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not show,
    ) as bar:
        bar_id = bar.add_task("evaluating", total=None)

        def progress(desc, done, total):
            bar.update(bar_id, description=desc, completed=done, total=total)

        result = evaluate_model(
            loaded,
            ds,
            out,
            corruptions=corruptions or suite,
            severities=_parse_floats(severities, "--severities"),
            preset=preset,
            seed=seed,
            batch_size=batch_size,
            device=device,
            flip_frames=flip_frames,
            flip_images=flip_images,
            critical=critical,
            critical_images=critical_images,
            examples=examples,
            baseline=baseline,
            dataset_id=str(data) + (f"[spread {limit}]" if limit is not None else ""),
            overwrite=overwrite,
            limit=limit or None,
            shard=shard,
            num_workers=num_workers,
            amp=amp,
            channels_last=channels_last,
            task=task,
            task_options=task_options or {},
            progress=progress,
            ctx=ctx,
        )
    if ctx.is_main and report and result.complete:
        from ..report import render_report

        path = render_report([result.out], report_path or Path(result.out) / "report.html")
        result.timing["report"] = str(path)
    if ctx.active:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return result


@app.command("evaluate")
@with_model_options
def evaluate_command(
    model: list[str] = typer.Option(
        None,
        "--model",
        "-m",
        help="Model name, architecture (with --weights) or file (.safetensors, model.pt, "
        "TorchScript, .pt2); repeat to compare; default: the bundled CIFAR-10 model.",
    ),
    data: str = typer.Option(
        MAIN_JOB["data"],
        "--data",
        "-d",
        help="'sample', an ImageFolder directory, a .tar(.gz) archive or CIFAR-10 batches.",
    ),
    out: Path = typer.Option(
        Path("blurkit-results"),
        "--out",
        "-o",
        help="Results directory (a rerun with the same arguments resumes).",
    ),
    suite: str = typer.Option(
        MAIN_JOB["suite"], "--suite", "-s", help="imagenet-c-blur, cifar-10-c-blur, natural, ..."
    ),
    corruptions: str = typer.Option(
        None, "--corruptions", "-c", help="Comma-separated corruption names (instead of --suite)."
    ),
    severities: str = typer.Option(
        MAIN_JOB["severities"], help="Comma-separated severities in [1, 5]."
    ),
    preset: str = typer.Option(
        None,
        help="Severity table: imagenet-c or cifar-10-c (default: by image size).",
        callback=preset_option(),
    ),
    seed: int = typer.Option(
        0, help="Global seed of the per-image random draws.", callback=nonneg_int()
    ),
    batch_size: int = typer.Option(
        256, help="Images per forward pass (per process).", callback=positive_int()
    ),
    limit: int = typer.Option(
        None,
        help="Evaluate only N >= 1 images, spread evenly over the dataset.",
        callback=positive_int(),
    ),
    device: str = typer.Option(
        None,
        help="cpu, cuda, cuda:1, ... (default: cpu; under torchrun one GPU per process).",
        callback=device_option(),
    ),
    critical: bool = typer.Option(
        True, "--critical/--no-critical", help="Also search the critical blur of each image."
    ),
    critical_images: int = typer.Option(
        MAIN_JOB["critical_images"],
        help="Images for the critical-blur search.",
        callback=positive_int(),
    ),
    flip_frames: int = typer.Option(
        MAIN_JOB["flip_frames"],
        help="Frames of the flip-probability sweep (0: skip; else at least 2).",
        callback=_flip_frames,
    ),
    flip_images: int = typer.Option(
        MAIN_JOB["flip_images"],
        help="Images of the flip-probability sweep.",
        callback=positive_int(),
    ),
    examples: int = typer.Option(
        8, help="Example images per cell in the report.", callback=nonneg_int()
    ),
    baseline: str = typer.Option(None, help="Model name to normalise CE by."),
    overwrite: bool = typer.Option(False, help="Discard results in OUT made with other arguments."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write OUT/report.html."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    label_space: str = LABEL_SPACE_OPTION,
    task: str = typer.Option(
        "classification",
        "--task",
        help="classification (top-1 under blur) or embedding (how far blur moves the "
        "features: cosine, drift, retrieval@1, kNN, linear probe, CKA).",
    ),
    layer: str = typer.Option(
        None,
        "--layer",
        help="--task embedding: the module whose output is the embedding (default: the "
        "input of the last linear layer, or the model's output for an encoder).",
    ),
    cosine_threshold: float = typer.Option(
        None,
        "--cosine-threshold",
        help="--task embedding: critical blur also counts a cosine to the clean embedding "
        "below this as a change.",
    ),
    shard: str = typer.Option(
        None, help="Run one shard 'i/N' of the images (job arrays); join with 'blurkit merge'."
    ),
    num_workers: int = typer.Option(
        None,
        help="Loader processes decoding images (default: min(4, CPUs)).",
        callback=nonneg_int(),
    ),
    amp: str = typer.Option(None, help="Run the model under autocast: bf16 or fp16."),
    channels_last: bool = typer.Option(
        False, "--channels-last", help="Run the model in the channels-last memory layout."
    ),
    fmt: str = typer.Option(
        "table", "--format", "-f", help="Summary on stdout: table, json or csv."
    ),
    model_options: dict | None = None,
) -> None:
    """Evaluate classifiers under blur corruptions: cells.csv, summary.json and an HTML report."""
    import time

    from .._checks import check_choice

    check_choice(fmt, "--format", SUMMARY_FORMATS)
    _parse_floats(severities, "--severities")  # refused before any model or data loads
    hold_out_lock(out, "evaluate")
    t0 = time.perf_counter()
    try:
        opts = model_options or {}
        r = run_evaluate(
            model,
            data,
            out,
            suite=suite,
            corruptions=corruptions,
            severities=severities,
            preset=preset,
            seed=seed,
            batch_size=batch_size,
            limit=limit,
            device=device,
            critical=critical,
            critical_images=critical_images,
            flip_frames=flip_frames,
            flip_images=flip_images,
            examples=examples,
            baseline=baseline,
            overwrite=overwrite,
            report=report,
            quiet=quiet,
            model_options=opts,
            label_space=label_space,
            shard=shard,
            num_workers=num_workers,
            amp=amp,
            channels_last=channels_last,
            task=task,
            task_options={
                k: v
                for k, v in {"layer": layer, "threshold": cosine_threshold}.items()
                if v is not None
            },
        )
    except BlurkitError as e:
        fail(str(e))
    if not r.complete:
        console.print(f"shard {shard} done in {r.out}; join the shards with 'blurkit merge'")
        return
    if not r.rows:  # not rank 0
        return
    _print_summary(r, time.perf_counter() - t0, fmt)


#: the formats of ``evaluate --format``
SUMMARY_FORMATS = ("table", "json", "csv")

#: the per-model summary values of the table and the csv, in order
_SUMMARY_KEYS = (
    ("clean acc %", "clean_accuracy"),
    ("mean blur acc %", "mean_blur_accuracy"),
    ("mCE (AlexNet) %", "mce_alexnet"),
    ("mean flip rate %", "mean_flip_rate"),
    ("mFP %", "mean_flip_probability"),
)


def _print_summary(r, seconds: float, fmt: str = "table") -> None:
    """Print the summary on stdout as a table, JSON (``summary.json``'s content) or CSV
    (one row per model, fractions); where the results are goes to stderr."""
    import sys

    from rich.console import Console
    from rich.table import Table

    if fmt == "json":
        sys.stdout.write(dumps(r.summary, indent=1) + "\n")
    elif fmt == "csv":
        import csv

        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["model", *(k for _, k in _SUMMARY_KEYS)])
        for m, s in r.summary["models"].items():
            w.writerow([m, *("" if s.get(k) is None else s.get(k) for _, k in _SUMMARY_KEYS)])
    if fmt != "table":
        console.print(
            f"results in {r.out} ({seconds:.0f} s)"
            + (f"; report: {r.timing['report']}" if "report" in r.timing else ""),
            highlight=False,
        )
        return
    if r.summary.get("task") == "embedding":
        return _print_embedding_summary(r, seconds)

    t = Table(title="blur robustness", show_lines=False)
    for c in (
        "model",
        "clean acc %",
        "mean blur acc %",
        "mCE (AlexNet) %",
        "mean flip rate %",
        "mFP %",
    ):
        if c == "model":  # names tell the models apart: never truncate them
            names = list(r.summary["models"]) or [""]
            t.add_column(c, justify="left", no_wrap=True, min_width=max(map(len, names)))
        else:
            t.add_column(c, justify="right")

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}"

    for m, s in r.summary["models"].items():
        t.add_row(
            m,
            pct(s["clean_accuracy"]),
            pct(s["mean_blur_accuracy"]),
            pct(s.get("mce_alexnet")),
            pct(s.get("mean_flip_rate")),
            pct(s.get("mean_flip_probability")),
        )
    Console().print(t)
    console.print(
        f"results in {r.out} ({seconds:.0f} s)"
        + (f"; report: {r.timing['report']}" if "report" in r.timing else "")
    )


def _print_embedding_summary(r, seconds: float) -> None:
    from rich.table import Table

    t = Table(title="representation under blur (means over blurred cells)")
    cols = ("clean kNN", "cosine", "drift", "retrieval@1", "kNN", "CKA")
    names = list(r.summary["models"]) or [""]
    t.add_column("model", justify="left", no_wrap=True, min_width=max(map(len, names)))
    for c in cols:
        t.add_column(c, justify="right")

    def f(v):
        return "-" if v is None else f"{v:.3f}"

    for m, s in r.summary["models"].items():
        t.add_row(
            m,
            f(s.get("clean_knn_accuracy")),
            f(s.get("mean_cosine")),
            f(s.get("mean_drift")),
            f(s.get("mean_retrieval_at_1")),
            f(s.get("mean_knn_accuracy")),
            f(s.get("mean_cka")),
        )
    console.print(t)
    for m, s in r.summary["models"].items():
        if s.get("undefined"):
            console.print(f"{m}: {s['undefined']}", highlight=False)
    console.print(
        f"results in {r.out} ({seconds:.0f} s)"
        + (f"; report: {r.timing['report']}" if "report" in r.timing else "")
    )
