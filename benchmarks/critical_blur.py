"""Critical blur and adversarial blur on the bundled model: passes, precision, grid agreement,
attack success against the SSIM budget beside the fixed families.

Method
------
1. Critical blur (``blurkit.robustness.critical_blur``, ITP on the margin, 1 % relative
   precision, at most 12 passes per image) for each family on ``--images`` images
   spread over the bundled CIFAR-10 sample; the same search by plain bisection; and a
   dense reference grid of ``--grid-points`` strengths spaced evenly in log over the same
   bracket (``grid_critical_blur``). Reported: forward passes per image (mean, max) for
   both searches, the largest final bracket ``strength / lower - 1``, the agreement with
   the grid (the search's bracket overlaps the grid cell where the prediction first
   changes), and how many images are non-monotone on the grid. Foolbox's
   ``GaussianBlurAttack`` spends up to 1,000 passes per image (linear search).
2. Adversarial blur (``blur_attack``, free-form kernel, and optionally the trajectory
   kernel) at each SSIM budget, beside ``fixed_family_at_budget`` for Gaussian, defocus
   and motion blur (each searched per image up to the strength reaching the same SSIM).

Falls back to a tiny CNN trained here on synthetic gratings when the bundled model or
sample is not installed (said in the output). Wall times are single runs, indicative
only; the CPU is shared while developing.

Usage::

    python benchmarks/critical_blur.py --images 1000 --grid-points 200 [--out r.json] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from blurkit.robustness import (
    blur_attack,
    critical_blur,
    fixed_family_at_budget,
    grid_agreement,
    grid_critical_blur,
)


def _fallback(n):
    # the tests' toy task (one definition): oriented gratings and a tiny CNN
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "robustness"))
    from _toy import gratings, train_tiny_cnn

    m = train_tiny_cnn(steps=150, batch=64, size=24)
    x, y = gratings(n, size=24, seed=5)
    return m, x, y, "tiny CNN on synthetic gratings (bundled model not available)"


def load(n, model_name, device):
    try:
        from blurkit.data import open_dataset
        from blurkit.models import load_model

        if model_name is None:
            from blurkit.cli.cmd_evaluate import default_model

            model_name = default_model()
        model = load_model(model_name, device=device)
        ds = open_dataset("sample", classes=getattr(model, "classes", None))
    except Exception as e:  # noqa: BLE001
        print(f"[fallback] {type(e).__name__}: {e}")
        return _fallback(n)
    from blurkit.robustness.evaluate import spread_positions

    # spread over the class-sorted sample (the first n would be few classes)
    items = [ds[i] for i in spread_positions(len(ds), n)]
    x = torch.stack([it[0] for it in items])
    y = torch.tensor([int(it[1]) for it in items])
    return model, x, y, f"{model_name} on the bundled sample"


def critical_part(model, x, y, families, grid_points, batch_size):
    out = {}
    for fam in families:
        t0 = time.perf_counter()
        r = critical_blur(model, x, y, fam, batch_size=batch_size)
        t_itp = time.perf_counter() - t0
        t0 = time.perf_counter()
        rb = critical_blur(model, x, y, fam, batch_size=batch_size, method="bisect")
        t_bis = time.perf_counter() - t0
        t0 = time.perf_counter()
        g = grid_critical_blur(model, x, y, fam, points=grid_points, batch_size=4 * batch_size)
        t_grid = time.perf_counter() - t0
        a = grid_agreement(r, g)
        ab = grid_agreement(rb, g)
        s = r.summary()
        c = r.correct
        row = {
            "correct": int(c.sum()),
            "fraction_flipped": s["fraction_flipped"],
            "median_strength": s["strength"]["median"],
            "median_ssim_at_flip": s["ssim"].get("median"),
            "median_psnr_at_flip": s["psnr"].get("median"),
            "itp_passes_mean": s["passes_mean"],
            "itp_passes_max": s["passes_max"],
            "bisect_passes_mean": float(rb.passes[c].double().mean()),
            "bisect_passes_max": int(rb.passes.max()),
            "precision_max": s["precision_max"],
            "grid_points": grid_points,
            "grid_agreement_itp": a["agreement"],
            "grid_agreement_bisect": ab["agreement"],
            "grid_nonmonotone": a["nonmonotone"],
            "disagree_nonmonotone": a["disagree_nonmonotone"],
            "seconds_itp": t_itp,
            "seconds_bisect": t_bis,
            "seconds_grid": t_grid,
        }
        out[fam] = row
        print(
            f"{fam:9s} passes itp {row['itp_passes_mean']:.2f} (max {row['itp_passes_max']}) | "
            f"bisect {row['bisect_passes_mean']:.2f} (max {row['bisect_passes_max']}) | "
            f"precision <= {row['precision_max']:.4f} | grid agreement {a['agreement']:.1%} "
            f"({a['images'] - a['agree']} disagree, {a['disagree_nonmonotone']} of them non-monotone) | "
            f"median strength {row['median_strength']:.3g}, SSIM {row['median_ssim_at_flip']:.3f} | "
            f"{t_itp:.1f}s vs grid {t_grid:.1f}s"
        )
    return out


def attack_part(model, x, y, budgets, steps, kernels, support_radius, batch_size):
    out = []
    for tau in budgets:
        row = {"ssim_budget": tau}
        for k in kernels:
            t0 = time.perf_counter()
            r = blur_attack(
                model, x, y, kernel=k, ssim_budget=tau, steps=steps,
                support_radius=support_radius, batch_size=batch_size,
            )  # fmt: skip
            row[f"attack_{k}"] = r.success_rate
            row[f"seconds_{k}"] = time.perf_counter() - t0
            row["support_radius"] = r.support_radius
        fams = {}
        anyf = torch.zeros(x.shape[0], dtype=torch.bool)
        for f in ("gaussian", "defocus", "motion"):
            res = fixed_family_at_budget(model, x, y, f, ssim_budget=tau, batch_size=batch_size)
            fams[f] = res["success_rate"]
            anyf |= res["success"]
        nc = int(r.correct.sum())
        row["families"] = fams
        row["best_family"] = max(fams, key=lambda k: fams[k])
        row["best_family_success"] = fams[row["best_family"]]
        row["any_family_success"] = float(anyf.sum()) / max(nc, 1)
        out.append(row)
        att = ", ".join(f"{k} {row[f'attack_{k}']:.1%}" for k in kernels)
        print(
            f"SSIM >= {tau:.2f}: attack {att} | families "
            + ", ".join(f"{f} {v:.1%}" for f, v in fams.items())
            + f" | any family {row['any_family_success']:.1%}"
        )
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--attack-images", type=int, default=None)
    ap.add_argument("--model", default=None, help="default: the bundled CIFAR-10 model")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--families", default="gaussian,defocus,motion")
    ap.add_argument("--grid-points", type=int, default=200)
    ap.add_argument("--budgets", default="0.95,0.9,0.85,0.8")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--kernels", default="freeform")
    ap.add_argument("--support-radius", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=200)
    ap.add_argument("--skip-critical", action="store_true")
    ap.add_argument("--skip-attack", action="store_true")
    ap.add_argument("--out", default=None, help="write all numbers as JSON here")
    ap.add_argument(
        "--write", action="store_true", help="append the tables to benchmarks/RESULTS.md"
    )
    a = ap.parse_args()
    model, x, y, what = load(a.images, a.model, a.device)
    print(f"model: {what}; {x.shape[0]} images {tuple(x.shape[1:])}")
    res = {"setup": what, "images": x.shape[0]}
    if not a.skip_critical:
        res["critical"] = critical_part(
            model, x, y, a.families.split(","), a.grid_points, a.batch_size
        )
    if not a.skip_attack:
        na = a.attack_images or x.shape[0]
        res["attack"] = attack_part(
            model, x[:na], y[:na], [float(b) for b in a.budgets.split(",")], a.steps,
            a.kernels.split(","), a.support_radius, a.batch_size,
        )  # fmt: skip
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=2, default=float)
    if a.write:
        with open(Path(__file__).parent / "RESULTS.md", "a") as f:
            f.write(markdown(res))


def markdown(res) -> str:
    """The benchmark's tables as Markdown (appended to RESULTS.md by ``--write``)."""
    out = [f"\n## Critical blur and adversarial blur ({res['setup']}, {res['images']} images)\n"]
    if "critical" in res:
        out += [
            "| family | passes/image ITP (max) | bisection (max) | max bracket | grid agreement "
            "ITP / bisection | non-monotone | median strength | median SSIM at flip |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for fam, r in res["critical"].items():
            out.append(
                f"| {fam} | {r['itp_passes_mean']:.2f} ({r['itp_passes_max']}) | "
                f"{r['bisect_passes_mean']:.2f} ({r['bisect_passes_max']}) | "
                f"{r['precision_max']:.4f} | {r['grid_agreement_itp']:.1%} / "
                f"{r['grid_agreement_bisect']:.1%} ({r['grid_points']} points) | "
                f"{r['grid_nonmonotone']} | {r['median_strength']:.3g} | "
                f"{r['median_ssim_at_flip']:.3f} |"
            )
        out.append(
            "\nFoolbox's GaussianBlurAttack: up to 1,000 passes per image (linear search).\n"
        )
    if "attack" in res:
        kern = [k[len("attack_") :] for k in res["attack"][0] if k.startswith("attack_")]
        out += [
            "| SSIM budget | "
            + " | ".join(f"attack {k}" for k in kern)
            + " | gaussian | defocus | motion | any family |",
            "|---" * (len(kern) + 5) + "|",
        ]
        for r in res["attack"]:
            f = r["families"]
            out.append(
                f"| {r['ssim_budget']:.2f} | "
                + " | ".join(f"{r['attack_' + k]:.1%}" for k in kern)
                + f" | {f['gaussian']:.1%} | {f['defocus']:.1%} | {f['motion']:.1%} | "
                f"{r['any_family_success']:.1%} |"
            )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
