"""``blurkit deblur``: restore blurred image files."""

from __future__ import annotations

from pathlib import Path

import typer

from ..kernels.family import blur_families
from ._app import app, fail, report_files, run_on_files
from ._options import finite_float, float_list, positive_int


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
        "free",
        help="--method blind: the kernel estimated: free (free-form, for camera shake), "
        f"or a fitted family ({', '.join(blur_families(estimable=True))}).",
    ),
    deconv: str = typer.Option(
        None,
        help="--method blind: non-blind method used with the estimated kernel "
        "(default tv for --family free, wiener otherwise).",
    ),
    kernel_size: int = typer.Option(
        None,
        "--kernel-size",
        help="--method blind --family free: odd side of the kernel box (default: from the "
        "image size, about an eighth of the shorter side).",
    ),
    depths: str = typer.Option(
        None,
        "--depths",
        help="--method blind --family free: coarsest kernel sides of the pyramids to try, "
        "e.g. '5,7,9' (the sparsest result kept per image; default 9).",
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

    params: dict = {}
    if method == "blind":
        params.update(family=family, deconv=deconv)
        if kernel_size is not None:
            if family != "free":
                fail("--kernel-size: applies to --family free only")
            params["kernel_size"] = kernel_size
        if depths is not None:
            if family != "free":
                fail("--depths: applies to --family free only")
            sides = float_list(depths, "--depths", low=3, high=1025)
            if not sides or any(v != int(v) for v in sides):
                fail(f"--depths: expected comma-separated integers of at least 3, got {depths!r}")
            params["estimator"] = {"coarsest": tuple(int(v) for v in sides)}
    elif kernel_size is not None or depths is not None:
        fail(
            f"--{'kernel-size' if kernel_size is not None else 'depths'}: applies to "
            "--method blind only"
        )
    if method == "learned" and weights is not None:
        params["path"] = weights
    target = method
    if method == "blind":
        target = deconv if deconv is not None else ("tv" if family == "free" else "wiener")
    for value, key, applies in (
        (balance, "balance", "wiener"),
        (iterations, "num_iter", "rl"),
        (lam, "lam", ("tv", "hyper_laplacian")),
    ):
        if value is not None:
            if target not in ((applies,) if isinstance(applies, str) else applies):
                fail(f"--{key.replace('num_iter', 'iterations')}: does not apply to {target!r}")
            params[key] = value
    from ..defenses.deblur import deblur_files

    result = run_on_files(
        images,
        "deblurring",
        lambda files, on_file: deblur_files(
            files, out, method, kernel=kernel, on_file=on_file, **params
        ),
    )
    report_files(result, out)
