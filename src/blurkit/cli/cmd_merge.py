"""``blurkit merge``: join the results directories of ``evaluate --shard i/N`` runs."""

from __future__ import annotations

from pathlib import Path

import typer

from .._checks import BlurkitError
from ._app import app, console, fail


@app.command("merge")
def merge_command(
    shards: list[Path] = typer.Argument(
        ..., help="Results directories of the shards (`blurkit evaluate --shard i/N`)."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Merged results directory (may be a shard's own)."
    ),
    baseline: str = typer.Option(None, help="Model name to normalise CE by."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write OUT/report.html."),
) -> None:
    """Join shards into the cells.csv and summary.json that one process writes."""
    from ..robustness.engine import merge_results

    try:
        r = merge_results(shards, out, baseline=baseline)
        if report:
            r.report()
    except BlurkitError as e:
        fail(str(e))
    console.print(f"merged {len(shards)} shard(s): {len(r.rows)} cells in {r.out}")
