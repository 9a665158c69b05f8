"""A study repeated over seeds: mean +- sd per method, and which differences are resolved.

:func:`~blurkit.defenses.study.run_study` with ``seeds=(0, 1, 2)`` runs one complete
study per seed (``out/seed-<k>/``: every method trained from the same start with that
seed, evaluated on corruptions drawn with that seed) and then :func:`aggregate_studies`
reads them together:

- per method and column: the mean, the sample standard deviation and the values;
- per method against the ``baseline`` method: the *paired* difference per seed (the
  same seed gives both models the same data order, initialisation and corrupted
  images, so pairing removes most of the shared noise), its mean, a 95 % confidence
  interval from Student's t with ``n - 1`` degrees of freedom, and ``resolved``: the
  interval excludes 0. A difference that is not resolved may still be real; the
  study did not measure it well enough to say.

Student's t quantiles are a short table (``T975``) rather than a SciPy call: the core
library does not depend on SciPy, and the table is exact to the three decimals printed
in every statistics textbook (checked against ``scipy.stats.t`` in the tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from .._checks import ParameterError
from .._json import dumps
from ..robustness.store import atomic_write
from .study_tables import columns, value

__all__ = ["aggregate_studies", "t_quantile_975", "write_seed_tables"]

#: two-sided 95 % quantiles of Student's t, degrees of freedom 1..30
T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom.

    Exact (3 decimals) up to 30; beyond, ``1.96 + 2.4 / df`` (within 0.003 of the
    true value from 31 on).

    >>> t_quantile_975(2), t_quantile_975(1000) < 1.97
    (4.303, True)
    """
    if df < 1:
        raise ParameterError(f"df: expected an integer >= 1, got {df}")
    return T975[df - 1] if df <= len(T975) else 1.959964 + 2.4 / df


def _stats(values: list[float]) -> dict:
    """Mean, sample sd (None for one value or an infinite one) and the values; missing
    values (None) are left out of the mean."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "sd": None, "n": 0, "values": values}
    mean = sum(vals) / len(vals)
    if any(math.isinf(v) for v in vals):
        return {"mean": mean, "sd": None, "n": len(vals), "values": values}
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
    return {"mean": mean, "sd": sd, "n": len(vals), "values": values}


def _difference(values: list[float | None], base: list[float | None]) -> dict:
    """The paired difference ``values - base`` over seeds, its 95 % interval, resolved."""
    d = [
        v - b
        for v, b in zip(values, base, strict=True)
        if v is not None and b is not None and math.isfinite(v) and math.isfinite(b)
    ]
    st = _stats(d)
    if st["sd"] is None:
        return {"mean": st["mean"], "sd": None, "n": len(d), "ci95": None, "resolved": None}
    half = t_quantile_975(len(d) - 1) * st["sd"] / math.sqrt(len(d))
    lo, hi = st["mean"] - half, st["mean"] + half
    # with a zero spread (identical differences) any non-zero mean is resolved
    return {"mean": st["mean"], "sd": st["sd"], "n": len(d), "ci95": [lo, hi],
            "resolved": bool(lo > 0 or hi < 0)}  # fmt: skip


def aggregate_studies(studies: Sequence[dict], seeds: Sequence[int]) -> dict:
    """One study per seed (``run_study``'s dicts, same methods and grid) read together.

    Returns ``{"schema": 1, "seeds", "columns", "methods": {m: {key: stats}},
    "differences": {m: {key: difference}}, "config", "studies"}``; ``differences`` is
    empty without a ``baseline`` method. ``columns`` are ``(key, header, percent)``.
    """
    if len(studies) != len(seeds) or not studies:
        raise ParameterError(f"studies: expected one per seed ({len(seeds)}), got {len(studies)}")
    methods = list(studies[0]["methods"])
    for s, st in zip(seeds, studies, strict=True):
        if list(st["methods"]) != methods:
            raise ParameterError(
                f"studies: seed {s} has methods {list(st['methods'])}, expected {methods}"
            )
    corrs = studies[0]["config"]["corruptions"]
    cols = [c for c in columns(studies[0], corrs) if c[0] != "method"]
    values = {
        m: {k: [value(st["methods"][m], k) for st in studies] for k, _, _ in cols} for m in methods
    }
    agg = {m: {k: _stats(v) for k, v in kv.items()} for m, kv in values.items()}
    diffs = {}
    if "baseline" in methods:
        diffs = {
            m: {k: _difference(v, values["baseline"][k]) for k, v in kv.items()}
            for m, kv in values.items()
            if m != "baseline"
        }
    cfg = dict(studies[0]["config"])
    cfg.pop("seed", None)
    return {
        "schema": 1,
        "seeds": list(seeds),
        "columns": [list(c) for c in cols],
        "methods": agg,
        "differences": diffs,
        "config": cfg,
        "studies": [f"seed-{s}" for s in seeds],
    }


def _pm(st: dict, pct: bool) -> str:
    m, sd = st["mean"], st["sd"]
    if m is None:
        return "-"
    if math.isinf(m):
        return "inf"
    f = 100.0 if pct else 1.0
    text = f"{f * m:.1f}" if pct else f"{m:.3g}"
    if sd is not None:
        text += f" ± {f * sd:.1f}" if pct else f" ± {sd:.2g}"
    return text


def _diff_cell(d: dict, pct: bool) -> str:
    if d["mean"] is None:
        return "-"
    f = 100.0 if pct else 1.0
    fmt = (lambda v: f"{f * v:+.1f}") if pct else (lambda v: f"{v:+.3g}")
    text = fmt(d["mean"])
    if d["ci95"] is not None:
        text += f" [{fmt(d['ci95'][0])}, {fmt(d['ci95'][1])}]"
        text += "" if d["resolved"] else " (n.r.)"
    return text


def write_seed_tables(out: str | Path, agg: dict) -> None:
    """``study.json``, ``study.md`` and ``study.csv`` of the seed aggregate in ``out``."""
    out = Path(out)
    atomic_write(out / "study.json", dumps(agg, indent=1))
    cols = [tuple(c) for c in agg["columns"]]
    cfg = agg["config"]
    start = (
        f"fine-tuned from {cfg['finetune']}" if cfg["finetune"] else f"{cfg['model']} from scratch"
    )
    n = len(agg["seeds"])
    lines = [
        "# blurkit study over seeds",
        "",
        f"Every method: {start}, {cfg['epochs']} epoch(s), batch {cfg['batch_size']}, data "
        f"{cfg['data']}" + (f" ({cfg['limit']} images)" if cfg["limit"] else "")
        + f"; evaluated on {cfg['eval_images']} images of {cfg['eval_data']}. Seeds "
        f"{', '.join(map(str, agg['seeds']))}: each seed trains every method and draws the "
        f"evaluation's corruptions; mean ± sd over the {n} seeds.",
        "",
        "| method | " + " | ".join(h for _, h, _ in cols) + " |",
        "|" + "---|" * (len(cols) + 1),
    ]  # fmt: skip
    for m, st in agg["methods"].items():
        lines.append(f"| {m} | " + " | ".join(_pm(st[k], p) for k, _, p in cols) + " |")
    if agg["differences"]:
        lines += [
            "",
            "## Difference to the baseline",
            "",
            "Paired over seeds (method minus baseline, same seed): mean [95 % interval, "
            f"Student's t, {n - 1} degrees of freedom]; (n.r.) marks a difference the "
            "interval does not resolve from 0.",
            "",
            "| method | " + " | ".join(h for _, h, _ in cols) + " |",
            "|" + "---|" * (len(cols) + 1),
        ]
        for m, d in agg["differences"].items():
            lines.append(f"| {m} | " + " | ".join(_diff_cell(d[k], p) for k, _, p in cols) + " |")
    lines += ["", "Per-seed studies: " + ", ".join(f"{s}/study.md" for s in agg["studies"])]
    atomic_write(out / "study.md", "\n".join(lines) + "\n")

    head = ["method", "statistic", *[k for k, _, _ in cols]]
    rows = [",".join(head)]
    for m, st in agg["methods"].items():
        for stat in ("mean", "sd"):
            rows.append(",".join([m, stat, *[_csv(st[k][stat]) for k, _, _ in cols]]))
    for m, d in agg["differences"].items():
        rows.append(",".join([m, "diff_mean", *[_csv(d[k]["mean"]) for k, _, _ in cols]]))
        rows.append(",".join([m, "diff_resolved", *[_csv(d[k]["resolved"]) for k, _, _ in cols]]))
    atomic_write(out / "study.csv", "\n".join(rows) + "\n")


def _csv(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    return repr(float(v))
