"""The evaluation grid: accuracy of classifiers under corruption x severity.

For every model and every cell (corruption, severity) of a suite, the images
are corrupted on the fly, in batches, on the model's device, and classified.
Each image's random draw (a motion angle, a glass shuffle) comes from its own
seed, ``hash(seed, corruption, severity, dataset index)``, so the blurred image
does not depend on the batch, the process (under ``torchrun``), a resume, or
the model: every model compared sees the same blurred images.

Per cell: top-1 (and top-5 where there are more than five classes) accuracy
with a 95 % Wilson interval, and the fraction of predictions changed from the
clean image. Per model: clean accuracy, mean blur accuracy, CE / mCE /
relative CE (against AlexNet's published ImageNet-C errors when the grid is the
ImageNet-C one, or against a named baseline model), flip rates, and an
ImageNet-P style flip probability over a fine severity sweep. Optionally the
critical blur of each image (:func:`blurkit.robustness.critical_blur`).

Results go to a :class:`~blurkit.robustness.store.ResultStore`: each finished
cell is written atomically, so a killed run restarted with the same arguments
skips finished cells and ends with the same ``cells.csv``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._checks import ParameterError, check_scalar
from .distributed import (
    DistContext,
    broadcast_from_rank0,
    gather_to_rank0,
    init_distributed,
    shard_indices,
)
from .metrics import (
    ALEXNET_CLEAN_ERR,
    ALEXNET_ERR,
    corruption_error,
    flip_probability,
    mean_corruption_error,
    relative_corruption_error,
    wilson_interval,
)
from .store import ResultStore, ResumeError, format_severity

__all__ = [
    "EvaluationResult",
    "evaluate",
    "image_seeds",
    "summarize",
    "resolve_corruptions",
    "impulse_response",
    "CRITICAL_FAMILIES",
]

_MASK64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def image_seeds(seed: int, corruption: str, severity, indices) -> list[int]:
    """One seed per image: a hash of (global seed, corruption, severity, dataset index).

    The seed depends on nothing else (not the batch, the shard or the model),
    which is what makes results reproducible across runs, resumes and
    processes. ``severity`` may be any text key (the flip sweep uses one key for
    the whole sweep so that the draw stays fixed while the strength grows).

    Example:
        >>> a = image_seeds(0, "motion_blur", 3, [5, 6])
        >>> a == image_seeds(0, "motion_blur", 3, [5, 6])
        True
        >>> a[0] == image_seeds(0, "motion_blur", 3, [7, 5])[1]  # batch order does not matter
        True
        >>> a[0] != image_seeds(1, "motion_blur", 3, [5])[0]
        True
    """
    key = severity if isinstance(severity, str) else format_severity(severity)
    base = int.from_bytes(
        hashlib.blake2b(f"{int(seed)}|{corruption}|{key}".encode(), digest_size=8).digest(),
        "little",
    )
    return [_splitmix64(base ^ _splitmix64(int(i))) >> 1 for i in indices]


def resolve_corruptions(suite_or_names) -> tuple[str, ...]:
    """Names of the corruptions of a suite name, a comma list, or a sequence of names.

    Example:
        >>> resolve_corruptions("gaussian_blur,motion_blur")
        ('gaussian_blur', 'motion_blur')
    """
    from ..corruptions import SUITES

    if isinstance(suite_or_names, str):
        if suite_or_names in SUITES:
            return tuple(SUITES[suite_or_names])
        names = [s.strip() for s in suite_or_names.split(",") if s.strip()]
    else:
        names = list(suite_or_names)
    if not names:
        raise ParameterError(
            f"corruptions: expected a suite ({', '.join(SUITES)}) or corruption names, got none"
        )
    return tuple(names)


def _preset_for(name: str, preset: str, corrupt_fn) -> str:
    """The preset to use for ``name``: the requested one if the family has it, else its first."""
    if corrupt_fn is not None:
        return preset
    from ..corruptions import get_corruption

    presets = get_corruption(name).presets
    return preset if preset in presets else presets[0]


def _default_corrupt(x, name, severity, *, preset, seed):
    from ..corruptions import corrupt

    return corrupt(x, name, severity, preset=preset, seed=seed)


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns (on rank 0; other ranks get empty rows)."""

    out: Path
    rows: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- data
def spread_positions(n_total: int, m: int) -> list[int]:
    """``m`` dataset positions spread evenly over ``0 .. n_total - 1``.

    Subsets (critical blur, the flip sweep, examples) use these instead of the
    first ``m`` images: datasets stored by class (ImageFolder trees, the CIFAR
    archives, the bundled sample) would otherwise give a subset of one class.
    Deterministic and independent of batching and sharding.

    >>> spread_positions(10, 3)
    [0, 4, 9]
    """
    m = max(0, min(int(m), int(n_total)))
    if m == 0:
        return []
    if m == 1:
        return [0]
    return sorted({round(i * (n_total - 1) / (m - 1)) for i in range(m)})


class _Images:
    """This rank's share of a dataset, batched; held in memory when small enough."""

    def __init__(self, dataset, positions: Sequence[int], batch_size: int, cache_bytes: int):
        self.dataset = dataset
        self.positions = list(positions)
        self.batch_size = batch_size
        self.cache = None
        if self.positions:
            x0 = dataset[self.positions[0]][0]
            if x0.numel() * x0.element_size() * len(self.positions) <= cache_bytes:
                self.cache = self._load(self.positions)

    def _load(self, positions):
        xs, ys, ids = [], [], []
        for p in positions:
            x, y, i = self.dataset[p]
            xs.append(torch.as_tensor(x))
            ys.append(int(y))
            ids.append(int(i))
        return (
            torch.stack(xs),
            torch.tensor(ys, dtype=torch.long),
            torch.tensor(ids, dtype=torch.long),
        )

    def __len__(self):
        return len(self.positions)

    def batches(self, select: set[int] | None = None):
        """Batches of this rank's images; ``select``: only these dataset positions."""
        if select is None:
            local = None
            n = len(self.positions)
        else:
            local = [k for k, p in enumerate(self.positions) if p in select]
            n = len(local)
        for a in range(0, n, self.batch_size):
            b = min(a + self.batch_size, n)
            if local is None:
                if self.cache is not None:
                    yield tuple(t[a:b] for t in self.cache)
                else:
                    yield self._load(self.positions[a:b])
            elif self.cache is not None:
                ks = torch.tensor(local[a:b], dtype=torch.long)
                yield tuple(t[ks] for t in self.cache)
            else:
                yield self._load([self.positions[k] for k in local[a:b]])

    def first(self, k: int):
        if self.cache is not None:
            return tuple(t[:k] for t in self.cache)
        return self._load(self.positions[:k])


def _model_device(model: nn.Module, device) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _fingerprint(model: nn.Module) -> str:
    """Hash of the model's weights (what decides its predictions)."""
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        t = v.detach().cpu().contiguous()
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


def _class_names(model, dataset) -> list[str] | None:
    for obj in (model, dataset):
        c = getattr(obj, "classes", None)
        if c:
            return [str(x) for x in c]
    return None


# ----------------------------------------------------------------------------- engine
class _Runner:
    def __init__(self, model, name, images, ctx, corrupt_fn, seed, topk, device):
        self.model, self.name, self.images, self.ctx = model, name, images, ctx
        self.corrupt_fn, self.seed, self.topk, self.device = corrupt_fn, seed, topk, device
        self.forward_s = 0.0
        self.total_s = 0.0

    def _forward(self, x):
        t = time.perf_counter()
        logits = self.model(x)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.forward_s += time.perf_counter() - t
        return logits

    @torch.inference_mode()
    def predict(self, corruption: str, severity: float, preset: str, seed_key=None, select=None):
        """(indices, top-1, top-1 correct, top-k correct) of this rank's images."""
        t0 = time.perf_counter()
        out = ([], [], [], [])
        key = severity if seed_key is None else seed_key
        for x, y, idx in self.images.batches(select):
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device)
            if corruption != "clean":
                seeds = image_seeds(self.seed, corruption, key, idx.tolist())
                x = self.corrupt_fn(x, corruption, severity, preset=preset, seed=seeds)
            logits = self._forward(x)
            k = min(self.topk, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            out[0].append(idx)
            out[1].append(top[:, 0].cpu())
            out[2].append((top[:, 0] == y).cpu())
            out[3].append((top == y[:, None]).any(1).cpu())
        self.total_s += time.perf_counter() - t0
        if not out[0]:
            e = torch.zeros(0, dtype=torch.long)
            return e, e, e.bool(), e.bool()
        return tuple(torch.cat(o) for o in out)


def _merge(parts) -> tuple[np.ndarray, ...]:
    """Concatenate gathered per-rank arrays and sort by dataset index."""
    arrs = [np.concatenate([np.asarray(p[j]) for p in parts]) for j in range(len(parts[0]))]
    order = np.argsort(arrs[0], kind="stable")
    return tuple(a[order] for a in arrs)


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
    import io

    from PIL import Image

    a = np.clip(np.asarray(arr, dtype=np.float32), 0, 1)
    a = (a * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _save_examples(
    store: ResultStore, images: _Images, corrupt_fn, corrs, sevs, presets, seed, k, class_names
):
    """Example strips ``examples/<corruption>@<severity>.png`` (the exact images the models saw)."""
    from .store import atomic_write

    if k <= 0:
        return
    d = store.root / "examples"
    # k images spread over the dataset (not over this process's shard): the same
    # examples however many processes run
    first = _Images(images.dataset, spread_positions(len(images.dataset), k), k, 0)
    x, y, idx = first._load(first.positions)
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
                r = np.sqrt(
                    np.clip(r, 0, None) / max(float(r.max()), 1e-12)
                )  # gamma to show the tails
                tiles.append(np.pad(r, 1, constant_values=0.25))
            atomic_write(p, _to_png(np.concatenate(tiles, axis=1)))
    old = store.root / "examples" / "meta.json"
    if old.exists():
        prev = json.loads(old.read_text())
        seen = {(c["corruption"], c["severity"]) for c in prev["cells"]}
        prev["cells"] += [c for c in meta["cells"] if (c["corruption"], c["severity"]) not in seen]
        meta = prev
    atomic_write(old, json.dumps(meta, indent=1))


def _cell_record(
    model_name, corruption, severity, preset, seed, merged, clean_pred, topk_ok, seconds
):
    idx, top1, c1, ck = merged
    n = int(idx.shape[0])
    correct = int(c1.sum())
    lo, hi = wilson_interval(correct, n)
    row = {
        "model": model_name,
        "corruption": corruption,
        "severity": format_severity(severity),
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else float("nan"),
        "accuracy_low": lo,
        "accuracy_high": hi,
        "top5_correct": None,
        "top5_accuracy": None,
        "top5_low": None,
        "top5_high": None,
        "flip_rate": None,
        "preset": preset,
        "seed": seed,
    }
    if topk_ok:
        c5 = int(ck.sum())
        l5, h5 = wilson_interval(c5, n)
        row.update(
            top5_correct=c5, top5_accuracy=c5 / n if n else float("nan"), top5_low=l5, top5_high=h5
        )
    if clean_pred is not None:
        row["flip_rate"] = float((np.asarray(clean_pred) != top1).mean()) if n else 0.0
    elif corruption == "clean":
        row["flip_rate"] = 0.0
    return {
        "row": row,
        "indices": idx.tolist(),
        "pred": top1.tolist(),
        "seconds": seconds,
    }


def evaluate(
    models,
    dataset,
    out: str | Path | None = None,
    *,
    corruptions="cifar-10-c-blur",
    severities: Sequence[float] = (1, 2, 3, 4, 5),
    preset: str | None = None,
    seed: int = 0,
    batch_size: int = 256,
    device=None,
    topk: int = 5,
    flip_frames: int = 0,
    flip_images: int = 200,
    critical: bool | Sequence[str] = False,
    critical_images: int = 100,
    critical_kwargs: Mapping | None = None,
    examples: int = 8,
    baseline: str | None = None,
    dataset_id: str | None = None,
    overwrite: bool = False,
    corrupt_fn: Callable | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    on_cell: Callable[[str, str, float], None] | None = None,
    cache_bytes: int = 2**31,
    ctx: DistContext | None = None,
) -> EvaluationResult:
    """Evaluate one or more classifiers on a corruption x severity grid.

    Args:
        models: a classifier (``nn.Module`` mapping ``(B, 3, S, S)`` images in
            [0, 1] to logits, e.g. :func:`blurkit.models.load_model`), a list of
            them, or a ``{name: model}`` mapping. Names come from ``.name``.
        dataset: indexable, ``len()``-able, items ``(image (C,H,W) in [0,1], label, index)``,
            e.g. ``blurkit.data.open_dataset("sample")``.
        out: results directory (default: a new temporary directory). A run with
            the same arguments resumes there, skipping finished cells.
        corruptions: a suite name (``"cifar-10-c-blur"``, ``"imagenet-c-blur"``,
            ``"natural"``), a comma-separated list or a sequence of names.
        severities: severities of the grid (floats allowed for a continuous sweep).
        preset: severity table, ``"imagenet-c"`` or ``"cifar-10-c"``; default:
            ``"cifar-10-c"`` for images up to 64 px, else ``"imagenet-c"``.
        seed: global seed; image ``i``'s draw in a cell is ``hash(seed, corruption, severity, i)``.
        batch_size: images per forward pass (per process).
        device: where to corrupt and classify (default: the model's device).
        topk: the "top-5" accuracy's k (reported when a model has more than k classes).
        flip_frames: frames of the ImageNet-P style flip-probability sweep per
            corruption (severity from 1 to 5 in equal steps, the random draw held
            fixed); 0 skips it.
        flip_images: how many images (spread over the dataset) the sweep uses.
        critical: also run :func:`blurkit.robustness.critical_blur` on the first
            ``critical_images`` images: ``True`` for :data:`CRITICAL_FAMILIES`, or a
            sequence of family names.
        critical_kwargs: extra keyword arguments for ``critical_blur``.
        examples: how many example images to keep per cell for the report.
        baseline: name of one of ``models`` to normalise CE by (any dataset).
        dataset_id: text that identifies the dataset in the resume guard.
        overwrite: discard stored results of these models made with other arguments.
        corrupt_fn: replaces :func:`blurkit.corrupt` (same signature); for tests
            and custom corruptions.
        progress: ``progress(description, done, total)`` after every cell.
        on_cell: ``on_cell(model, corruption, severity)`` after every stored cell.
        cache_bytes: keep this process's images in memory when they fit.
        ctx: distributed context (default: from torchrun's environment).

    Returns:
        An :class:`EvaluationResult` with the rows of ``cells.csv`` and ``summary.json``.

    Example:
        >>> class Mean(torch.nn.Module):  # a toy 2-class "model": bright or dark
        ...     classes = ["dark", "bright"]
        ...     def forward(self, x):
        ...         m = x.mean((1, 2, 3))
        ...         return torch.stack([0.5 - m, m - 0.5], 1)
        >>> g = torch.Generator().manual_seed(0)
        >>> data = [(torch.rand(3, 16, 16, generator=g) * 0.5 + 0.5 * (i % 2), i % 2, i)
        ...         for i in range(8)]
        >>> def fade(x, name, severity, *, preset, seed):  # stands in for blurkit.corrupt
        ...     return 0.5 + (x - 0.5) / (1 + severity)
        >>> r = evaluate(Mean(), data, corruptions=["fade"], severities=[1, 3], examples=0,
        ...              corrupt_fn=fade)
        >>> [(row["corruption"], row["severity"], row["accuracy"]) for row in r.rows]
        [('clean', '0', 1.0), ('fade', '1', 1.0), ('fade', '3', 1.0)]
    """
    import tempfile

    if isinstance(models, Mapping):
        named = list(models.items())
    elif isinstance(models, nn.Module):
        named = [(getattr(models, "name", None) or type(models).__name__, models)]
    else:
        named = [
            (getattr(m, "name", None) or f"{type(m).__name__}{i}", m) for i, m in enumerate(models)
        ]
    if not named:
        raise ParameterError("models: expected at least one model, got none")
    if len({n for n, _ in named}) != len(named):
        raise ParameterError(f"models: names must be distinct, got {[n for n, _ in named]}")
    if baseline is not None and baseline not in {n for n, _ in named}:
        raise ParameterError(
            f"baseline: expected one of the models {[n for n, _ in named]}, got {baseline!r}"
        )
    corrs = resolve_corruptions(corruptions)
    if "clean" in corrs:
        raise ParameterError("corruptions: 'clean' is always evaluated; do not list it")
    sevs = sorted({check_scalar(float(s), "severities", low=1.0, high=5.0) for s in severities})
    if not sevs:
        raise ParameterError("severities: expected at least one severity in [1, 5], got none")
    batch_size = int(check_scalar(batch_size, "batch_size", low=1))
    n_total = len(dataset)
    if n_total == 0:
        raise ParameterError("dataset: expected at least one image, got an empty dataset")
    x0 = dataset[0][0]
    if preset is None:
        preset = "cifar-10-c" if max(x0.shape[-2:]) <= 64 else "imagenet-c"
    fn = corrupt_fn or _default_corrupt
    presets = {c: _preset_for(c, preset, corrupt_fn) for c in corrs}

    ctx = ctx or init_distributed(device)
    if out is None:
        out = broadcast_from_rank0(
            ctx, tempfile.mkdtemp(prefix="blurkit-eval-") if ctx.is_main else None
        )
    store = ResultStore(out) if ctx.is_main else None
    if ctx.is_main:
        store.set_order([n for n, _ in named], corrs)

    positions = shard_indices(n_total, ctx.rank, ctx.world)
    images = _Images(dataset, positions, batch_size, cache_bytes)
    class_names = None
    timing = {"forward_s": 0.0, "total_s": 0.0, "images": 0}
    cells = [("clean", 0.0)] + [(c, s) for c in corrs for s in sevs]
    t_start = time.perf_counter()

    for mname, model in named:
        dev = _model_device(
            model, device if device is not None else (ctx.device if ctx.world > 1 else None)
        )
        model = model.to(dev).eval()
        class_names = class_names or _class_names(model, dataset)
        config = {
            "model": mname,
            "weights": _fingerprint(model),
            "dataset": dataset_id or type(dataset).__name__,
            "n_images": n_total,
            "image_shape": list(x0.shape),
            "seed": int(seed),
            "preset": preset,
            "topk": int(topk),
        }
        # rank 0 checks the resume guard; every rank learns the outcome
        status = None
        if ctx.is_main:
            try:
                store.open_model(mname, config, overwrite=overwrite)
                done = [
                    (c, s)
                    for c, s in cells
                    if store.has(mname, "cell", f"{c}@{format_severity(s)}")
                ]
                status = ("ok", done)
            except ResumeError as e:
                status = ("error", str(e))
        status = broadcast_from_rank0(ctx, status)
        if status[0] == "error":
            raise ResumeError(status[1])
        done = {(c, float(s)) for c, s in status[1]}
        runner = _Runner(model, mname, images, ctx, fn, int(seed), int(topk), dev)
        n_classes = None
        clean_pred = None
        if ctx.is_main and ("clean", 0.0) in done:
            clean_pred = np.asarray(store.load(mname, "cell", "clean@0")["pred"])

        for i, (c, s) in enumerate(cells):
            key = f"{c}@{format_severity(s)}"
            if (c, s) in done:
                if progress and ctx.is_main:
                    progress(f"{mname}: {key}", i + 1, len(cells))
                continue
            t0 = time.perf_counter()
            local = runner.predict(c, s, presets.get(c, preset))
            if n_classes is None:
                n_classes = _num_classes(model, dataset, class_names)
            parts = gather_to_rank0(ctx, tuple(t.numpy() for t in local))
            if ctx.is_main:
                merged = _merge(parts)
                rec = _cell_record(
                    mname,
                    c,
                    s,
                    presets.get(c, preset),
                    int(seed),
                    merged,
                    None if c == "clean" else clean_pred,
                    n_classes is None or n_classes > topk,
                    time.perf_counter() - t0,
                )
                store.save(mname, "cell", key, rec)
                if c == "clean":
                    clean_pred = merged[1]
                if progress:
                    progress(f"{mname}: {key}", i + 1, len(cells))
            ctx.barrier()
            if on_cell is not None:
                on_cell(mname, c, s)

        if ctx.is_main and examples > 0:
            _save_examples(
                store, images, fn, corrs, sevs, presets, int(seed), examples, class_names
            )

        if flip_frames and flip_frames >= 2:
            _flip_sweep(
                runner,
                store,
                ctx,
                mname,
                corrs,
                presets,
                flip_frames,
                flip_images,
                n_total,
                progress,
            )
        if critical:
            fams = CRITICAL_FAMILIES if critical is True else tuple(critical)
            _critical(
                model,
                mname,
                dataset,
                store,
                ctx,
                fams,
                critical_images,
                dev,
                seed,
                dict(critical_kwargs or {}),
                progress,
            )
        timing["forward_s"] += runner.forward_s
        timing["total_s"] += runner.total_s
    timing["wall_s"] = time.perf_counter() - t_start

    if not ctx.is_main:
        ctx.barrier()
        return EvaluationResult(out=Path(out), timing=timing)
    names = [n for n, _ in named]
    store.write_cells_csv(names)
    summary = summarize(store, names, baseline=baseline)
    from .store import atomic_write

    atomic_write(store.root / "summary.json", json.dumps(summary, indent=1, sort_keys=False))
    ctx.barrier()
    return EvaluationResult(out=store.root, rows=store.rows(names), summary=summary, timing=timing)


def _num_classes(model, dataset, class_names) -> int | None:
    if class_names:
        return len(class_names)
    return getattr(model, "num_classes", None)


def _flip_sweep(
    runner: _Runner, store, ctx, mname, corrs, presets, frames, n_images, n_total, progress
):
    """ImageNet-P style sequences: severity 1 -> 5 in ``frames`` steps, one draw per image."""
    select = set(spread_positions(n_total, n_images))
    sevs = [float(v) for v in np.linspace(1.0, 5.0, int(frames))]
    todo = None
    if ctx.is_main:
        todo = [c for c in corrs if not store.has(mname, "flip", c)]
    todo = broadcast_from_rank0(ctx, todo)
    for j, c in enumerate(todo):
        preds = []
        idx = None
        for s in sevs:
            local = runner.predict(c, s, presets[c], seed_key="sweep", select=select)
            idx = local[0]
            preds.append(local[1].numpy())
        parts = gather_to_rank0(
            ctx, (idx.numpy(), np.stack(preds, 1) if preds else np.zeros((0, 0)))
        )
        if ctx.is_main:
            allidx = np.concatenate([p[0] for p in parts])
            allp = (
                np.concatenate([p[1] for p in parts if p[1].size], axis=0)
                if allidx.size
                else np.zeros((0, len(sevs)))
            )
            order = np.argsort(allidx, kind="stable")
            P = allp[order].T  # (T, m)
            fp = flip_probability(torch.from_numpy(P)) if P.shape[1] else 0.0
            store.save(
                mname,
                "flip",
                c,
                {
                    "model": mname,
                    "corruption": c,
                    "severities": sevs,
                    "n": int(P.shape[1]),
                    "flip_probability": fp,
                    "flips_per_step": (P[1:] != P[:-1]).mean(1).tolist() if P.shape[1] else [],
                    "indices": allidx[order].tolist(),
                },
            )
            if progress:
                progress(f"{mname}: flip sweep {c}", j + 1, len(todo))
        ctx.barrier()


def _jsonable(v):
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().tolist()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "__dataclass_fields__"):
        return {k: _jsonable(getattr(v, k)) for k in v.__dataclass_fields__}
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (str, bool)) or v is None:
        return v
    return str(v)


#: critical-blur families searched by default (``blurkit.robustness.list_families``)
CRITICAL_FAMILIES: tuple[str, ...] = ("gaussian", "defocus", "motion")


def _critical(model, mname, dataset, store, ctx, families, n_images, dev, seed, kwargs, progress):
    """Critical blur per family on ``n_images`` images spread over the dataset (rank 0)."""
    from .critical import critical_blur

    if ctx.is_main:
        todo = [f for f in families if not store.has(mname, "critical", f)]
        m = min(int(n_images), len(dataset))
        if todo and m:
            chosen = spread_positions(len(dataset), m)
            items = [dataset[i] for i in chosen]
            x = torch.stack([torch.as_tensor(it[0]) for it in items]).to(dev)
            y = torch.tensor([int(it[1]) for it in items], device=dev)
            for j, f in enumerate(todo):
                try:
                    res = critical_blur(model, x, y, f, seed=int(seed), **kwargs)
                except ParameterError as e:
                    warnings.warn(f"critical blur for {f!r} skipped: {e}", stacklevel=3)
                    continue
                curve = res.ssim_curve(torch.linspace(0, 1, 51))
                rec = {
                    "model": mname,
                    "family": f,
                    "unit": res.unit,
                    "n": m,
                    "positions": chosen,
                    "summary": _jsonable(res.summary()),
                    "ssim_curve": _jsonable(curve),
                    "strength": _jsonable(res.strength),
                    "ssim": _jsonable(res.ssim),
                    "correct": _jsonable(res.correct),
                    "flipped": _jsonable(res.flipped),
                }
                store.save(mname, "critical", f, rec)
                if progress:
                    progress(f"{mname}: critical blur {f}", j + 1, len(todo))
    ctx.barrier()


# ----------------------------------------------------------------------------- summaries
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
