"""``blurkit models``: list the model registry."""

from __future__ import annotations

import typer

from .._checks import BlurkitError
from .._json import dumps
from ._app import app, fail


@app.command("models")
def models_command(
    fmt: str = typer.Option("table", "--format", "-f", help="Output format: table or json."),
    pattern: str = typer.Option(
        None, "--pattern", "-p", help="Shell pattern on names, e.g. 'cifar*'."
    ),
    bundled: bool = typer.Option(
        False, "--bundled", help="Only models whose weights ship with blurkit."
    ),
) -> None:
    """List the registered models; '*' marks weights bundled with the package.

    Any timm or torchvision architecture also loads as 'timm:<arch>' or
    'torchvision:<arch>' with a local weights file.
    """
    from ..models import list_models, model_info

    if fmt not in ("table", "json"):
        fail(f"--format: expected 'table' or 'json', got {fmt!r}")
    try:
        infos = [model_info(n) for n in list_models(pattern, bundled_only=bundled)]
    except BlurkitError as e:
        fail(str(e))
    if fmt == "json":
        typer.echo(dumps(infos, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="blurkit models (* = weights bundled)")
    for col in ("name", "dataset", "classes", "input", "weights", "test top-1", "description"):
        table.add_column(col)
    for i in infos:
        if i["bundled_weights"]:
            w = "* bundled"
        elif i.get("weights_package"):
            w = "package" if i.get("weights_available") else "package (absent)"
        else:
            w = "-"
        table.add_row(
            i["name"],
            i["dataset"],
            str(i["num_classes"]),
            str(i["input_size"]),
            w,
            i.get("test_top1", ""),
            i["description"],
        )
    Console(width=160).print(table)
