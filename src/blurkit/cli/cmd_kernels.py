"""``blurkit kernels``: a labelled gallery of PSFs."""

from __future__ import annotations

from pathlib import Path

import typer

from .._checks import BlurkitError
from ._app import app, console, fail
from ._options import positive_int


@app.command("kernels")
def kernels_command(
    out: Path = typer.Option(
        Path("kernels.png"), "--out", "-o", help="Image file to write (PNG, JPEG, PDF)."
    ),
    kernel: list[str] = typer.Option(
        None,
        "--kernel",
        "-k",
        help="Kernel spec, e.g. 'defocus(radius=3.5)'; repeat for several. Default: every family.",
    ),
    columns: int = typer.Option(5, help="Panels per row.", callback=positive_int()),
    list_only: bool = typer.Option(False, "--list", help="List the kernel families and exit."),
) -> None:
    """Draw a labelled gallery of blur kernels (point-spread functions)."""
    from ..kernels import list_kernels
    from ..kernels.gallery import DEFAULT_GALLERY, kernel_gallery

    if list_only:
        for name in list_kernels():
            typer.echo(name)
        return
    if out.is_dir():
        fail(f"--out: {str(out)!r} is a folder; expected an image file such as kernels.png")
    from matplotlib.figure import Figure

    formats = sorted(Figure().canvas.get_supported_filetypes())
    if out.suffix and out.suffix.lower().lstrip(".") not in formats:
        fail(f"--out: expected a file name ending in one of {formats}, got {out.name!r}")
    try:
        kernel_gallery(kernel or DEFAULT_GALLERY, out, columns=columns)
    except BlurkitError as e:
        fail(str(e))
    console.print(f"wrote {out}")
