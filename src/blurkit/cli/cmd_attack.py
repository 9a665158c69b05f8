"""``blurkit attack``: adversarial blur kernels under an SSIM budget, and critical blur.

For each SSIM budget, :func:`blurkit.robustness.blur_attack` looks for a kernel per image
that flips the model's prediction, and :func:`blurkit.robustness.fixed_family_at_budget`
measures the fixed families at the same budget for comparison. ``--critical`` also runs
:func:`blurkit.robustness.critical_blur` for the named families. Results go to
``OUT/attack.csv`` (one row per image and budget), ``OUT/critical.csv`` and
``OUT/attack_summary.json``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import typer

from .._checks import BlurkitError
from .._json import dumps
from ..kernels.family import blur_families
from ._app import app, console, fail, hold_out_lock
from ._model_options import with_model_options
from ._options import device_option, float_list, nonneg_int, positive_int


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _load_images(data: str, model, limit: int | None):
    import torch

    from ..data import open_dataset
    from ..models import Classifier
    from ..models.label_space import match_label_space

    generic = isinstance(model, Classifier) and model.info.get("generic_classes", False)
    ds = open_dataset(
        data,
        classes=None if generic else getattr(model, "classes", None),
        preprocess=getattr(model, "preprocess", None),
    )
    if generic:  # a model without class names takes the dataset's folder names (in place)
        match_label_space(model, ds.classes)
    from ..robustness.evaluate import spread_positions

    n = len(ds) if not limit else min(int(limit), len(ds))
    items = [ds[i] for i in spread_positions(len(ds), n)]  # every class of a class-sorted set
    x = torch.stack([it[0] for it in items])
    y = torch.tensor([int(it[1]) for it in items])
    idx = [int(it[2]) if len(it) > 2 else i for i, it in enumerate(items)]
    return x, y, idx


def run_attack(
    model,
    images,
    labels,
    out: Path,
    *,
    budgets: list[float] = (0.95, 0.9, 0.8),
    kernel: str = "freeform",
    support_radius: int | None = None,
    steps: int = 40,
    families: list[str] = blur_families(twinned=True),
    critical: list[str] = (),
    batch_size: int = 128,
    seed: int = 0,
    indices: list[int] | None = None,
) -> dict:
    """What ``blurkit attack`` does, callable from Python with a model and tensors.

    Writes ``attack.csv``, ``critical.csv`` (when ``critical`` names families) and
    ``attack_summary.json`` under ``out``; returns the summary dict.
    """
    from ..robustness import blur_attack, critical_blur, fixed_family_at_budget

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = images.shape[0]
    indices = list(range(n)) if indices is None else list(indices)
    rows, per_budget = [], []
    for tau in budgets:
        res = blur_attack(
            model, images, labels, kernel=kernel, ssim_budget=tau,
            support_radius=support_radius, steps=steps, batch_size=batch_size, seed=seed,
        )  # fmt: skip
        for r in res.rows():
            r["index"] = indices[r["index"]]
            rows.append(r)
        fams = {
            f: fixed_family_at_budget(model, images, labels, f, ssim_budget=tau, seed=seed)[
                "success_rate"
            ]
            for f in families
        }
        best = max(fams, key=lambda k: fams[k]) if fams else None
        per_budget.append(
            {
                **res.summary(),
                "families": fams,
                "best_family": best,
                "best_family_success_rate": fams[best] if best else None,
            }
        )
        console.print(
            f"SSIM >= {tau:g}: {kernel} attack flips {res.success_rate:.1%}"
            + (f", best fixed family {best} {fams[best]:.1%}" if best else ""),
            highlight=False,
        )
    _write_csv(out / "attack.csv", rows)
    crit = {}
    crit_rows = []
    for f in critical:
        r = critical_blur(model, images, labels, f, batch_size=batch_size, seed=seed)
        crit[f] = {"summary": r.summary(), "ssim_curve": r.ssim_curve()}
        for row in r.rows():
            row["index"] = indices[row["index"]]
            crit_rows.append(row)
        s = crit[f]["summary"]
        console.print(
            f"critical {f}: median {s['strength']['median']:.3g} {r.unit}, "
            f"{s['fraction_flipped']:.1%} flipped, {s['passes_mean']:.1f} passes/image",
            highlight=False,
        )
    _write_csv(out / "critical.csv", crit_rows)
    summary = {
        "images": n,
        "kernel": kernel,
        "support_radius": per_budget[0]["support_radius"] if per_budget else support_radius,
        "steps": steps,
        "seed": seed,
        "budgets": per_budget,
        "critical": crit,
    }
    (out / "attack_summary.json").write_text(dumps(summary, indent=2))
    return summary


@app.command("attack")
@with_model_options
def attack_command(
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Model name, architecture (with --weights) or file (.safetensors, model.pt, "
        "TorchScript, .pt2); default: the bundled CIFAR-10 model.",
    ),
    data: str = typer.Option(
        "sample",
        "--data",
        "-d",
        help="'sample', an ImageFolder directory, a .tar(.gz) archive, ...",
    ),
    out: Path = typer.Option(Path("blurkit-attack"), "--out", "-o", help="Results directory."),
    budget: str = typer.Option(
        "0.95,0.9,0.8", "--budget", "-b", help="Comma-separated SSIM budgets (tau)."
    ),
    kernel: str = typer.Option("freeform", "--kernel", "-k", help="freeform, motion or zernike."),
    support_radius: int = typer.Option(
        None, help="Kernel support radius in pixels.", callback=positive_int()
    ),
    steps: int = typer.Option(40, help="Projected gradient steps.", callback=positive_int()),
    families: str = typer.Option(
        ",".join(blur_families(twinned=True)),
        help="Fixed families compared at each budget ('' for none).",
    ),
    critical: str = typer.Option(
        "", help="Comma-separated families for the critical-blur search (e.g. gaussian,defocus)."
    ),
    limit: int = typer.Option(
        200, help="Attack only N images spread over the dataset (0: all).", callback=nonneg_int()
    ),
    batch_size: int = typer.Option(128, help="Images per forward pass.", callback=positive_int()),
    seed: int = typer.Option(
        0, help="Seed of initial kernels and per-image draws.", callback=nonneg_int()
    ),
    device: str = typer.Option(
        None, help="cpu, cuda, cuda:1, ... (default: cpu).", callback=device_option()
    ),
    model_options: dict | None = None,
) -> None:
    """Adversarial blur: success rate against the SSIM budget, beside fixed blur families."""
    budgets = float_list(budget, "--budget", low=0.0, high=1.0, low_inclusive=False)
    hold_out_lock(out, "attack")
    try:
        from ..models import load_model

        if model is None:
            from .cmd_evaluate import default_model

            model = default_model()
        opts = model_options or {}
        m = load_model(model, device=device or "cpu", **opts)
        x, y, idx = _load_images(data, m, limit)
        run_attack(
            m, x, y, out, budgets=budgets, kernel=kernel, support_radius=support_radius,
            steps=steps, families=[f for f in families.split(",") if f.strip()],
            critical=[f for f in critical.split(",") if f.strip()], batch_size=batch_size,
            seed=seed, indices=idx,
        )  # fmt: skip
    except (BlurkitError, FileNotFoundError, ImportError) as e:
        fail(str(e))
    console.print(f"results in {out}/", highlight=False)
