"""Why convolution, and which kernel? The measurements behind docs/why_convolution.md.

Every number is a :func:`blurkit.measure.fit_psf` fit (the engine of ``blurkit fit``):
the PSNR with which ``gain * (k * sharp) + offset`` reproduces the blurred image, on
the interior window, for each parametric family and for a free-form non-negative PSF.

- Part A, real camera shake: the 16 Levin et al. (2009) pairs in
  ``../shared/data/levin`` (``x`` sharp, ``y`` a real capture, ``f`` the kernel
  recorded with it). Also the recorded kernel's own PSNR, scored the same way
  (:func:`blurkit.measure.fit.kernel_psnr`: same window, gain / offset, shift search).
- Part B, synthetic optics and depth: scikit-image photographs (256 px, 8-bit)
  blurred by blurkit's natural corruptions (``myopia``, ``astigmatism``,
  ``camera_shake``, ``dirty_lens``: one PSF for the whole picture; ``depth_defocus``:
  a blur radius that grows across a tilted plane). The fraction of each PSF's energy
  inside the fitted box is measured from the corruption's response to an impulse.
- Part C, local fits: the free form fitted on tiles of the depth-defocus images, so
  that per-tile PSNR (a spatially varying model) can be set against the global fit.

Resumable: each finished fit is appended to a JSON-lines file (``--out``) and skipped
on a rerun. ``--summary`` prints the markdown tables from that file.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=src python scripts/why_convolution.py --threads 1
    PYTHONPATH=src python scripts/why_convolution.py --summary
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if os.environ.get("BLURKIT_SHARED_DATA"):  # as the tests
    LEVIN = Path(os.environ["BLURKIT_SHARED_DATA"]) / "levin"
else:
    LEVIN = ROOT.parent / "shared" / "data" / "levin"
    if not LEVIN.exists():  # a worktree next to the main checkout
        LEVIN = ROOT.parents[1] / "shared" / "data" / "levin"
DEFAULT_OUT = ROOT / "results" / "why_convolution.jsonl"
PARAMETRIC = ("gaussian", "anisotropic_gaussian", "defocus", "motion")
SIZE = 256
#: the largest global kernel a 256 px image allows for a 3 px shift is 79 (3 * 85 <= 256);
#: 63 keeps the fits affordable
MAX_KERNEL = 63


# --------------------------------------------------------------------------- core


def fit_row(
    sharp: torch.Tensor,
    blurred: torch.Tensor,
    *,
    kernel_size: int = 31,
    max_shift: int = 3,
    steps: int = 150,
    families=PARAMETRIC,
) -> dict:
    """Fit the free form and each family to one pair; JSON-ready summary.

    Returns a dict with ``free_psnr``, ``families`` (``{name: {"psnr", "params", "bic"}}``),
    ``best_parametric`` (lowest BIC among the parametric families, ``None`` when none
    was fitted), ``rank`` (all fits by BIC), ``shift``, ``kernel_size``, ``seconds``.
    """
    from blurkit.measure import fit_psf

    t0 = time.perf_counter()
    fits = fit_psf(
        sharp, blurred, list(families), kernel_size=kernel_size, max_shift=max_shift, steps=steps
    )
    by = {f.family: f for f in fits}
    par = [f for f in fits if f.family != "free"]
    return {
        "free_psnr": round(by["free"].psnr, 2),
        "free_taps": by["free"].n_params,
        "families": {
            f.family: {
                "psnr": round(f.psnr, 2),
                "params": f.as_dict()["params"],
                "bic": f.as_dict()["bic"],
            }
            for f in par
        },
        "best_parametric": par[0].family if par else None,
        "rank": [f.family for f in fits],
        "shift": list(by["free"].shift),
        "kernel_size": kernel_size,
        "steps": steps,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def tile_row(
    sharp: torch.Tensor,
    blurred: torch.Tensor,
    grid: int,
    *,
    kernel_size: int,
    max_shift: int = 3,
) -> dict:
    """Free-form fit on each tile of a ``grid x grid`` split: a piecewise shift-invariant
    (spatially varying) model. Returns the per-tile PSNRs (``None`` for a tile the blur
    left unchanged in 8 bits), their mean / min / max over the fitted tiles."""
    from blurkit._checks import ParameterError
    from blurkit.measure import fit_psf

    t0 = time.perf_counter()
    h, w = sharp.shape[-2:]
    th, tw = h // grid, w // grid
    psnrs = []
    for i in range(grid):
        for j in range(grid):
            sl = (..., slice(i * th, (i + 1) * th), slice(j * tw, (j + 1) * tw))
            try:
                f = fit_psf(
                    sharp[sl], blurred[sl], [], kernel_size=kernel_size, max_shift=max_shift
                )
            except ParameterError as err:
                if "identical" not in str(err):
                    raise
                psnrs.append(None)  # in focus: the 8-bit tile did not change, nothing to fit
                continue
            psnrs.append(round(f[0].psnr, 2))
    fitted = [p for p in psnrs if p is not None]
    return {
        "grid": grid,
        "tile": th,
        "kernel_size": kernel_size,
        "tile_psnr": psnrs,
        "tiles_unchanged": len(psnrs) - len(fitted),
        "tile_mean": round(statistics.fmean(fitted), 2),
        "tile_min": min(fitted),
        "tile_max": max(fitted),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def quantise(x: torch.Tensor) -> torch.Tensor:
    """8-bit, as a photograph is stored (so PSNR tops out near 59 dB, not 100+)."""
    return (x.clamp(0, 1) * 255).round() / 255


def photo(name: str) -> torch.Tensor:
    """A 256 px 8-bit grayscale crop ``(1, H, W)`` of a scikit-image photograph."""
    from skimage import data
    from skimage.color import rgb2gray

    if name == "camera":
        img = torch.from_numpy(data.camera()[120:376, 128:384]).double() / 255
    elif name == "astronaut":
        img = torch.from_numpy(rgb2gray(data.astronaut())[30:286, 140:396]).double()
    else:
        raise ValueError(f"photo: unknown {name!r}")
    return quantise(img)[None].float()


def blur_case(sharp: torch.Tensor, name: str, severity: float, seed: int = 0, **params):
    """``sharp`` ``(1, H, W)`` blurred by a natural corruption, 8-bit."""
    from blurkit import corrupt

    y = corrupt(sharp[None], name, severity, preset="natural", seed=seed, **params)[0]
    return quantise(y)


def psf_support(name: str, severity: float, seed: int = 0, **params) -> tuple[int, float]:
    """The corruption's response to an impulse at the centre of a 256 px frame: the odd
    side of the smallest box (about the centroid) holding 99 % of it, and the fraction
    a 31 px box holds."""
    delta = torch.zeros(1, SIZE, SIZE)
    delta[0, SIZE // 2, SIZE // 2] = 1.0
    from blurkit import corrupt

    p = corrupt(delta[None], name, severity, preset="natural", seed=seed, **params)[0, 0].double()
    p = p / p.sum()
    c = torch.arange(SIZE, dtype=p.dtype)
    cy, cx = round(float((p.sum(1) * c).sum())), round(float((p.sum(0) * c).sum()))

    def frac(n: int) -> float:
        r = n // 2
        return float(p[max(cy - r, 0) : cy + r + 1, max(cx - r, 0) : cx + r + 1].sum())

    side = next((n for n in range(1, SIZE, 2) if frac(n) >= 0.99), SIZE - 1)
    return side, round(frac(31), 4)


# --------------------------------------------------------------------------- plan


def synthetic_cases() -> list[tuple[str, str, float, dict]]:
    """(image, corruption, severity, params): the Part B plan, cheapest information first."""
    ramp = {"focus": 0.0, "angle": 0.0}  # in focus at the left edge, radius growing rightwards
    full = [("myopia", s, {}) for s in (1, 3, 5)]
    full += [("astigmatism", s, {}) for s in (1, 3, 5)]
    full += [("camera_shake", s, {}) for s in (1, 3)]
    full += [("dirty_lens", s, {}) for s in (1, 3)]
    full += [("depth_defocus", 1, dict(ramp, max_radius=r)) for r in (0.5, 1.0, 2.0, 4.0, 8.0)]
    full += [("depth_defocus", s, dict(ramp)) for s in (1, 3, 5)]
    short = [
        ("myopia", 3, {}),
        ("astigmatism", 3, {}),
        ("camera_shake", 1, {}),
        ("dirty_lens", 3, {}),
        ("depth_defocus", 1, dict(ramp, max_radius=4.0)),
        ("depth_defocus", 3, dict(ramp)),
    ]
    return [("camera", *c) for c in full] + [("astronaut", *c) for c in short]


def tile_cases() -> list[tuple[str, float, dict, int, int]]:
    """(image, severity, params, grid, kernel_size) for Part C (tile >= 3 * (k + 6))."""
    ramp = {"focus": 0.0, "angle": 0.0}
    out = []
    for img in ("camera", "astronaut"):
        for r in (1.0, 2.0, 4.0, 8.0) if img == "camera" else (4.0,):
            out.append((img, 1, dict(ramp, max_radius=r), 4, 15))
        out.append((img, 1 if img == "camera" else 3, dict(ramp), 2, 31))
    # control: a shift-invariant blur on the same tiles
    out.append(("camera", 3, {"_name": "myopia"}, 4, 15))
    return out


def case_id(*parts) -> str:
    def fmt(p):
        if isinstance(p, dict):
            return ",".join(f"{k}={v}" for k, v in sorted(p.items()) if not k.startswith("_"))
        return str(p)

    return "/".join(fmt(p) for p in parts if fmt(p))


# --------------------------------------------------------------------------- run


def _done(out: Path) -> set[str]:
    if not out.exists():
        return set()
    ids = set()
    for line in out.read_text().splitlines():
        if line.strip():
            try:
                ids.add(json.loads(line)["id"])
            except (json.JSONDecodeError, KeyError):
                continue  # a line cut by a kill: that case runs again
    return ids


def _append(out: Path, row: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as fh:
        fh.write(json.dumps(row) + "\n")


def run(out: Path, parts: str, limit: int | None, steps: int) -> None:
    done = _done(out)
    todo = 0
    photos: dict[str, torch.Tensor] = {}

    def budget() -> bool:
        return limit is None or todo < limit

    def report(row):
        nonlocal todo
        todo += 1
        _append(out, row)
        print(
            row["id"],
            {
                k: row[k]
                for k in ("free_psnr", "best_parametric", "tile_mean", "recorded_psnr", "seconds")
                if k in row
            },
            flush=True,
        )

    def part_a():
        from scipy.io import loadmat

        if not LEVIN.exists():
            print(f"part A skipped: no {LEVIN} (set BLURKIT_SHARED_DATA)", file=sys.stderr)
            return

        from blurkit.measure.fit import kernel_psnr

        for path in sorted(LEVIN.glob("im*_ker*.mat")):
            rid = f"levin/{path.stem}"
            if rid in done or not budget():
                continue
            m = loadmat(path)
            x = torch.from_numpy(m["x"]).float()[None]
            y = torch.from_numpy(m["y"]).float()[None]
            f = torch.from_numpy(m["f"]).double()
            row = {"id": rid, "part": "A", "pair": path.stem, "kernel_box": list(f.shape)}
            row.update(fit_row(x, y, kernel_size=31, max_shift=3, steps=steps))
            rec, shift = kernel_psnr(x, y, torch.flip(f, (0, 1)), kernel_size=31, max_shift=3)
            row["recorded_psnr"] = round(rec, 2)
            row["recorded_shift"] = list(shift)
            report(row)

    def part_b():
        for img, name, sev, params in synthetic_cases():
            rid = case_id("synthetic", img, name, f"s{sev}", params)
            if rid in done or not budget():
                continue
            x = photos.setdefault(img, photo(img))
            y = blur_case(x, name, sev, **params)
            row = {"id": rid, "part": "B", "image": img, "corruption": name, "severity": sev}
            row["params"] = params
            if name == "depth_defocus":
                r = float(params.get("max_radius", 0) or 0)
                if not r:
                    from blurkit.corruptions.natural import NATURAL_TABLES

                    r = NATURAL_TABLES[name]["imagenet-c"][sev - 1][0] * SIZE / 224
                row["max_radius_px"] = round(r, 1)
                side, in31 = 2 * math.ceil(r) + 1, None
            else:
                side, in31 = psf_support(name, sev, **params)
            n = min(max(31, side | 1), MAX_KERNEL)
            row["psf_side_99"], row["psf_in_31"] = side, in31
            try:
                row.update(fit_row(x, y, kernel_size=n, max_shift=3, steps=steps))
            except Exception as err:  # a typed refusal (e.g. displaced) is a result too
                row["error"] = f"{type(err).__name__}: {err}"
            report(row)

    def part_c():
        for img, sev, params, grid, n in tile_cases():
            name = params.get("_name", "depth_defocus")
            p = {k: v for k, v in params.items() if not k.startswith("_")}
            rid = case_id("tiles", img, name, f"s{sev}", p, f"{grid}x{grid}", f"k{n}")
            if rid in done or not budget():
                continue
            x = photos.setdefault(img, photo(img))
            y = blur_case(x, name, sev, **p)
            row = {"id": rid, "part": "C", "image": img, "corruption": name, "severity": sev}
            row["params"] = p
            row.update(tile_row(x, y, grid, kernel_size=n))
            t0 = time.perf_counter()
            row["global_same_kernel"] = fit_row(x, y, kernel_size=n, families=())["free_psnr"]
            row["seconds"] = round(row["seconds"] + time.perf_counter() - t0, 1)
            report(row)

    for part in parts:  # in the order asked
        {"A": part_a, "B": part_b, "C": part_c}[part]()


# --------------------------------------------------------------------------- summary


def _rows(out: Path) -> list[dict]:
    return [json.loads(x) for x in out.read_text().splitlines() if x.strip()]


def best_global(row: dict) -> float:
    """The best PSNR any one global kernel reached on a pair: the free form minimises the
    error of the *gradients* (with a small Tikhonov term), the parametric fits that of the
    intensities, so where no kernel fits well a parametric one can score higher."""
    return max([row["free_psnr"]] + [f["psnr"] for f in row["families"].values()])


def pooled_psnr(psnrs: list) -> float:
    """PSNR of the tiled model over the whole picture: from the tiles' mean squared error
    (equal tiles; a tile the blur left unchanged counts as explained exactly), so it
    compares with the global fit's PSNR."""
    mse = [0.0 if p is None else 10 ** (-p / 10) for p in psnrs]
    return 10 * math.log10(1 / max(statistics.fmean(mse), 1e-20))


def summary(out: Path) -> str:
    """Markdown tables of everything in ``out``."""
    rows = _rows(out)
    lines = []
    a = [r for r in rows if r["part"] == "A"]
    if a:
        lines += [
            "| pair | recorded kernel | free | gaussian | aniso. gaussian | defocus | motion | best parametric |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in a:
            fam = r["families"]
            lines.append(
                f"| {r['pair']} | {r['recorded_psnr']:.1f} | {r['free_psnr']:.1f} | "
                + " | ".join(f"{fam[f]['psnr']:.1f}" for f in PARAMETRIC)
                + f" | {r['best_parametric']} |"
            )
        lines += [
            "",
            "| model | mean | min | max | ranks first (parametric) |",
            "|---|---|---|---|---|",
        ]
        for name, vals in [
            ("recorded kernel", [r["recorded_psnr"] for r in a]),
            ("free", [r["free_psnr"] for r in a]),
        ] + [(f, [r["families"][f]["psnr"] for r in a]) for f in PARAMETRIC]:
            first = sum(r["best_parametric"] == name for r in a) if name in PARAMETRIC else ""
            first = f"{first} / {len(a)}" if first != "" else ""
            lines.append(
                f"| {name} | {statistics.fmean(vals):.1f} | {min(vals):.1f} | {max(vals):.1f} | {first} |"
            )
        gap = [r["recorded_psnr"] - r["free_psnr"] for r in a]
        lines.append("")
        lines.append(
            f"recorded - free: mean {statistics.fmean(gap):+.2f} dB, range {min(gap):+.2f} .. {max(gap):+.2f}; "
            f"seconds per pair (fit + recorded): mean {statistics.fmean(r['seconds'] for r in a):.0f}"
        )
        lines.append("")
    b = [r for r in rows if r["part"] == "B"]
    if b:
        lines += [
            "| image | corruption | severity / params | PSF 99 % box (px) | in 31 px | kernel fitted "
            "| free | best parametric (dB) | others (dB) | best global |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in b:
            sev = f"{r['severity']}"
            if "max_radius" in r["params"]:
                sev += f", max_radius {r['params']['max_radius']:g}"
            if "max_radius_px" in r:
                sev += f" (radius 0..{r['max_radius_px']:g} px)"
            if "error" in r:
                lines.append(
                    f"| {r['image']} | {r['corruption']} | {sev} | {r['psf_side_99']} | | | {r['error']} | | |"
                )
                continue
            fam = r["families"]
            bp = r["best_parametric"]
            others = ", ".join(f"{f} {fam[f]['psnr']:.1f}" for f in PARAMETRIC if f != bp)
            in31 = "" if r["psf_in_31"] is None else f"{100 * r['psf_in_31']:.1f} %"
            lines.append(
                f"| {r['image']} | {r['corruption']} | {sev} | {r['psf_side_99']} | {in31} | "
                f"{r['kernel_size']} | {r['free_psnr']:.1f} | {bp} {fam[bp]['psnr']:.1f} | {others} "
                f"| {best_global(r):.1f} |"
            )
        lines.append("")
    c = [r for r in rows if r["part"] == "C"]
    if c:
        lines += [
            "| image | corruption | params | tiles | kernel | global free (same kernel) "
            "| best global (part B) | tiled free: whole picture | tile min | tile max |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in c:
            p = f"s{r['severity']}" + (
                f", max_radius {r['params']['max_radius']:g}" if "max_radius" in r["params"] else ""
            )
            twin = [
                best_global(q)
                for q in b
                if (q["image"], q["corruption"], q["severity"], q["params"])
                == (r["image"], r["corruption"], r["severity"], r["params"])
                and "error" not in q
            ]
            bg = f"{twin[0]:.1f}" if twin else ""
            k = r.get("tiles_unchanged")
            unch = f" ({k} of {r['grid'] ** 2} tiles unchanged)" if k else ""
            lines.append(
                f"| {r['image']} | {r['corruption']} | {p} | {r['grid']}x{r['grid']} of {r['tile']} px | "
                f"{r['kernel_size']} | {r['global_same_kernel']:.1f} | {bg} | {pooled_psnr(r['tile_psnr']):.1f}{unch} | "
                f"{r['tile_min']:.1f} | {r['tile_max']:.1f} |"
            )
        lines.append("")
    total = sum(r["seconds"] for r in rows)
    lines.append(f"{len(rows)} fits recorded, {total / 60:.1f} min of fitting in all.")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON-lines results (resumed)")
    ap.add_argument(
        "--parts", default="ABC", help="which parts, in order: A (Levin), B (synthetic), C (tiles)"
    )
    ap.add_argument("--limit", type=int, default=None, help="at most this many new fits")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--steps", type=int, default=150, help="Adam steps of the parametric fits")
    ap.add_argument("--summary", action="store_true", help="print the tables and exit")
    args = ap.parse_args(argv)
    if args.summary:
        print(summary(args.out))
        return 0
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    run(args.out, args.parts.upper(), args.limit, args.steps)
    print(f"done in {(time.perf_counter() - t0) / 60:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
