"""``blurkit deblur``: restore blurred image files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from .._checks import BlurkitError
from ._app import app, console, fail, report_files
from ._options import finite_float, positive_int


@app.command("deblur")
def deblur_command(
    images: list[Path] = typer.Argument(..., help="Image files or folders (PNG, JPEG, ...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    method: str = typer.Option(
        "wiener",
        "--method",
        "-m",
        help="wiener, rl, tv, hyper_laplacian (need --kernel), blind or learned.",
    ),
    kernel: str = typer.Option(
        None,
        "--kernel",
        "-k",
        help="The blur kernel for non-blind methods, e.g. 'defocus(radius=3)'.",
    ),
    family: str = typer.Option(
        "gaussian", help="--method blind: kernel family fitted (gaussian, defocus, motion)."
    ),
    deconv: str = typer.Option(
        "wiener", help="--method blind: non-blind method used with the estimated kernel."
    ),
    balance: float = typer.Option(
        None, help="Wiener regularisation (default 5e-3).", callback=finite_float(0.0)
    ),
    iterations: int = typer.Option(
        None, "--iterations", help="Richardson-Lucy iterations.", callback=positive_int()
    ),
    lam: float = typer.Option(
        None,
        "--lam",
        help="TV / hyper-Laplacian data weight.",
        callback=finite_float(0.0, low_inclusive=False),
    ),
    weights: Path = typer.Option(None, help="--method learned: weights file (default bundled)."),
) -> None:
    """Deblur image files with a known kernel (non-blind) or without one (blind, learned)."""
    from ..io import iter_image_files

    params: dict = {}
    if method == "blind":
        params.update(family=family, deconv=deconv)
    if method == "learned" and weights is not None:
        params["path"] = weights
    target = deconv if method == "blind" else method
    for value, key, applies in (
        (balance, "balance", "wiener"),
        (iterations, "num_iter", "rl"),
        (lam, "lam", ("tv", "hyper_laplacian")),
    ):
        if value is not None:
            if target not in ((applies,) if isinstance(applies, str) else applies):
                fail(f"--{key.replace('num_iter', 'iterations')}: does not apply to {target!r}")
            params[key] = value
    files = list(iter_image_files(images))
    if not files:
        fail("no image files found")
    from ..defenses.deblur import deblur_files

    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("deblurring", total=len(files))
            result = deblur_files(
                files,
                out,
                method,
                kernel=kernel,
                on_file=lambda _p: progress.advance(task),
                **params,
            )
    except BlurkitError as e:
        fail(str(e))
    report_files(result, out)
