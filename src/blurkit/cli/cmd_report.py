"""``blurkit report``: render stored results as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import typer

from .._checks import BlurkitError
from ._app import app, console, fail


@app.command("report")
def report_command(
    results: list[Path] = typer.Argument(
        ..., help="Results directories written by `blurkit evaluate`."
    ),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write."),
    title: str = typer.Option("blurkit robustness report", help="Page title."),
) -> None:
    """Compare the models of one or more results directories in one HTML page."""
    from ..report import render_report

    try:
        path = render_report(results, out, title=title)
    except BlurkitError as e:
        fail(str(e))
    console.print(f"wrote {path}")
