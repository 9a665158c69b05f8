"""``blurkit measure``: blur measures of image files (find the out-of-focus shots in a folder)."""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .._checks import BlurkitError
from .._json import dumps
from ._app import app, console, fail, run_on_files
from ._options import finite_float


def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf"
        return f"{v:.4g}"
    return str(v)


@app.command("measure")
def measure_command(
    images: list[Path] = typer.Argument(..., help="Image files or folders (walked recursively)."),
    metrics: str = typer.Option(
        "blur_effect,laplacian_variance,cpbd",
        "--metrics",
        "-m",
        help="Comma-separated no-reference measures, 'all', or 'none'; see --list.",
    ),
    estimate: str = typer.Option(
        None, "--estimate", "-e", help="Estimate the blur: gaussian, defocus or motion."
    ),
    reference: Path = typer.Option(
        None, "--reference", "-r", help="Sharp image: adds PSNR, SSIM and MS-SSIM columns."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    sort: str = typer.Option(
        None, "--sort", help="Sort by this column, blurriest first (any metric or estimate)."
    ),
    threshold: float = typer.Option(
        None,
        "--threshold",
        help="Flag images as blurry when the --sort column (or the first metric) is on the "
        "blurry side of this value.",
        callback=finite_float(),
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Write the results to this file."),
    list_: bool = typer.Option(False, "--list", help="List the measures and exit."),
) -> None:
    """Measure how blurry image files are; unreadable files are reported and skipped."""
    from ..measure import METRICS
    from ..measure.files import blurrier_is_higher, measure_files

    if list_:
        t = Table("measure", "higher is", "reference", "weakness")
        for m in METRICS.values():
            t.add_row(m.name, m.higher_is, m.reference, m.weakness)
        Console().print(t)
        raise typer.Exit(0)
    if fmt not in ("table", "csv", "json"):
        fail(f"--format: expected table, csv or json, got {fmt!r}")
    if metrics.strip() == "all":
        names = list(METRICS)
    elif metrics.strip() in ("", "none"):
        names = []
    else:
        names = [m.strip() for m in metrics.split(",") if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        fail(f"--metrics: unknown {unknown}; choose from {list(METRICS)}")
    res = run_on_files(
        images,
        "measuring",
        lambda files, on_file: measure_files(
            files, names, estimate=estimate, reference=reference, on_file=on_file
        ),
        progress_for_one=False,
    )
    for path, reason in res.skipped:
        console.print(f"[yellow]skipped[/] {path}: {reason}", highlight=False)
    key = sort or (res.columns[0] if res.columns else None)
    if (sort or threshold is not None) and key not in res.columns:
        fail(f"--sort: expected one of the result columns {res.columns}, got {key!r}")
    rows = res.rows
    if key is not None and (sort or threshold is not None):
        try:
            hi_blurry = blurrier_is_higher(key)
        except BlurkitError as e:
            fail(f"--sort: {e}")
        if sort:

            def order(r):
                v = r[key]
                v = -math.inf if math.isnan(v) else v
                return -v if hi_blurry else v

            rows = sorted(rows, key=order)
        if threshold is not None:
            for r in rows:
                v = r[key]
                r["blurry"] = (not math.isnan(v)) and (
                    v > threshold if hi_blurry else v < threshold
                )
    columns = ["path", "height", "width", *res.columns] + (
        ["blurry"] if threshold is not None else []
    )
    text = _render(rows, columns, fmt, res.skipped)
    if output is not None:
        if not isinstance(text, str):
            buf = io.StringIO()
            Console(file=buf, width=200, no_color=True).print(text)
            text = buf.getvalue()
        output.write_text(text)
        console.print(f"wrote {output}", highlight=False)
    elif isinstance(text, str):
        sys.stdout.write(text)
    else:
        Console().print(text)
    if threshold is not None:
        n = sum(bool(r.get("blurry")) for r in rows)
        console.print(f"{n} of {len(rows)} images flagged blurry ({key} threshold {threshold:g})")
    if not rows:
        raise typer.Exit(1)


def _render(rows, columns, fmt, skipped):
    if fmt == "json":
        results = [{c: r.get(c) for c in columns} for r in rows]
        skipped_rows = [{"path": p, "reason": m} for p, m in skipped]
        return dumps({"results": results, "skipped": skipped_rows}, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([r.get(c) for c in columns])
        return buf.getvalue()
    t = Table()
    for c in columns:
        t.add_column(c, overflow="fold", min_width=min(len(c), 12))
    for r in rows:
        cells = [_fmt(r.get(c)) for c in columns]
        if r.get("blurry"):
            cells = [f"[red]{c}[/]" for c in cells]
        t.add_row(*cells)
    return t
