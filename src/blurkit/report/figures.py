"""Matplotlib figures of an evaluation, rendered to PNG bytes.

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg
canvas directly (no ``pyplot``), so rendering a report neither needs a display
nor changes the caller's matplotlib backend or global state.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "png_bytes",
    "accuracy_figure",
    "critical_histogram",
    "ssim_curve_figure",
    "examples_figure",
]

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _figure(w: float, h: float, layout: str | None = "constrained"):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=90, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def accuracy_figure(corruption: str, series: Mapping[str, Sequence[Mapping]]) -> bytes:
    """Accuracy against severity for one family, one line per model, with the
    95 % Wilson band. ``series[model]`` is a list of rows (severity 0 = clean)."""
    fig = _figure(4.2, 3.0)
    ax = fig.add_subplot(1, 1, 1)
    for i, (model, rows) in enumerate(series.items()):
        rows = sorted(rows, key=lambda r: float(r["severity"]))
        s = np.array([float(r["severity"]) for r in rows])
        a = np.array([r["accuracy"] for r in rows], dtype=float)
        lo = np.array([r["accuracy_low"] for r in rows], dtype=float)
        hi = np.array([r["accuracy_high"] for r in rows], dtype=float)
        c = _COLORS[i % len(_COLORS)]
        ax.fill_between(s, lo, hi, color=c, alpha=0.2, linewidth=0)
        ax.plot(s, a, "o-", color=c, label=model, markersize=4)
    ax.set_title(corruption)
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    return png_bytes(fig)


def critical_histogram(
    family: str, unit: str, strengths: Mapping[str, Sequence[float | None]]
) -> bytes:
    """Distribution of per-image critical strengths (log bins), one histogram per
    model; images never flipped within the bracket are counted in the legend."""
    fig = _figure(4.2, 3.0)
    ax = fig.add_subplot(1, 1, 1)
    finite_all = [
        v
        for vals in strengths.values()
        for v in vals
        if v is not None and math.isfinite(v) and v > 0
    ]
    if finite_all:
        bins = np.geomspace(min(finite_all), max(finite_all) * 1.0001, 20)
    else:
        bins = 10
    for i, (model, vals) in enumerate(strengths.items()):
        v = np.array([np.nan if x is None else x for x in vals], dtype=float)
        fin = v[np.isfinite(v) & (v > 0)]
        never = int(np.isposinf(v).sum())
        ax.hist(
            fin,
            bins=bins,
            alpha=0.5,
            color=_COLORS[i % len(_COLORS)],
            label=f"{model} (median {np.median(fin) if fin.size else float('nan'):.3g}; "
            f"{never} never flip)",
        )
    if finite_all:
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title(f"critical blur: {family}")
    ax.set_xlabel(unit or "strength")
    ax.set_ylabel("images")
    ax.legend(fontsize=7)
    return png_bytes(fig)


def ssim_curve_figure(curves: Mapping[str, Mapping]) -> bytes:
    """Fraction of correctly classified images still correct against an SSIM
    floor, one line per (model, family): ``curves[label] = {"ssim": [...],
    "fraction_correct": [...]}``."""
    fig = _figure(4.6, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    styles = ["-", "--", ":", "-."]
    models = sorted({k.split(" / ")[0] for k in curves})
    fams = sorted({k.split(" / ")[-1] for k in curves})
    for label, c in curves.items():
        m, f = label.split(" / ")[0], label.split(" / ")[-1]
        ax.plot(
            c["ssim"],
            c["fraction_correct"],
            styles[fams.index(f) % 4],
            color=_COLORS[models.index(m) % len(_COLORS)],
            label=label,
        )
    ax.set_xlabel("SSIM floor (blur allowed down to this fidelity)")
    ax.set_ylabel("fraction still correct")
    ax.set_xlim(1.0, 0.0)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("accuracy against image fidelity (critical blur)")
    return png_bytes(fig)


def examples_figure(
    corruption: str,
    strips: Sequence[tuple[str, np.ndarray]],
    labels: Sequence[int],
    preds: Mapping[str, Mapping[str, Sequence[int]]],
    classes: Sequence[str] | None,
) -> bytes:
    """Grid of example images: one row per severity, one column per image, each
    captioned with every model's prediction (green when all are right, red otherwise).

    ``strips[j] = (severity_text, (H, k*W, 3) uint8)``; ``preds[model][severity_text]``
    are the predictions for the k images. Drawn as one mosaic on one axes (fast).
    """
    k = max(len(labels), 1)
    rows = len(strips)
    h, w = strips[0][1].shape[0], strips[0][1].shape[1] // k
    gap_x, gap_y = max(2, w // 8), max(6, h // 2)
    mosaic = np.full((rows * (h + gap_y) + gap_y, k * (w + gap_x) + gap_x, 3), 255, dtype=np.uint8)
    for r, (_, strip) in enumerate(strips):
        for j in range(k):
            y0, x0 = gap_y + r * (h + gap_y), gap_x + j * (w + gap_x)
            mosaic[y0 : y0 + h, x0 : x0 + w] = strip[:, j * w : (j + 1) * w, :3]
    scale = 1.3 / max(w, h) * 72 / 72
    fig = _figure(
        max(3.0, k * (w + gap_x) * scale + 0.8), rows * (h + gap_y) * scale + 0.6, layout=None
    )
    ax = fig.add_axes((0.08, 0.02, 0.9, 0.9))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_visible(False)

    def name(c):
        return classes[c] if classes and 0 <= c < len(classes) else str(c)

    for r, (sev, _) in enumerate(strips):
        y0 = gap_y + r * (h + gap_y)
        ax.text(
            -gap_x,
            y0 + h / 2,
            "clean" if sev == "0" else f"sev {sev}",
            ha="right",
            va="center",
            fontsize=7,
        )
        for j in range(len(labels)):
            x0 = gap_x + j * (w + gap_x)
            if r == 0:
                ax.text(
                    x0 + w / 2,
                    y0 - 1,
                    f"true: {name(labels[j])}",
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
            got = [p[sev][j] for p in preds.values() if p.get(sev) is not None and j < len(p[sev])]
            if got:
                ok = all(g == labels[j] for g in got)
                ax.text(
                    x0 + w / 2,
                    y0 + h + 0.5,
                    " | ".join(name(g) for g in got),
                    ha="center",
                    va="top",
                    fontsize=5.5,
                    color="#1a7f37" if ok else "#c62828",
                )
    ax.set_title(f"{corruption}: predictions ({' | '.join(preds)})", fontsize=8)
    return png_bytes(fig)
