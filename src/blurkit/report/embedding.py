"""The report of an embedding run (``task="embedding"``): representation drift under blur.

Sections: the summary (clean kNN / probe accuracy, mean cosine, drift, retrieval@1,
kNN accuracy and CKA under blur), cosine and kNN accuracy against severity per family,
the embedding critical-blur histogram, and a 2-D PCA of a few classes' clean and blurred
embeddings drawn as arrows from clean to blurred at each family's strongest severity.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..robustness.store import format_severity
from . import figures

__all__ = [
    "is_embedding_run",
    "embedding_sections",
    "critical_strengths",
    "drift_figure",
    "embedding_figure",
]


def is_embedding_run(rows: Sequence[Mapping]) -> bool:
    """Whether the rows of ``cells.csv`` come from the embedding task."""
    return bool(rows) and "cosine" in rows[0] and "accuracy" not in rows[0]


def _num(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v


def embedding_figure(corruption: str, series: Mapping[str, Sequence[Mapping]]) -> bytes:
    """Cosine (left) and kNN accuracy (right) against severity, one line per model."""
    fig = figures._figure(7.6, 3.0)
    axes = [fig.add_subplot(1, 2, i + 1) for i in range(2)]
    for i, (model, rows) in enumerate(series.items()):
        rows = sorted(rows, key=lambda r: float(r["severity"]))
        s = np.array([float(r["severity"]) for r in rows])
        c = figures._COLORS[i % len(figures._COLORS)]
        for ax, col, lo, hi in (
            (axes[0], "cosine", "cosine_low", "cosine_high"),
            (axes[1], "knn_accuracy", "knn_low", "knn_high"),
        ):
            v = np.array([_num(r.get(col)) for r in rows])
            if np.isnan(v).all():
                continue
            lo_v = np.array([_num(r.get(lo)) for r in rows])
            hi_v = np.array([_num(r.get(hi)) for r in rows])
            ax.fill_between(s, lo_v, hi_v, color=c, alpha=0.2, linewidth=0)
            ax.plot(s, v, "o-", color=c, label=model, markersize=4)
    axes[0].set_ylabel("cosine(clean, blurred)")
    axes[1].set_ylabel("kNN accuracy")
    for ax in axes:
        ax.set_xlabel("severity (0 = clean)")
        ax.grid(alpha=0.3)
        ax.set_title(corruption, fontsize=9)
    if axes[1].lines:
        axes[1].legend(fontsize=7, loc="lower left")
    else:
        axes[1].text(
            0.5, 0.5, "undefined\n(labels needed)", ha="center", transform=axes[1].transAxes
        )
    return figures.png_bytes(fig)


def drift_figure(title: str, pca: Mapping) -> bytes:
    """Arrows from each clean embedding to its blurred one in the clean images' PCA plane."""
    fig = figures._figure(4.2, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    c = np.asarray(pca["clean"], dtype=float)
    b = np.asarray(pca["blurred"], dtype=float)
    labels = pca.get("labels") or [0] * len(c)
    classes = sorted(set(labels))
    for j, k in enumerate(classes):
        sel = np.array([lab == k for lab in labels])
        col = figures._COLORS[j % len(figures._COLORS)]
        ax.scatter(c[sel, 0], c[sel, 1], s=12, color=col, label=f"class {k}")
        for p, q in zip(c[sel], b[sel], strict=True):
            ax.annotate("", xy=q, xytext=p, arrowprops={"arrowstyle": "->", "color": col,
                                                       "lw": 0.7, "alpha": 0.8})  # fmt: skip
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("PC 1 (clean)")
    ax.set_ylabel("PC 2 (clean)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    return figures.png_bytes(fig)


def _f(v, digits=3):
    v = _num(v)
    return "&ndash;" if math.isnan(v) else f"{v:.{digits}f}"


def critical_strengths(res: dict, family: str) -> tuple[dict, str]:
    """Per model, the critical strengths of one family as the histogram takes them
    (``inf``: never changed within the bracket; ``None``: not searched, e.g. an image
    misclassified when clean), and the family's unit."""
    strengths, unit = {}, ""
    for m in res["models"]:
        rec = res["critical"].get(m, {}).get(family)
        if rec:
            unit = rec.get("unit", "")
            correct = rec.get("correct") or [True] * len(rec["strength"])
            strengths[m] = [
                (math.inf if v is None else v) if ok else None
                for v, ok in zip(rec["strength"], correct, strict=False)
            ]
    return strengths, unit


def embedding_sections(res: dict, img) -> list[str]:
    """HTML sections of an embedding run (``img(png, alt, fid)`` embeds a figure)."""
    parts = [
        "<h2>Summary: representation under blur</h2><p class='note'>Embeddings: the input "
        "of each model's last linear layer unless a layer was named. Cosine and drift "
        "compare each image's blurred and clean embedding; retrieval@1: the blurred image's "
        "nearest clean embedding is its own; kNN: weighted cosine kNN against the other "
        "images' clean embeddings; CKA: linear CKA between the clean and blurred embedding "
        "matrices. Means over every blurred cell.</p>",
        "<table id='embedding-summary'><tr><th class='l'>model</th><th>clean kNN</th>"
        "<th>clean probe</th><th>cosine</th><th>drift</th><th>retrieval@1</th><th>kNN</th>"
        "<th>probe</th><th>CKA</th></tr>",
    ]
    notes = []
    for m in res["models"]:
        s = res["summary"].get(m, {})
        parts.append(
            f"<tr><td class='l'>{html.escape(m)}</td><td>{_f(s.get('clean_knn_accuracy'))}</td>"
            f"<td>{_f(s.get('clean_probe_accuracy'))}</td><td>{_f(s.get('mean_cosine'))}</td>"
            f"<td>{_f(s.get('mean_drift'))}</td><td>{_f(s.get('mean_retrieval_at_1'))}</td>"
            f"<td>{_f(s.get('mean_knn_accuracy'))}</td><td>{_f(s.get('mean_probe_accuracy'))}</td>"
            f"<td>{_f(s.get('mean_cka'))}</td></tr>"
        )
        if s.get("undefined"):
            notes.append(f"{html.escape(m)}: {html.escape(s['undefined'])}")
    parts.append("</table>")
    if notes:
        parts.append("<p class='note' id='undefined-note'>" + "<br>".join(notes) + "</p>")
    parts.append("<h2>Cosine and kNN accuracy against severity</h2><div class='figs'>")
    rows = res["rows"]
    corrs = [c for c in res["corruptions"] if any(r["corruption"] == c for r in rows)]
    for c in corrs:
        series = {
            m: [r for r in rows if r["model"] == m and r["corruption"] in ("clean", c)]
            for m in res["models"]
        }
        parts.append(
            f"<figure>{img(embedding_figure(c, series), f'embedding vs severity: {c}', f'emb-{c}')}</figure>"
        )
    parts.append("</div>")
    # drift arrows at each family's strongest severity, first model
    arrows = []
    for m in res["models"][:2]:
        st, name = res["_store_" + m]
        for c in corrs:
            sevs = [r["severity"] for r in rows if r["model"] == m and r["corruption"] == c]
            if not sevs:
                continue
            top = max(sevs, key=float)

            key = f"{c}@{format_severity(float(top))}"
            if st.has(name, "cell", key):
                pca = st.load(name, "cell", key).get("pca")
                if pca:
                    png = drift_figure(f"{m}: {c} severity {top}", pca)
                    arrows.append(f"<figure>{img(png, f'drift {m} {c}', f'drift-{c}')}</figure>")
    if arrows:
        parts.append(
            "<h2>Drift in the embedding space</h2><p class='note'>A few images of a few "
            "classes in the plane of the clean embeddings' first two principal components; "
            "each arrow runs from an image's clean embedding to its blurred one.</p>"
            "<div class='figs'>" + "".join(arrows) + "</div>"
        )
    fams = sorted({f for m in res["models"] for f in res["critical"].get(m, {})})
    if fams:
        parts.append(
            "<h2>Critical blur for embeddings</h2><p class='note'>Per image, the smallest "
            "strength at which its clean embedding stops being its blurred embedding's nearest "
            "clean neighbour (or its cosine falls under the threshold, when one was set).</p>"
            "<div class='figs'>"
        )
        for f in fams:
            strengths, unit = critical_strengths(res, f)
            png = figures.critical_histogram(f, unit, strengths)
            parts.append(
                f"<figure>{img(png, f'embedding critical blur: {f}', f'critical-{f}')}</figure>"
            )
        parts.append("</div>")
    return parts
