"""``blurkit blur``: apply a corruption or a kernel to image files."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, report_files, run_on_files
from ._options import finite_float, nonneg_int


@app.command("blur")
def blur_command(
    images: list[Path] = typer.Argument(..., help="Image files or folders (PNG, JPEG, ...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    corruption: str = typer.Option(
        None, "--corruption", "-c", help="Corruption name (see `blurkit blur --list`)."
    ),
    severity: float = typer.Option(
        3.0,
        "--severity",
        "-s",
        help="Severity 1-5 (fractions allowed).",
        callback=finite_float(1.0, 5.0),
    ),
    preset: str = typer.Option(
        "imagenet-c", help="Parameter table: imagenet-c, cifar-10-c, natural."
    ),
    seed: int = typer.Option(
        0,
        help="Run seed (each file's draw is derived from it and the file name).",
        callback=nonneg_int(),
    ),
    kernel: str = typer.Option(
        None,
        "--kernel",
        "-k",
        help="Kernel spec instead of a corruption, e.g. 'defocus(radius=3.5)'.",
    ),
    boundary: str = typer.Option(
        "reflect",
        help="Boundary rule for --kernel: reflect, symmetric, replicate, circular, zeros.",
    ),
) -> None:
    """Blur image files with a named corruption or an explicit kernel."""
    from ..files import blur_files

    result = run_on_files(
        images,
        "blurring",
        lambda files, on_file: blur_files(
            files,
            out,
            corruption=corruption,
            severity=severity,
            preset=preset,
            seed=seed,
            kernel=kernel,
            boundary=boundary,
            on_file=on_file,
        ),
    )
    report_files(result, out)
