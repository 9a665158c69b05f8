"""``blurkit compare-features``: the latent structure of models on clean images."""

from __future__ import annotations

import typer

from .._checks import BlurkitError
from .._json import dumps
from ._app import app, console, fail


@app.command("compare-features")
def compare_features_command(
    models: list[str] = typer.Argument(
        ..., help="Models to compare (names or files); the first is the CKA reference."
    ),
    data: str = typer.Option(
        "sample",
        "--data",
        "-d",
        help="Dataset: 'sample', a folder, an archive, CIFAR batches or a CSV list.",
    ),
    layer: str = typer.Option(
        None,
        "--layer",
        help="Module whose output is the embedding (default: the input of the last linear layer).",
    ),
    limit: int = typer.Option(None, "--limit", help="Embed at most this many images.", min=1),
    k: int = typer.Option(20, "--k", help="Neighbours of the kNN classifier.", min=1),
    batch_size: int = typer.Option(100, "--batch-size", min=1),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """Clean kNN accuracy, linear-probe accuracy, class separation and CKA to the first model.

    What robustness training did to the features, without blur: compare a robust model
    with its baseline on the same images.
    """
    if fmt not in ("table", "json"):
        fail(f"--format: expected 'table' or 'json', got {fmt!r}")
    from ..data import open_dataset
    from ..models import load_model
    from ..robustness.structure import latent_structure

    try:
        loaded = {}
        for name in models:
            m = load_model(name)
            loaded[getattr(m, "name", None) or name] = m
        first = next(iter(loaded.values()))
        ds = open_dataset(data, preprocess=getattr(first, "preprocess", None))
        rows = latent_structure(loaded, ds, layer=layer, k=k, batch_size=batch_size, limit=limit)
    except BlurkitError as e:
        fail(str(e))
    if fmt == "json":
        typer.echo(dumps(rows, indent=1))
        return
    from rich.table import Table

    t = Table(title=f"latent structure on clean images ({rows[0]['images']} images)")
    names = [r["model"] for r in rows]
    t.add_column("model", no_wrap=True, min_width=max(map(len, names)))
    for c in ("dim", "kNN acc", "probe acc", "separation", f"CKA to {rows[0]['reference']}"):
        t.add_column(c, justify="right")

    def f(v, d=3):
        return "-" if v is None else f"{v:.{d}f}"

    for r in rows:
        t.add_row(r["model"], str(r["dim"]), f(r["knn_accuracy"]), f(r["probe_accuracy"]),
                  f(r["separation"]), f(r["cka_to_reference"]))  # fmt: skip
    console.print(t)
    if rows[0]["undefined"]:
        console.print(f"label metrics undefined: {rows[0]['undefined']}", highlight=False)
