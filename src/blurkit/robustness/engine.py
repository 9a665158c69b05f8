"""The streaming evaluation engine: models x corruption x severity, each image decoded once.

For every model, a ``DataLoader`` (workers, prefetch) decodes the images of the
dataset once, in order, batch by batch. While a batch is in memory, on the
model's device, every cell (corruption, severity) of the grid is computed from
it: the batch is corrupted, the model runs, and the task adapter
(:mod:`blurkit.robustness.tasks`) turns the outputs into per-image records,
which accumulate per cell. Memory is bounded by the batch size times the
loader's prefetch, never by the dataset size. On the CPU the C heap's free
pages go back to the OS after every batch (:mod:`blurkit._heap`), so that
allocator fragmentation does not raise the peak with the dataset size either.

Chunks. The dataset is cut into chunks of ``chunk_size`` consecutive images.
When a chunk's last batch is done, the records of *all* cells of the chunk are
written at once, atomically (``records/<model>/chunk/<start>.npz``). A killed run
restarted with the same arguments skips the finished chunks; because every
image's random draw comes from its own seed (:func:`~blurkit.robustness.seeds.image_seeds`),
nothing depends on the batch, the chunk, the shard or the resume, and the run
ends with the same ``cells.csv`` as an uninterrupted one.

Processes. Under ``torchrun`` the chunks are dealt to the ranks and rank 0
writes every file. ``shard="i/N"`` runs only chunks ``i, i + N, ...`` (a job
array on a cluster, each shard into its own or a shared directory);
:func:`merge_results` joins the shards' chunks into the same ``cells.csv``
and ``summary.json`` one process writes. The example strips and the critical
blur (small subsets of the dataset) run with shard 0.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .._checks import ParameterError
from .._heap import release_free_heap
from .._json import dumps
from ..corruptions import SUITES, corrupt, get_corruption
from ..data.sources import as_eval_dataset
from ..kernels.family import blur_families
from ..models import load_model
from .config import EvalConfig, parse_shard
from .distributed import DistContext, broadcast_from_rank0, gather_to_rank0, init_distributed
from .examples import save_examples
from .seeds import image_seeds, spread_positions
from .store import FIXED_BACK, FIXED_FRONT, ResultStore, ResumeError, atomic_write, format_severity
from .tasks import Task, get_task

__all__ = [
    "EvaluationResult",
    "evaluate_model",
    "merge_results",
    "resolve_corruptions",
    "CRITICAL_FAMILIES",
]

#: critical-blur families searched by default: those with a corruption twin
#: (:func:`blurkit.kernels.family.blur_families`)
CRITICAL_FAMILIES: tuple[str, ...] = blur_families(twinned=True)

_FIXED_FRONT, _FIXED_BACK = FIXED_FRONT, FIXED_BACK


def resolve_corruptions(suite_or_names) -> tuple[str, ...]:
    """Names of the corruptions of a suite name, a comma list, or a sequence of names.

    Example:
        >>> resolve_corruptions("gaussian_blur,motion_blur")
        ('gaussian_blur', 'motion_blur')
    """
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

    presets = get_corruption(name).presets
    return preset if preset in presets else presets[0]


def _default_corrupt(x, name, severity, *, preset, seed):
    return corrupt(x, name, severity, preset=preset, seed=seed)


@dataclass
class EvaluationResult:
    """What an evaluation returns (on rank 0; other ranks and partial shards get no rows).

    Attributes:
        out: the results directory.
        rows: the rows of ``cells.csv`` as dicts (also :attr:`cells`).
        summary: ``summary.json``.
        timing: seconds spent: ``forward_s`` (the model), ``corrupt_s`` (the
            corruptions), ``total_s`` (the streaming passes), ``wall_s``, and ``images``.
        complete: ``False`` for one shard of several (run :func:`merge_results`).
    """

    out: Path
    rows: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    complete: bool = True

    @property
    def cells(self) -> list[dict]:
        """The rows of ``cells.csv`` (one per model, corruption and severity)."""
        return self.rows

    def to_pandas(self):
        """The cells as a ``pandas.DataFrame`` (pandas is optional)."""
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError(
                "to_pandas needs pandas (pip install pandas); the rows are in .cells "
                "and in cells.csv"
            ) from e
        return pd.DataFrame(self.rows)

    def report(self, path: str | Path | None = None, **kwargs) -> Path:
        """Render the HTML report (default ``out/report.html``); returns its path."""
        from ..report import render_report

        return render_report([self.out], path or Path(self.out) / "report.html", **kwargs)


# ----------------------------------------------------------------------------- helpers
def _named_models(models) -> list[tuple[str, nn.Module]]:
    def load(m):
        if isinstance(m, str):
            return load_model(m)
        return m

    if isinstance(models, Mapping):
        named = [(str(k), load(v)) for k, v in models.items()]
    elif isinstance(models, (nn.Module, str)):
        m = load(models)
        named = [(getattr(m, "name", None) or type(m).__name__, m)]
    else:
        ms = [load(m) for m in models]
        named = [
            (getattr(m, "name", None) or f"{type(m).__name__}{i}", m) for i, m in enumerate(ms)
        ]
    if not named:
        raise ParameterError("models: expected at least one model, got none")
    bad = [n for n, m in named if not isinstance(m, nn.Module)]
    if bad:
        raise ParameterError(f"models: expected nn.Module models or model names, got {bad}")
    if len({n for n, _ in named}) != len(named):
        raise ParameterError(f"models: names must be distinct, got {[n for n, _ in named]}")
    return named


def _model_device(model: nn.Module, device) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _fingerprint(model: nn.Module) -> str:
    """Hash of the model's weights (what decides its outputs)."""
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        t = v.detach().cpu().contiguous()
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


def _collate(items):
    items = [it for it in items if it is not None]
    if not items:
        return None
    xs, ys, idx, pos = zip(*items, strict=True)
    return (
        torch.stack(xs),
        torch.tensor(ys, dtype=torch.long),
        torch.tensor(idx, dtype=torch.long),
        torch.tensor(pos, dtype=torch.long),
    )


def _cell_key(c: str, s: float) -> str:
    return f"{c}@{format_severity(s)}"


def _chunk_key(k: int) -> str:
    return f"{k:08d}"


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _chunk_meta(arrays: Mapping) -> dict:
    return json.loads(str(arrays["meta"]))


def _merge_chunk(old: dict | None, new: dict) -> dict:
    """``new``'s arrays, plus the cells of ``old`` that ``new`` did not recompute."""
    if old is None:
        return new
    om, nm = _chunk_meta(old), _chunk_meta(new)
    out = {k: v for k, v in old.items() if k != "meta"}
    out.update({k: v for k, v in new.items() if k != "meta"})
    om["cells"].update(nm["cells"])
    om["flip"].update(nm["flip"])
    out["meta"] = np.array(json.dumps(om))
    return out


# ----------------------------------------------------------------------------- one model
class _Pass:
    """One streaming pass of one model over this process's chunks."""

    def __init__(self, model, task, dev, cfg, fn, cells, presets, work, sweep, timing):
        self.model, self.task, self.dev, self.cfg, self.fn = model, task, dev, cfg, fn
        self.cells, self.presets, self.work, self.timing = cells, presets, work, timing
        self.sweep_sel, self.sweep_sevs = sweep
        self.amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
        self.seed = int(cfg.seed)
        self.acc: dict[str, list[dict]] = {}
        self.secs: dict[str, float] = {}

    def _forward(self, x):
        t = time.perf_counter()
        if self.cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        ctx = (
            torch.autocast(self.dev.type, dtype=self.amp)
            if self.amp is not None
            else contextlib.nullcontext()
        )
        with ctx:
            out = self.task.outputs(self.model, x)
        if out.is_floating_point():
            out = out.float()
        _sync(self.dev)
        self.timing["forward_s"] += time.perf_counter() - t
        return out

    def _corrupt(self, x, c, s, seeds):
        t = time.perf_counter()
        y = self.fn(x, c, s, preset=self.presets[c], seed=seeds)
        _sync(self.dev)
        self.timing["corrupt_s"] += time.perf_counter() - t
        return y

    @torch.inference_mode()
    def batch(self, x, y, idx, pos) -> None:
        x = x.to(self.dev, non_blocking=True)
        y = y.to(self.dev, non_blocking=True)
        ids = idx.tolist()
        clean = None
        for c, s in self.cells:
            key = _cell_key(c, s)
            if c != "clean" and key not in self.work:
                continue
            t0 = time.perf_counter()
            xc = x if c == "clean" else self._corrupt(x, c, s, image_seeds(self.seed, c, s, ids))
            out = self._forward(xc)
            if c == "clean":
                clean = out
            if key in self.work:
                rec = self.task.records(out, y, idx, clean=None if c == "clean" else clean)
                rec["indices"] = idx.numpy()
                self.acc.setdefault(key, []).append(rec)
                self.secs[key] = self.secs.get(key, 0.0) + time.perf_counter() - t0
        flips = [f for f in self.work if f.startswith("flip:")]
        if flips and self.sweep_sel:
            sel = [j for j, p in enumerate(pos.tolist()) if p in self.sweep_sel]
            if sel:
                js = torch.tensor(sel, dtype=torch.long)
                xs, sub = x[js.to(self.dev)], idx[js]
                for f in flips:
                    c = f[len("flip:") :]
                    seeds = image_seeds(self.seed, c, "sweep", sub.tolist())
                    vals = [
                        self.task.sweep_values(self._forward(self._corrupt(xs, c, s, seeds)))
                        for s in self.sweep_sevs
                    ]
                    self.acc.setdefault(f, []).append(
                        {"indices": sub.numpy(), "values": np.stack(vals, 1)}
                    )

    def take_chunk(self, k: int, start: int, stop: int) -> dict:
        """The arrays of the finished chunk ``k`` (and reset the accumulators)."""
        arrays = {}
        meta = {"chunk": k, "start": start, "stop": stop, "cells": {}, "flip": {}}
        for c, s in self.cells:
            key = _cell_key(c, s)
            if key not in self.work:
                continue
            recs = self.acc.get(key, [])
            fields = recs[0].keys() if recs else ("indices",)
            for f in fields:
                arrays[f"{key}/{f}"] = (
                    np.concatenate([r[f] for r in recs]) if recs else np.zeros(0, np.int64)
                )
            meta["cells"][key] = {
                "corruption": c,
                "severity": float(s),
                "preset": self.presets.get(c, self.presets.get("clean")),
                "seconds": self.secs.get(key, 0.0),
            }
        for f in self.work:
            if not f.startswith("flip:"):
                continue
            recs = self.acc.get(f, [])
            arrays[f"{f}/indices"] = (
                np.concatenate([r["indices"] for r in recs]) if recs else np.zeros(0, np.int64)
            )
            arrays[f"{f}/values"] = (
                np.concatenate([r["values"] for r in recs])
                if recs
                else np.zeros((0, len(self.sweep_sevs)), np.int64)
            )
            meta["flip"][f] = {"corruption": f[len("flip:") :], "severities": self.sweep_sevs}
        arrays["meta"] = np.array(json.dumps(meta))
        self.acc, self.secs = {}, {}
        return arrays


def _finalize_model(
    store: ResultStore,
    mname: str,
    task: Task,
    config: dict,
    keys: Sequence[str] | None,
    on_cell=None,
) -> None:
    """Cell (and flip) records of ``mname`` from its complete set of chunks."""
    n, cs = int(config["n_images"]), int(config["chunk_size"])
    expected = {_chunk_key(k) for k in range(math.ceil(n / cs))}
    present = set(store.array_keys(mname, "chunk"))
    missing = sorted(expected - present)
    if missing:
        ks = [int(m) for m in missing]
        raise ParameterError(
            f"shards: {len(ks)} chunk(s) of model {mname!r} are missing in {store.root} "
            f"(chunks {ks[:8]}{'...' if len(ks) > 8 else ''} of {len(expected)}, "
            f"{cs} images each): run the shards that hold them"
        )
    chunk_keys = sorted(expected)
    metas = [_chunk_meta(store.load_arrays(mname, "chunk", k, names=("meta",))) for k in chunk_keys]
    have = set.intersection(*({*m["cells"], *m["flip"]} for m in metas))
    keys = sorted(have) if keys is None else [k for k in keys if k in have]

    def load(key):
        # one cell at a time over all chunks (a task's records may be large: embeddings)
        parts = {}
        prefix = key + "/"
        for ck in chunk_keys:
            a = store.load_arrays(mname, "chunk", ck, prefix=prefix)
            for name, v in a.items():
                parts.setdefault(name[len(prefix) :], []).append(v)
        recs = {f: np.concatenate(v) for f, v in parts.items()}
        order = np.argsort(recs["indices"], kind="stable")
        return {f: v[order] for f, v in recs.items()}

    clean_key = _cell_key("clean", 0.0)
    clean = load(clean_key) if clean_key in have else None
    for key in keys:
        recs = clean if key == clean_key else load(key)
        if key.startswith("flip:"):
            info = metas[0]["flip"][key]
            P = recs["values"].T  # (T, m)
            store.save(
                mname,
                "flip",
                info["corruption"],
                {
                    "model": mname,
                    "corruption": info["corruption"],
                    "severities": info["severities"],
                    "n": int(P.shape[1]),
                    **task.sweep_metrics(P),
                    "indices": recs["indices"].tolist(),
                },
            )
            continue
        info = metas[0]["cells"][key]
        c, s = info["corruption"], float(info["severity"])
        row = {
            "model": mname,
            "corruption": c,
            "severity": format_severity(s),
            "n": int(recs["indices"].shape[0]),
            **task.metrics(recs, c, clean=None if c == "clean" else clean),
            "preset": info["preset"],
            "seed": int(config["seed"]),
        }
        rec = {
            "row": row,
            **task.cell_extras(recs),
            "seconds": float(sum(m["cells"][key]["seconds"] for m in metas)),
        }
        store.save(mname, "cell", key, rec)
        if on_cell is not None:
            on_cell(mname, c, s)


def _write_outputs(store: ResultStore, names, task: Task, baseline) -> dict:
    store.write_cells_csv(names, _FIXED_FRONT + tuple(task.columns) + _FIXED_BACK)
    summary = task.summarize(store, names, baseline=baseline)
    atomic_write(store.root / "summary.json", dumps(summary, indent=1))
    return summary


def _critical(model, task, mname, ds, store, families, n_images, dev, seed, kwargs, progress):
    """Critical blur per family on ``n_images`` images spread over the dataset."""
    todo = [f for f in families if not store.has(mname, "critical", f)]
    m = min(int(n_images), len(ds))
    if not (todo and m):
        return
    chosen = spread_positions(len(ds), m)
    items = [ds[i] for i in chosen]
    keep = [j for j, it in enumerate(items) if it is not None]
    chosen = [chosen[j] for j in keep]
    items = [items[j] for j in keep]
    x = torch.stack([torch.as_tensor(it[0]) for it in items]).to(dev)
    y = torch.tensor([int(it[1]) for it in items], device=dev)
    for j, f in enumerate(todo):
        try:
            rec = task.critical(model, x, y, f, seed, **kwargs)
        except ParameterError as e:
            warnings.warn(f"critical blur for {f!r} skipped: {e}", stacklevel=4)
            continue
        store.save(
            mname,
            "critical",
            f,
            {"model": mname, "family": f, "unit": rec.pop("unit"), "n": len(chosen),
             "positions": chosen, **rec},
        )  # fmt: skip
        if progress:
            progress(f"{mname}: critical blur {f}", j + 1, len(todo))


# ----------------------------------------------------------------------------- entry point
def evaluate_model(
    models,
    data,
    out: str | Path | None = None,
    config: EvalConfig | None = None,
    *,
    corrupt_fn: Callable | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    on_cell: Callable[[str, str, float], None] | None = None,
    on_chunk: Callable[[str, int, int], None] | None = None,
    ctx: DistContext | None = None,
    **options,
) -> EvaluationResult:
    """Evaluate one or more models on a corruption x severity grid (also ``blurkit.evaluate``).

    Args:
        models: a model (``nn.Module`` mapping ``(B, 3, S, S)`` images in [0, 1] to
            outputs, e.g. :func:`blurkit.models.load_model`) or a model name, a list
            of them, or a ``{name: model}`` mapping. Names come from ``.name``.
        data: a path (ImageFolder directory, ``.tar``/``.tar.gz`` archive, CIFAR
            batches, ``.csv``/``.tsv`` ``path,label`` list, ``"sample"``), a map-style
            dataset of ``(image, label)`` / ``(image, label, index)`` / dict items
            (PIL images, arrays, uint8 or float tensors), a torchvision
            ``ImageFolder``, or a ``DataLoader`` (:mod:`blurkit.data.sources`). PIL
            and uint8 images go through the model's geometric ``preprocess``
            before the blur; the normalisation comes after it, inside the model
            (the ImageNet-C protocol).
        out: results directory (default: a new temporary directory). A run with
            the same arguments resumes there, skipping finished chunks.
        config: an :class:`~blurkit.robustness.config.EvalConfig`; ``options``
            replace its fields (``corruptions=``, ``severities=``, ``critical=``,
            ``flip_frames=``, ``limit=``, ``batch_size=``, ``num_workers=``,
            ``seed=``, ``device=``, ``shard=``, ``amp=``, ``channels_last=``, ``task=``, ...).
        corrupt_fn: replaces :func:`blurkit.corrupt` (same signature); for tests
            and custom corruptions.
        progress: ``progress(description, done, total)`` after every chunk.
        on_cell: ``on_cell(model, corruption, severity)`` after every stored cell.
        on_chunk: ``on_chunk(model, done, total)`` after every stored chunk.
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
        >>> data = [(torch.rand(3, 16, 16, generator=g) * 0.5 + 0.5 * (i % 2), i % 2)
        ...         for i in range(8)]
        >>> def fade(x, name, severity, *, preset, seed):  # stands in for blurkit.corrupt
        ...     return 0.5 + (x - 0.5) / (1 + severity)
        >>> r = evaluate_model(Mean(), data, corruptions=["fade"], severities=[1, 3],
        ...                    examples=0, corrupt_fn=fade)
        >>> [(row["corruption"], row["severity"], row["accuracy"]) for row in r.cells]
        [('clean', '0', 1.0), ('fade', '1', 1.0), ('fade', '3', 1.0)]
    """
    cfg = EvalConfig.from_options(config, **options).check()
    named = _named_models(models)
    names = [n for n, _ in named]
    if cfg.baseline is not None and cfg.baseline not in names:
        raise ParameterError(f"baseline: expected one of the models {names}, got {cfg.baseline!r}")
    corrs = resolve_corruptions(cfg.corruptions)
    if "clean" in corrs:
        raise ParameterError("corruptions: 'clean' is always evaluated; do not list it")
    sevs = cfg.resolved_severities()
    shard_i, shard_n = parse_shard(cfg.shard)
    task_cls = get_task(cfg.task)
    fn = corrupt_fn or _default_corrupt
    cells = [("clean", 0.0)] + [(c, s) for c in corrs for s in sevs]
    # the flip sweep follows a per-image value along the severities: only tasks that have one
    flip_on = cfg.flip_frames >= 2 and cfg.flip_images > 0 and task_cls.sweep_values is not None
    sweep_sevs = [float(v) for v in np.linspace(1.0, 5.0, int(cfg.flip_frames))] if flip_on else []

    ctx = ctx or init_distributed(cfg.device)
    if out is None:
        out = broadcast_from_rank0(
            ctx, tempfile.mkdtemp(prefix="blurkit-eval-") if ctx.is_main else None
        )
    store = ResultStore(out) if ctx.is_main else None
    if ctx.is_main:
        store.set_order(names, corrs)

    timing = {"forward_s": 0.0, "corrupt_s": 0.0, "total_s": 0.0, "images": 0}
    t_start = time.perf_counter()
    task = None
    for mname, model in named:
        dev = _model_device(
            model, cfg.device if cfg.device is not None else (ctx.device if ctx.world > 1 else None)
        )
        model = model.to(dev).eval()
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        ds, info = as_eval_dataset(data, model, limit=cfg.limit)
        n_total = len(ds)
        if n_total == 0:
            raise ParameterError("data: expected at least one image, got an empty dataset")
        x0 = ds.probe()[0]
        preset = cfg.preset or ("cifar-10-c" if max(x0.shape[-2:]) <= 64 else "imagenet-c")
        presets = {c: _preset_for(c, preset, corrupt_fn) for c in corrs}
        presets["clean"] = preset
        task = task_cls.for_model(model, ds, cfg, **dict(cfg.task_options))
        config = {
            "model": mname,
            "weights": _fingerprint(model),
            "dataset": cfg.dataset_id or info["source"],
            "n_images": n_total,
            "image_shape": list(x0.shape),
            "seed": int(cfg.seed),
            "preset": preset,
            "task": task.name,
            **task.config(),
            "chunk_size": int(cfg.chunk_size),
            "amp": cfg.amp,
        }
        n_chunks = math.ceil(n_total / cfg.chunk_size)
        mine = [k for k in range(n_chunks) if k % shard_n == shard_i]
        needed = [_cell_key(c, s) for c, s in cells]
        flips = [f"flip:{c}" for c in corrs] if flip_on else []
        status = None
        if ctx.is_main:
            try:
                store.open_model(mname, config, overwrite=cfg.overwrite)
                finished = all(store.has(mname, "cell", k) for k in needed) and all(
                    store.has(mname, "flip", f[len("flip:") :]) for f in flips
                )
                todo, work = [], set()
                if not finished:
                    for k in mine:
                        have = set()
                        if store.has_arrays(mname, "chunk", _chunk_key(k)):
                            m = _chunk_meta(store.load_arrays(mname, "chunk", _chunk_key(k)))
                            have = {*m["cells"], *m["flip"]}
                        lack = {*needed, *flips} - have
                        if lack:
                            todo.append(k)
                            work |= lack
                status = ("ok", finished, todo, sorted(work))
            except ResumeError as e:
                status = ("error", str(e))
        status = broadcast_from_rank0(ctx, status)
        if status[0] == "error":
            raise ResumeError(status[1])
        _, finished, todo, work = status
        work = set(work) | ({_cell_key("clean", 0.0)} if work else set())

        if todo:
            bs = int(cfg.batch_size or info["batch_size"] or 256)
            nw = (
                int(cfg.num_workers)
                if cfg.num_workers is not None
                else (info["num_workers"] if info["num_workers"] is not None else None)
            )
            nw = cfg.workers(info["in_memory"]) if nw is None else nw
            sweep_sel = set(spread_positions(n_total, cfg.flip_images)) if flip_on else set()
            run = _Pass(
                model, task, dev, cfg, fn, cells, presets, work, (sweep_sel, sweep_sevs), timing
            )
            my_chunks = todo[ctx.rank :: ctx.world]
            rounds = math.ceil(len(todo) / ctx.world)
            batches, ends = [], []
            for k in my_chunks:
                a, b = k * cfg.chunk_size, min((k + 1) * cfg.chunk_size, n_total)
                for s in range(a, b, bs):
                    batches.append(list(range(s, min(s + bs, b))))
                    ends.append((k, a, b) if s + bs >= b else None)
            loader = DataLoader(
                ds,
                batch_sampler=batches,
                num_workers=nw,
                collate_fn=_collate,
                pin_memory=dev.type == "cuda",
                prefetch_factor=2 if nw > 0 else None,
            )
            done_rounds = 0
            t_pass = time.perf_counter()

            def finish(chunk):
                nonlocal done_rounds
                parts = gather_to_rank0(
                    ctx, None if chunk is None else (chunk[0], run.take_chunk(*chunk))
                )
                done_rounds += 1
                if ctx.is_main:
                    for part in parts:
                        if part is None:
                            continue
                        k, arrays = part
                        ck = _chunk_key(k)
                        old = (
                            store.load_arrays(mname, "chunk", ck)
                            if store.has_arrays(mname, "chunk", ck)
                            else None
                        )
                        store.save_arrays(mname, "chunk", ck, _merge_chunk(old, arrays))
                    done = min(done_rounds * ctx.world, len(todo))
                    if progress:
                        progress(f"{mname}: images", done, len(todo))
                    if on_chunk is not None:
                        on_chunk(mname, done, len(todo))

            for bi, batch in enumerate(loader):
                if batch is not None:
                    run.batch(*batch)
                    timing["images"] += int(batch[0].shape[0])
                    if dev.type == "cpu":
                        release_free_heap()  # keeps the peak RSS flat in N (see _heap)
                if ends[bi] is not None:
                    finish(ends[bi])
            while done_rounds < rounds:
                finish(None)
            timing["total_s"] += time.perf_counter() - t_pass

        if ctx.is_main and shard_i == 0:
            if cfg.examples > 0:
                save_examples(
                    store, ds, fn, corrs, sevs, presets, int(cfg.seed), cfg.examples, ds.classes
                )
            if cfg.critical and task.critical is not None:
                fams = CRITICAL_FAMILIES if cfg.critical is True else tuple(cfg.critical)
                _critical(
                    model, task, mname, ds, store, fams, cfg.critical_images, dev,
                    int(cfg.seed), dict(cfg.critical_kwargs or {}), progress,
                )  # fmt: skip
        if ctx.is_main and shard_n == 1 and not finished:
            _finalize_model(store, mname, task, config, [*needed, *flips], on_cell)
        ctx.barrier()
    timing["wall_s"] = time.perf_counter() - t_start

    if not ctx.is_main or shard_n > 1:
        ctx.barrier()
        return EvaluationResult(out=Path(out), timing=timing, complete=shard_n == 1)
    summary = _write_outputs(store, names, task, cfg.baseline)
    ctx.barrier()
    return EvaluationResult(out=store.root, rows=store.rows(names), summary=summary, timing=timing)


# ----------------------------------------------------------------------------- shards
def merge_results(
    shards: Sequence[str | Path], out: str | Path, *, baseline: str | None = None
) -> EvaluationResult:
    """Join the results directories of the shards of one run (``shard="i/N"``) into ``out``.

    The chunk records of every shard are copied into ``out`` (a shard's own
    directory may be ``out``), the set of chunks is checked complete, and
    ``cells.csv`` / ``summary.json`` are written: byte-identical to what one
    process writes for the whole run.

    Raises:
        ParameterError: no shard, a directory that is not a results directory, or chunks missing.
        ResumeError: shards made with different run configurations.
    """
    dirs = [Path(d) for d in shards]
    if not dirs:
        raise ParameterError("shards: expected at least one results directory, got none")
    for d in dirs:
        if not (d / "records").is_dir():
            raise ParameterError(f"shards: {d} is not a blurkit results directory (no records/)")
    dest = ResultStore(out)
    configs: dict[str, dict] = {}
    for d in dirs:
        src = ResultStore(d)
        order = src.order()
        dest.set_order(order["models"], order["corruptions"])
        for m in src.models():
            rec = json.loads((src.model_dir(m) / "config.json").read_text())
            if m in configs and configs[m]["hash"] != rec["hash"]:
                raise ResumeError(
                    f"shards: model {m!r} was run with different configurations in the shards "
                    f"({d} differs from the first)"
                )
            configs.setdefault(m, rec)
            if src.root.resolve() == dest.root.resolve():
                continue
            dest.open_model(m, rec["config"])
            for kind in ("chunk", "critical"):
                sd = src.model_dir(m) / kind
                if sd.is_dir():
                    dd = dest.model_dir(m) / kind
                    dd.mkdir(parents=True, exist_ok=True)
                    for p in sorted(sd.iterdir()):
                        if (
                            p.is_file()
                            and not p.name.startswith(".")
                            and not (dd / p.name).exists()
                        ):
                            shutil.copyfile(p, dd / p.name)
        if src.root.resolve() != dest.root.resolve():
            for sub in ("examples", "kernels"):
                sd = src.root / sub
                if sd.is_dir():
                    for p in sorted(sd.iterdir()):
                        t = dest.root / sub / p.name
                        if p.is_file() and not p.name.startswith(".") and not t.exists():
                            atomic_write(t, p.read_bytes())
    names = dest.models()
    task = None
    for m in names:
        config = configs[m]["config"]
        task = get_task(config.get("task", "classification")).from_config(config)
        _finalize_model(dest, m, task, config, None)
    if task is None:
        raise ParameterError("shards: the directories hold no model's results")
    summary = _write_outputs(dest, names, task, baseline)
    return EvaluationResult(out=dest.root, rows=dest.rows(names), summary=summary)
