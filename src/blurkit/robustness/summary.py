"""``summary.json`` of a classification evaluation: per model clean and blur accuracy,
CE / mCE / relative CE (against AlexNet's published ImageNet-C errors on the standard
ImageNet-C grid, or against a named baseline model), flip rates and flip probability,
and critical blur, all computed from the stored records."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._checks import ParameterError
from .metrics import (
    ALEXNET_CLEAN_ERR,
    ALEXNET_ERR,
    corruption_error,
    mean_corruption_error,
    relative_corruption_error,
)
from .store import ResultStore, format_severity

__all__ = ["summarize"]


def summarize(
    store: ResultStore, models: Sequence[str] | None = None, *, baseline: str | None = None
) -> dict:
    """Summaries per model from the stored records (what ``summary.json`` holds).

    Per model: clean accuracy (with interval), mean blur accuracy over all
    corruption cells, per corruption the mean accuracy / error, flip rate, CE
    and relative CE (against AlexNet on the standard ImageNet-C grid, and
    against ``baseline`` when named), flip probability; and the means over
    corruptions (mCE, relative mCE, mFR, mFP).
    """
    models = store.models() if models is None else list(models)
    rows = store.rows(models)
    by = {}
    for r in rows:
        by.setdefault(r["model"], {}).setdefault(r["corruption"], {})[float(r["severity"])] = r
    out = {"schema": 1, "models": {}, "baseline": baseline}

    def errs(m, c):
        d = by.get(m, {}).get(c, {})
        return {s: 1.0 - d[s]["accuracy"] for s in sorted(d)}

    for m in models:
        cells = by.get(m, {})
        clean = cells.get("clean", {}).get(0.0)
        corr = [c for c in cells if c != "clean"]
        s = {
            "n": clean["n"] if clean else None,
            "clean_accuracy": clean["accuracy"] if clean else None,
            "clean_accuracy_low": clean["accuracy_low"] if clean else None,
            "clean_accuracy_high": clean["accuracy_high"] if clean else None,
            "clean_top5_accuracy": clean.get("top5_accuracy") if clean else None,
            "corruptions": {},
        }
        all_acc = []
        for c in corr:
            e = errs(m, c)
            accs = [cells[c][sv]["accuracy"] for sv in sorted(cells[c])]
            all_acc += accs
            fr = [
                cells[c][sv]["flip_rate"]
                for sv in sorted(cells[c])
                if cells[c][sv]["flip_rate"] is not None
            ]
            pc = {
                "severities": [format_severity(v) for v in sorted(cells[c])],
                "accuracy": accs,
                "mean_accuracy": float(np.mean(accs)),
                "mean_error": float(np.mean(list(e.values()))),
                "mean_flip_rate": float(np.mean(fr)) if fr else None,
            }
            preset = next(iter(cells[c].values()))["preset"]
            if (
                preset == "imagenet-c"
                and c in ALEXNET_ERR
                and sorted(e) == [1.0, 2.0, 3.0, 4.0, 5.0]
            ):
                pc["ce_alexnet"] = corruption_error(list(e.values()), ALEXNET_ERR[c])
                if clean:
                    pc["relative_ce_alexnet"] = relative_corruption_error(
                        list(e.values()), 1 - clean["accuracy"], ALEXNET_ERR[c], ALEXNET_CLEAN_ERR
                    )
            if baseline is not None and baseline in by:
                be = errs(baseline, c)
                bclean = by[baseline].get("clean", {}).get(0.0)
                if sorted(be) == sorted(e) and sum(be.values()) > 0:
                    pc["ce_baseline"] = corruption_error(list(e.values()), list(be.values()))
                    if clean and bclean:
                        try:
                            pc["relative_ce_baseline"] = relative_corruption_error(
                                list(e.values()),
                                1 - clean["accuracy"],
                                list(be.values()),
                                1 - bclean["accuracy"],
                            )
                        except ParameterError:
                            pc["relative_ce_baseline"] = None
            if store.has(m, "flip", c):
                pc["flip_probability"] = store.load(m, "flip", c)["flip_probability"]
            s["corruptions"][c] = pc
        pcs = s["corruptions"].values()
        s["mean_blur_accuracy"] = float(np.mean(all_acc)) if all_acc else None
        for key, outkey in (
            ("ce_alexnet", "mce_alexnet"),
            ("relative_ce_alexnet", "relative_mce_alexnet"),
            ("ce_baseline", "mce_baseline"),
            ("relative_ce_baseline", "relative_mce_baseline"),
            ("mean_flip_rate", "mean_flip_rate"),
            ("flip_probability", "mean_flip_probability"),
        ):
            vals = [p[key] for p in pcs if p.get(key) is not None]
            s[outkey] = mean_corruption_error(vals) if vals and len(vals) == len(pcs) else None
        s["critical"] = {
            r["family"]: {"unit": r["unit"], **r["summary"]} for r in store.records(m, "critical")
        }
        out["models"][m] = s
    return out
