"""Example strips and kernel thumbnails for the report: the exact images the models saw."""

from __future__ import annotations

import io
import json

import numpy as np
import torch

from .seeds import image_seeds, spread_positions
from .store import ResultStore, atomic_write, format_severity

__all__ = ["impulse_response", "save_examples"]


def impulse_response(
    corrupt_fn, name: str, severity: float, preset: str, size: tuple[int, int], seed: int = 0
):
    """What a corruption does to a 3 x 3 grid of point sources on a black image
    of ``size`` (the effective PSF at those places; shows spatially varying blur
    too). Returns a ``(H, W)`` float array (first channel)."""
    h, w = size
    x = torch.zeros(1, 3, h, w)
    for fy in (1 / 6, 1 / 2, 5 / 6):
        for fx in (1 / 6, 1 / 2, 5 / 6):
            x[..., int(fy * h), int(fx * w)] = 1.0
    with torch.inference_mode():
        y = corrupt_fn(x, name, severity, preset=preset, seed=[int(seed)])
    return y[0, 0].float().cpu().numpy()


def _to_png(arr: np.ndarray) -> bytes:
    from PIL import Image

    a = np.clip(np.asarray(arr, dtype=np.float32), 0, 1)
    a = (a * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def save_examples(
    store: ResultStore, dataset, corrupt_fn, corrs, sevs, presets, seed, k, class_names
) -> None:
    """Example strips ``examples/<corruption>@<severity>.png`` of ``k`` images spread over
    the dataset (the same examples however many processes or shards run), and kernel
    thumbnails ``kernels/<corruption>.png``. ``dataset`` items: ``(image, label, index, ...)``."""
    if k <= 0:
        return
    d = store.root / "examples"
    items = [dataset[p] for p in spread_positions(len(dataset), k)]
    items = [it for it in items if it is not None]
    if not items:
        return
    x = torch.stack([torch.as_tensor(it[0]) for it in items])
    y = torch.tensor([int(it[1]) for it in items], dtype=torch.long)
    idx = torch.tensor([int(it[2]) for it in items], dtype=torch.long)
    meta = {"indices": idx.tolist(), "labels": y.tolist(), "classes": class_names, "cells": []}
    cells = [("clean", 0.0)] + [(c, float(s)) for c in corrs for s in sevs]
    with torch.inference_mode():
        for c, s in cells:
            key = f"{c}@{format_severity(s)}"
            meta["cells"].append({"corruption": c, "severity": s, "file": f"{key}.png"})
            if (d / f"{key}.png").exists():
                continue
            xc = (
                x
                if c == "clean"
                else corrupt_fn(
                    x, c, s, preset=presets[c], seed=image_seeds(seed, c, s, idx.tolist())
                )
            )
            strip = torch.cat(list(xc.float().clamp(0, 1)), dim=-1)  # (C, H, k*W)
            if strip.shape[0] == 1:
                strip = strip.expand(3, -1, -1)
            atomic_write(d / f"{key}.png", _to_png(strip[:3].permute(1, 2, 0).cpu().numpy()))
        for c in corrs:
            p = store.root / "kernels" / f"{c}.png"
            if p.exists():
                continue
            tiles = []
            for s in sevs:
                r = impulse_response(corrupt_fn, c, s, presets[c], tuple(x.shape[-2:]), seed)
                r = np.sqrt(np.clip(r, 0, None) / max(float(r.max()), 1e-12))  # show the tails
                tiles.append(np.pad(r, 1, constant_values=0.25))
            atomic_write(p, _to_png(np.concatenate(tiles, axis=1)))
    old = store.root / "examples" / "meta.json"
    if old.exists():
        prev = json.loads(old.read_text())
        seen = {(c["corruption"], c["severity"]) for c in prev["cells"]}
        prev["cells"] += [c for c in meta["cells"] if (c["corruption"], c["severity"]) not in seen]
        meta = prev
    atomic_write(old, json.dumps(meta, indent=1))
