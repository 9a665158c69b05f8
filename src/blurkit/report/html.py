"""The HTML report: one self-contained file comparing the models of one or more
results directories.

Every image (plots, example grids, kernel thumbnails) is embedded as a
``data:image/png;base64`` URI, so the file can be mailed or archived alone; the
page is plain HTML and CSS with no script. Sections: summary metrics, accuracy
against severity per family (with 95 % bands), critical-blur distributions and
the SSIM curve, flip probability, example images with predicted labels, kernel
thumbnails, and the full table of cells.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._checks import ParameterError
from ..corruptions.imagenet_c import SEVERITY_TABLES
from ..robustness.store import ResultStore, atomic_write
from . import figures
from .embedding import critical_strengths, embedding_sections, is_embedding_run

__all__ = ["render_report", "load_results"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}.figs{display:flex;flex-wrap:wrap;gap:.6em}
.figs figure{margin:0}figcaption{font-size:.8em;color:#555}
img.kernel{image-rendering:pixelated;height:72px;border:1px solid #ccc}
.note{color:#555;font-size:.85em}
"""


def _img(png: bytes, alt: str, cls: str = "", fid: str = "") -> str:
    b64 = base64.b64encode(png).decode("ascii")
    c = f' class="{cls}"' if cls else ""
    i = f' id="{html.escape(fid)}"' if fid else ""
    return f'<img{i}{c} alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _f(v, digits: int = 3, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "&ndash;" if v is None or math.isnan(v) else ("&infin;" if v > 0 else "-&infin;")
    if pct:
        return f"{100 * v:.1f}"
    return f"{v:.{digits}g}" if isinstance(v, float) else html.escape(str(v))


def load_results(dirs: Sequence[str | os.PathLike]) -> dict:
    """Everything a report shows, read from results directories (models are
    renamed ``name@dir`` when two directories hold the same model name)."""
    if not dirs:
        raise ParameterError("results: expected at least one results directory, got none")
    out = {
        "models": [],
        "rows": [],
        "summary": {},
        "flip": {},
        "critical": {},
        "examples": None,
        "kernels": {},
        "corruptions": [],
        "dirs": [str(d) for d in dirs],
    }
    seen = set()
    for d in dirs:
        d = Path(d)
        if not (d / "records").is_dir():
            raise ParameterError(
                f"results: {d} is not a blurkit results directory (no records/ in it)"
            )
        st = ResultStore(d)
        summ = json.loads((d / "summary.json").read_text()) if (d / "summary.json").exists() else {}
        for m in st.models():
            shown = m if m not in seen else f"{m}@{d.name}"
            seen.add(shown)
            out["models"].append(shown)
            for r in st.rows([m]):
                out["rows"].append({**r, "model": shown})
            if m in summ.get("models", {}):
                out["summary"][shown] = summ["models"][m]
            out["flip"][shown] = {r["corruption"]: r for r in st.records(m, "flip")}
            out["critical"][shown] = {r["family"]: r for r in st.records(m, "critical")}
            out["_store_" + shown] = (st, m)
        for c in st.order()["corruptions"]:
            if c not in out["corruptions"]:
                out["corruptions"].append(c)
        meta = d / "examples" / "meta.json"
        if out["examples"] is None and meta.exists():
            out["examples"] = (d, json.loads(meta.read_text()))
        for p in sorted((d / "kernels").glob("*.png")) if (d / "kernels").exists() else []:
            out["kernels"].setdefault(p.stem, p.read_bytes())
    return out


def _table(tid: str, head: Sequence[str], rows: Sequence[Sequence], n_left: int = 1) -> str:
    """An HTML table of already formatted cells, without the columns empty in every row
    (``None`` everywhere: e.g. the AlexNet-normalised CE off the ImageNet-C grid)."""
    keep = [j for j in range(len(head)) if j < n_left or any(r[j] is not None for r in rows)]
    th = "".join(
        f'<th class="l">{head[j]}</th>' if j < n_left else f"<th>{head[j]}</th>" for j in keep
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="l">{r[j]}</td>'
            if j < n_left
            else f"<td>{'&ndash;' if r[j] is None else r[j]}</td>"
            for j in keep
        )
        + "</tr>"
        for r in rows
    )
    return f'<table id="{tid}"><tr>{th}</tr>{body}</table>'


def _pct(v):
    return None if v is None else _f(v, pct=True)


def _summary_table(res: dict) -> str:
    fams = sorted({f for m in res["models"] for f in res["critical"].get(m, {})})
    head = [
        "model",
        "images",
        "clean acc %",
        "95% CI",
        "mean blur acc %",
        "mCE (AlexNet) %",
        "rel. mCE (AlexNet) %",
        "mCE (baseline) %",
        "mean flip rate %",
        "mFP %",
    ]
    head += [f"critical {f} (median)" for f in fams]
    rows = []
    for m in res["models"]:
        s = res["summary"].get(m, {})
        ci = (
            f"{_f(s.get('clean_accuracy_low'), pct=True)}&ndash;{_f(s.get('clean_accuracy_high'), pct=True)}"
            if s.get("clean_accuracy_low") is not None
            else None
        )
        cells = [
            html.escape(m),
            _f(s.get("n")),
            _f(s.get("clean_accuracy"), pct=True),
            ci,
            _pct(s.get("mean_blur_accuracy")),
            _pct(s.get("mce_alexnet")),
            _pct(s.get("relative_mce_alexnet")),
            _pct(s.get("mce_baseline")),
            _pct(s.get("mean_flip_rate")),
            _pct(s.get("mean_flip_probability")),
        ]
        for f in fams:
            c = s.get("critical", {}).get(f, {})
            med = (c.get("strength") or {}).get("median")
            unit = c.get("unit", "")
            cells.append(f"{_f(med)} {html.escape(unit)}")
        rows.append(cells)
    return _table("summary-table", head, rows)


def _per_corruption_table(res: dict) -> str:
    head = [
        "model",
        "corruption",
        "mean acc %",
        "mean error %",
        "CE (AlexNet) %",
        "rel. CE (AlexNet) %",
        "CE (baseline) %",
        "mean flip rate %",
        "flip prob. %",
    ]
    rows = []
    for m in res["models"]:
        for c, pc in res["summary"].get(m, {}).get("corruptions", {}).items():
            vals = [
                pc.get("mean_accuracy"),
                pc.get("mean_error"),
                pc.get("ce_alexnet"),
                pc.get("relative_ce_alexnet"),
                pc.get("ce_baseline"),
                pc.get("mean_flip_rate"),
                pc.get("flip_probability"),
            ]
            rows.append([html.escape(m), html.escape(c)] + [_pct(v) for v in vals])
    return _table("corruption-table", head, rows, n_left=2)


def _cells_table(res: dict, cols: Sequence[str] | None = None) -> str:
    cols = list(
        cols
        or [
            "model",
            "corruption",
            "severity",
            "n",
            "accuracy",
            "accuracy_low",
            "accuracy_high",
            "top5_accuracy",
            "flip_rate",
        ]
    )
    rows = [
        [html.escape(str(r.get(c))) for c in cols[:2]]
        + [None if r.get(c) is None else _f(r.get(c), 4) for c in cols[2:]]
        for r in res["rows"]
    ]
    return _table("cells-table", cols, rows, n_left=2)


def _glass_note(res: dict) -> str:
    """CIFAR-10-C glass blur is not monotone in severity: say so where it is shown."""
    if not any(
        r.get("corruption") == "glass_blur" and r.get("preset") == "cifar-10-c" for r in res["rows"]
    ):
        return ""

    table = SEVERITY_TABLES["cifar-10-c"]["glass_blur"]
    params = ", ".join(
        f"{i + 1}: ({', '.join(f'{v:g}' for v in row)})" for i, row in enumerate(table)
    )
    return (
        "<p class='note' id='glass-note'>CIFAR-10-C glass blur is not monotone in severity: "
        "the reference's own parameter table (sigma, max_delta, iterations) is "
        f"{html.escape(params)}. Severity 4 blurs less than severity 3 (sigma 0.25 against "
        "0.4) but shuffles pixels twice, so accuracy need not fall from severity 3 to 4; "
        "blurkit keeps the reference's table so that results compare with published "
        "CIFAR-10-C numbers.</p>"
    )


def _decode_png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def render_report(
    results: Sequence[str | os.PathLike] | str | os.PathLike,
    out: str | os.PathLike,
    *,
    title: str = "blurkit robustness report",
) -> Path:
    """Write one self-contained HTML report of one or more results directories.

    Args:
        results: results directories written by :func:`blurkit.robustness.evaluate`.
        out: the HTML file to write (atomically).
        title: the page title.

    Returns:
        The path written.
    """
    if isinstance(results, (str, os.PathLike)):
        results = [results]
    res = load_results(list(results))
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class='note'>Results: {', '.join(html.escape(d) for d in res['dirs'])}. "
        "Accuracy in percent; intervals are 95 % Wilson intervals; CE normalised by AlexNet's "
        "published ImageNet-C errors only on the standard ImageNet-C grid.</p>",
    ]
    if is_embedding_run(res["rows"]):
        parts += embedding_sections(res, lambda png, alt, fid: _img(png, alt, fid=fid))
        cols = ["model", "corruption", "severity", "n", "cosine", "drift", "retrieval_at_1",
                "knn_accuracy", "probe_accuracy", "cka"]  # fmt: skip
        parts.append("<h2>All cells</h2>" + _cells_table(res, cols) + "</body></html>")
        out = Path(out)
        atomic_write(out, "\n".join(parts))
        return out
    parts.append(
        "<h2>Summary</h2>" + _summary_table(res) + _per_corruption_table(res) + _glass_note(res)
    )

    # accuracy against severity, one figure per family
    parts.append("<h2>Accuracy against severity</h2><div class='figs'>")
    clean = {
        m: [r for r in res["rows"] if r["model"] == m and r["corruption"] == "clean"]
        for m in res["models"]
    }
    corrs = [c for c in res["corruptions"] if any(r["corruption"] == c for r in res["rows"])]
    for c in corrs:
        series = {
            m: clean[m] + [r for r in res["rows"] if r["model"] == m and r["corruption"] == c]
            for m in res["models"]
        }
        png = figures.accuracy_figure(c, series)
        parts.append(f"<figure>{_img(png, f'accuracy vs severity: {c}', fid=f'acc-{c}')}</figure>")
    parts.append("</div>")

    # critical blur
    fams = sorted({f for m in res["models"] for f in res["critical"].get(m, {})})
    if fams:
        parts.append(
            "<h2>Critical blur</h2><p class='note'>The smallest blur strength that changes each "
            "correctly classified image's prediction, and the fraction of images still correct "
            "when blur may lower SSIM down to a floor.</p><div class='figs'>"
        )
        curves = {}
        for f in fams:
            strengths, unit = critical_strengths(res, f)
            for m in res["models"]:
                rec = res["critical"].get(m, {}).get(f)
                if rec:
                    curves[f"{m} / {f}"] = rec["ssim_curve"]
            png = figures.critical_histogram(f, unit, strengths)
            parts.append(
                f"<figure>{_img(png, f'critical blur distribution: {f}', fid=f'critical-{f}')}</figure>"
            )
        parts.append(
            f"<figure>{_img(figures.ssim_curve_figure(curves), 'SSIM curve', fid='ssim-curve')}</figure>"
        )
        parts.append("</div>")

    # flip probability
    if any(res["flip"].get(m) for m in res["models"]):
        parts.append(
            "<h2>Flip probability (ImageNet-P style)</h2><table id='flip-table'><tr>"
            "<th class='l'>model</th><th class='l'>corruption</th><th>images</th><th>frames</th>"
            "<th>flip probability %</th></tr>"
        )
        for m in res["models"]:
            for c, r in res["flip"].get(m, {}).items():
                parts.append(
                    f"<tr><td class='l'>{html.escape(m)}</td><td class='l'>{html.escape(c)}</td>"
                    f"<td>{r['n']}</td><td>{len(r['severities'])}</td>"
                    f"<td>{_f(r['flip_probability'], pct=True)}</td></tr>"
                )
        parts.append("</table>")

    # examples
    if res["examples"] is not None:
        d, meta = res["examples"]
        parts.append(
            "<h2>Examples</h2><p class='note'>The exact images the models saw (same seeds), "
            "with each model's prediction: green when every model is right.</p><div class='figs'>"
        )
        idx = meta["indices"]
        for c in corrs:
            cells = [e for e in meta["cells"] if e["corruption"] in (c, "clean")]
            cells.sort(key=lambda e: e["severity"])
            strips = []
            for e in cells:
                p = d / "examples" / e["file"]
                if p.exists():
                    strips.append((f"{float(e['severity']):.6g}", _decode_png(p.read_bytes())))
            if not strips:
                continue
            preds = {}
            for m in res["models"]:
                st, name = res["_store_" + m]
                pm = {}
                for sev, _ in strips:
                    key = f"{'clean' if sev == '0' else c}@{sev}"
                    if st.has(name, "cell", key):
                        rec = st.load(name, "cell", key)
                        where = {i: j for j, i in enumerate(rec["indices"])}
                        pm[sev] = [rec["pred"][where[i]] if i in where else -1 for i in idx]
                preds[m] = pm
            png = figures.examples_figure(c, strips, meta["labels"], preds, meta.get("classes"))
            parts.append(f"<figure>{_img(png, f'examples: {c}', fid=f'examples-{c}')}</figure>")
        parts.append("</div>")

    # kernels
    if res["kernels"]:
        parts.append(
            "<h2>Kernels</h2><p class='note'>Response of each corruption to a 3 &times; 3 grid "
            "of point sources (its PSF at those places; square root for visibility), "
            "severity increasing to the right.</p><table id='kernel-table'>"
        )
        for c, png in res["kernels"].items():
            parts.append(
                f"<tr><td class='l'>{html.escape(c)}</td><td class='l'>"
                f"{_img(png, f'kernels: {c}', cls='kernel', fid=f'kernel-{c}')}</td></tr>"
            )
        parts.append("</table>")

    parts.append("<h2>All cells</h2>" + _cells_table(res))
    parts.append("</body></html>")
    out = Path(out)
    atomic_write(out, "\n".join(parts))
    return out
