"""``blurkit demo``: the main job (same as ``blurkit evaluate`` with no arguments)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("blurkit-demo"), "--out", "-o", help="Results directory."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Evaluate the bundled CIFAR-10 model on the bundled sample (cifar-10-c-blur suite,
    critical blur, flip probability) and write the HTML report (a few minutes on a CPU)."""
    import time

    from .._checks import BlurkitError
    from ._app import fail
    from .cmd_evaluate import _print_summary, run_evaluate

    t0 = time.perf_counter()
    try:
        r = run_evaluate(None, out=out, quiet=quiet)
    except BlurkitError as e:
        fail(str(e))
    if r.rows:
        _print_summary(r, time.perf_counter() - t0)
