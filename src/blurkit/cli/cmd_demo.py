"""``blurkit demo``: the bundled baseline against the bundled blur-robust models, one report."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app


def demo_models(every: bool = False) -> list[str]:
    """The bundled CIFAR-10 baseline followed by the first bundled robust variant present
    (in :data:`blurkit.models.BUNDLED_CIFAR_ROBUST` order), or by all of them."""
    from .. import models

    robust = [n for n in models.BUNDLED_CIFAR_ROBUST if models.model_info(n)["bundled_weights"]]
    return [models.BUNDLED_CIFAR, *(robust if every else robust[:1])]


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("blurkit-demo"), "--out", "-o", help="Results directory."),
    every: bool = typer.Option(
        False, "--all", help="Every bundled robust model, not only the first (takes longer)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Compare the bundled CIFAR-10 baseline with a bundled blur-robust model
    (``--all``: every one shipped) on the bundled sample: the
    cifar-10-c-blur suite, critical blur and flip probability, CE normalised by the
    baseline, in one HTML report (a few minutes on a CPU)."""
    import time

    from .._checks import BlurkitError
    from ._app import console, fail, hold_out_lock
    from .cmd_evaluate import _print_summary, run_evaluate

    hold_out_lock(out, "demo")
    names = demo_models(every)
    if len(names) == 1:
        console.print(
            "[yellow]no bundled robust model in this install: evaluating the baseline alone[/]"
        )
    t0 = time.perf_counter()
    try:
        r = run_evaluate(names, out=out, baseline=names[0], quiet=quiet)
    except BlurkitError as e:
        fail(str(e))
    if r.rows:
        _print_summary(r, time.perf_counter() - t0)
