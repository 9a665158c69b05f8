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
from ._app import app, console, fail, hold_out_lock
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


class _Spread:
    """``n`` items spread evenly over a dataset (items keep their dataset index), so
    that ``--limit`` on a dataset stored by class still covers every class."""

    def __init__(self, dataset, n: int):
        from ..robustness.evaluate import spread_positions

        self.dataset = dataset
        self.positions = spread_positions(len(dataset), n)
        self.classes = getattr(dataset, "classes", None)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int):
        if not 0 <= i < len(self.positions):
            raise IndexError(i)
        return self.dataset[self.positions[i]]


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
):
    """What ``blurkit evaluate`` does, callable from Python: load the models and
    the dataset, run :func:`blurkit.robustness.evaluate`, render the report.
    Returns the :class:`~blurkit.robustness.evaluate.EvaluationResult`."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .._checks import check_int
    from ..data import open_dataset
    from ..models import load_model
    from ..robustness.distributed import init_distributed
    from ..robustness.evaluate import evaluate

    if limit is not None:  # 0 is refused, not taken as "everything"
        limit = check_int(limit, "limit", low=1)
    ctx = init_distributed(device)
    names = list(models) if models else [default_model()]
    loaded = {}
    for n in names:
        m = load_model(n, device=str(ctx.device) if ctx.world > 1 else (device or "cpu"))
        loaded[getattr(m, "name", None) or n] = m
    first = next(iter(loaded.values()))
    ds = open_dataset(
        data, classes=getattr(first, "classes", None), preprocess=getattr(first, "preprocess", None)
    )
    skipped = getattr(ds, "skipped", None)
    if skipped and ctx.is_main and not quiet:
        console.print(
            f"[yellow]{len(skipped)} file(s) or folder(s) skipped[/], e.g. {skipped[0][0]}: {skipped[0][1]}"
        )
    if limit is not None:
        ds = _Spread(ds, limit)
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
        task = bar.add_task("evaluating", total=None)

        def progress(desc, done, total):
            bar.update(task, description=desc, completed=done, total=total)

        result = evaluate(
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
            progress=progress,
            ctx=ctx,
        )
    if ctx.is_main and report:
        from ..report import render_report

        path = render_report([result.out], report_path or Path(result.out) / "report.html")
        result.timing["report"] = str(path)
    if ctx.active:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return result


@app.command("evaluate")
def evaluate_command(
    model: list[str] = typer.Option(
        None,
        "--model",
        "-m",
        help="Model name or weights path (repeat to compare); default: the bundled CIFAR-10 model.",
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
    fmt: str = typer.Option(
        "table", "--format", "-f", help="Summary on stdout: table, json or csv."
    ),
) -> None:
    """Evaluate classifiers under blur corruptions: cells.csv, summary.json and an HTML report."""
    import time

    from .._checks import check_choice

    check_choice(fmt, "--format", SUMMARY_FORMATS)
    _parse_floats(severities, "--severities")  # refused before any model or data loads
    hold_out_lock(out, "evaluate")
    t0 = time.perf_counter()
    try:
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
        )
    except BlurkitError as e:
        fail(str(e))
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


def _clean_json(v):
    import math

    if isinstance(v, dict):
        return {str(k): _clean_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean_json(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _print_summary(r, seconds: float, fmt: str = "table") -> None:
    """Print the summary on stdout as a table, JSON (``summary.json``'s content) or CSV
    (one row per model, fractions); where the results are goes to stderr."""
    import sys

    from rich.console import Console
    from rich.table import Table

    if fmt == "json":
        import json

        sys.stdout.write(json.dumps(_clean_json(r.summary), indent=1) + "\n")
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
