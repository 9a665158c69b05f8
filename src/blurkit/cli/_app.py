"""The typer application shared by every sub-command, and error reporting."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    name="blurkit",
    help="Blur in computer vision: kernels, corruptions, measurement, robustness.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error (no traceback) and exit non-zero."""
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def report_files(result, out) -> None:
    """Print what a file command wrote and which files failed; exit 1 if any failed."""
    console.print(f"wrote {len(result.written)} image(s) to {out}")
    if result.failed:
        console.print(f"[bold red]{len(result.failed)} file(s) failed:[/]")
        for path, reason in result.failed:
            console.print(f"  {path}: {reason}", highlight=False, markup=False)
        raise typer.Exit(1)
