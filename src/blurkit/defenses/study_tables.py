"""The per-seed study's tables: its columns, and ``study.csv`` / ``.md`` / ``.html``.

:func:`columns` is the one definition of what a study reports (clean and blur error,
per-family errors, critical-blur medians, attack success, the transfer split, the
latent-structure columns, training budget); :func:`write_tables` renders one study and
:mod:`~blurkit.defenses.study_seeds` aggregates the same columns over seeds.
"""

from __future__ import annotations

import csv
import html
import io
import math
from pathlib import Path

from ..robustness.store import atomic_write

__all__ = ["columns", "value", "write_tables"]


def _fmt(v, pct=False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{100 * v:.1f}" if pct else (f"{v:.3g}" if isinstance(v, float) else str(v))


def columns(study: dict, corrs) -> list[tuple[str, str, bool]]:
    """The study's columns as ``(key, header, percent)``, in table order."""
    cols = [
        ("method", "method", False),
        ("clean_error", "clean err %", True),
        ("mean_blur_error", "mean blur err %", True),
    ]
    cols += [(f"error_{c}", f"{c} err %", True) for c in corrs]
    crit = sorted({f for r in study["methods"].values() for f in r["critical_median"]})
    cols += [(f"critical:{f}", f"critical {f} median", False) for f in crit]
    if any("attack_success_rate" in r for r in study["methods"].values()):
        b = study["config"]["attack"]["ssim_budget"]
        cols.append(("attack_success_rate", f"attack success % (SSIM>={b})", True))
    if study["config"]["train_families"] is not None:
        cols += [("seen_mean_error", "seen fam. err %", True),
                 ("heldout_mean_error", "held-out fam. err %", True)]  # fmt: skip
    if any("clean_knn_accuracy" in r for r in study["methods"].values()):
        cols += [("clean_knn_accuracy", "clean kNN %", True),
                 ("separation", "separation", False),
                 ("cka_to_baseline", "CKA to baseline", False),
                 ("blur_cosine", "cosine under blur", False),
                 ("blur_knn_accuracy", "kNN under blur %", True)]  # fmt: skip
    cols += [("train_image_passes", "train images x passes", False),
             ("train_seconds", "train s", False)]  # fmt: skip
    return cols


def value(row: dict, key: str):
    """A row's value in column ``key`` (``critical:<family>`` reads the critical medians)."""
    if key.startswith("critical:"):
        return row["critical_median"].get(key.split(":", 1)[1])
    return row.get(key)


def write_tables(out: Path, study: dict, corrs) -> None:
    """``study.csv``, ``study.md`` and ``study.html`` of one study in ``out``."""
    cols = columns(study, corrs)
    rows = list(study["methods"].values())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([k for k, _, _ in cols])
    for r in rows:
        w.writerow([value(r, k) for k, _, _ in cols])
    atomic_write(out / "study.csv", buf.getvalue())

    cfg = study["config"]
    start = (
        f"fine-tuned from {cfg['finetune']}" if cfg["finetune"] else f"{cfg['model']} from scratch"
    )
    lines = [
        "# blurkit study",
        "",
        f"Every method: {start}, {cfg['epochs']} epoch(s), batch {cfg['batch_size']}, "
        f"seed {cfg['seed']}, data {cfg['data']}"
        + (f" (first {cfg['limit']} images of a fixed shuffle)" if cfg["limit"] else "")
        + f". Evaluated on {cfg['eval_images']} images of {cfg['eval_data']}, severities "
        f"{', '.join(f'{v:g}' for v in cfg['severities'])}.",
        "",
        "| " + " | ".join(h for _, h, _ in cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(value(r, k), p) for k, _, p in cols) + " |")
    if cfg["train_families"] is not None:
        lines += ["", f"Blur-training families: {', '.join(cfg['train_families'])}; "
                  "held-out families are the evaluated corruptions not among them."]  # fmt: skip
    lines += [
        "",
        f"Per-severity errors, critical blur and examples: {study['eval_dir']}/report.html",
    ]
    atomic_write(out / "study.md", "\n".join(lines) + "\n")

    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(value(r, k), p))}</td>" for k, _, p in cols)
        + "</tr>"
        for r in rows
    )  # fmt: skip
    sev = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{html.escape(c)}</td>"
        + "".join(f"<td>{_fmt(e, True)}</td>" for e in errs.values())
        + "</tr>"
        for m, r in study["methods"].items()
        for c, errs in r["errors"].items()
    )  # fmt: skip
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>blurkit study</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}</style></head><body>"
        f"<h1>blurkit study</h1><p>{html.escape(lines[2])}</p>"
        f"<h2>Comparison</h2><table id='study'><tr>{head}</tr>{body}</table>"
        "<h2>Error % per family and severity</h2><table id='severity'><tr><th>method</th>"
        "<th>corruption</th>"
        + "".join(f"<th>{html.escape(str(v))}</th>" for v in cfg["severities"])
        + f"</tr>{sev}</table><p><a href='eval/report.html'>Full evaluation report</a></p>"
        "</body></html>"
    )
    atomic_write(out / "study.html", page)
