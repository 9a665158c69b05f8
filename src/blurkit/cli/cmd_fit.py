"""``blurkit fit``: which kernel explains a real blur (fit PSFs to a sharp / blurred pair)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from .._checks import BlurkitError
from .._json import dumps
from ._app import app, console, fail


def kernel_sheet(fits, scale: int = 8):
    """The fitted kernels side by side (ranked order), each scaled to its maximum."""
    import torch
    import torch.nn.functional as F

    n = max(f.kernel.shape[-1] for f in fits)
    tiles = []
    for f in fits:
        k = f.kernel.float()
        p = (n - k.shape[-1]) // 2
        k = F.pad(k, (p, n - k.shape[-1] - p, p, n - k.shape[-1] - p))
        k = k / k.max().clamp_min(1e-12)
        tiles.append(k.repeat_interleave(scale, 0).repeat_interleave(scale, 1))
        tiles.append(torch.ones(n * scale, 2))
    return torch.cat(tiles[:-1], 1)[None]


@app.command("fit")
def fit_command(
    sharp: Path = typer.Argument(..., help="The sharp image (PNG 8/16-bit, JPEG, ...)."),
    blurred: Path = typer.Argument(..., help="The blurred capture of the same scene."),
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
    out: Path = typer.Option(None, "--out", "-o", help="Write a picture of the fitted kernels."),
    kernel_size: int = typer.Option(31, "--kernel-size", help="Odd side of the kernels fitted."),
    max_shift: int = typer.Option(3, "--max-shift", help="Largest misalignment absorbed (px)."),
    families: str = typer.Option(
        None, help="Comma-separated parametric families (default: all that can be fitted)."
    ),
    steps: int = typer.Option(150, help="Gradient-descent steps per parametric family."),
) -> None:
    """Fit each kernel family (and a free-form PSF) to SHARP -> BLURRED; rank them by BIC."""
    from ..io import ImageReadError, read_image, write_image
    from ..measure.fit import fit_psf

    if fmt not in ("text", "json"):
        fail(f"--format: expected text or json, got {fmt!r}")
    fams = None if families is None else [f.strip() for f in families.split(",") if f.strip()]
    try:
        x, y = read_image(sharp), read_image(blurred)
        if x.shape[0] != y.shape[0]:  # one gray, one colour: compare on luma
            x, y = read_image(sharp, "rgb"), read_image(blurred, "rgb")
        fits = fit_psf(x, y, fams, kernel_size=kernel_size, max_shift=max_shift, steps=steps)
    except ImageReadError as e:
        fail(str(e), code=1)
    except BlurkitError as e:
        fail(str(e))
    shift = list(fits[0].shift)
    if out is not None:
        write_image(out, kernel_sheet(fits))
    if fmt == "json":
        typer.echo(dumps({"families": [f.as_dict() for f in fits], "shift": shift}))
        return
    if any(shift):
        console.print(f"aligned: the capture is displaced by (dy, dx) = {tuple(shift)} px")
    table = Table(title=f"{blurred.name} explained by a convolution of {sharp.name}")
    for c in ("rank", "family", "PSNR (dB)", "BIC", "params", "gain", "offset"):
        table.add_column(c)
    for i, f in enumerate(fits, 1):
        params = ", ".join(f"{k}={v:.3g}" for k, v in f.params.items()) or f"{f.n_params} taps"
        table.add_row(
            str(i), f.family, f"{f.psnr:.2f}", f"{f.bic:.0f}", params, f"{f.gain:.3f}",
            f"{f.offset:.3f}",
        )  # fmt: skip
    console.print(table)
    if out is not None:
        console.print(f"kernels ({', '.join(f.family for f in fits)}) written to {out}")
