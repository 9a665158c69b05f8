"""Measure image files: the API behind ``blurkit measure``.

:func:`measure_files` reads each file (``blurkit.io.read_image``), computes the
chosen no-reference measures, optionally the blur estimate and the fidelity
to a sharp reference, and returns one row per readable file; unreadable files
are collected in ``skipped`` with the reason, and the rest are still measured.
Images are measured one at a time (files differ in size).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .._checks import BlurkitError, ParameterError, check_choice
from ..io import display_path, read_image
from .estimate import FAMILIES, estimate_blur
from .full_reference import ms_ssim, psnr, ssim
from .registry import METRICS, get_metric

__all__ = ["MeasureResult", "measure_files", "DEFAULT_METRICS", "blurrier_is_higher"]

DEFAULT_METRICS = ("blur_effect", "laplacian_variance", "cpbd")
ESTIMATE_COLUMNS = {"gaussian": ("sigma",), "defocus": ("radius",), "motion": ("length", "angle")}
FULL_REFERENCE = {"psnr": psnr, "ssim": ssim, "ms_ssim": ms_ssim}


@dataclass
class MeasureResult:
    """Rows (one dict per measured file: ``path``, ``height``, ``width``, then one key per
    column) and ``skipped`` ``(path, reason)`` pairs. Paths are text as
    :func:`blurkit.io.display_path` gives it (a file name that is not valid UTF-8 shows
    its odd bytes as ``\\xNN``), so every row can be printed or written."""

    rows: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


def blurrier_is_higher(column: str) -> bool:
    """Whether a larger value of a result column means a blurrier image."""
    if column in METRICS:
        return METRICS[column].higher_is == "blurrier"
    if column in FULL_REFERENCE:
        return False
    if column in ("sigma", "radius", "length"):
        return True
    raise ParameterError(f"column: {column!r} has no blur direction")


def _value(fn: Callable, x: torch.Tensor, min_size: int) -> float:
    if min(x.shape[-2:]) < min_size:
        return math.nan
    return float(fn(x))


def measure_files(
    paths: Iterable[str | os.PathLike],
    metrics: Sequence[str] = DEFAULT_METRICS,
    estimate: str | None = None,
    reference: str | os.PathLike | None = None,
    on_file: Callable[[Path], None] | None = None,
    device: str | torch.device = "cpu",
) -> MeasureResult:
    """Measure each image file; see the module docstring.

    Args:
        paths: image files (e.g. from :func:`blurkit.io.iter_image_files`).
        metrics: registered no-reference measure names (:func:`blurkit.measure.list_metrics`).
        estimate: ``None`` or a family of :func:`blurkit.measure.estimate_blur`.
        reference: a sharp image; adds ``psnr``, ``ssim`` and ``ms_ssim`` columns for
            files of the same size (others are skipped with the reason).
        on_file: called after each file (progress).
        device: where to compute.

    Returns:
        A :class:`MeasureResult`. A measure that needs larger images (``cpbd``: 64 px)
        gives NaN for smaller ones.
    """

    metrics = list(metrics)
    for m in metrics:
        get_metric(m)
    if estimate is not None:
        check_choice(estimate, "estimate", FAMILIES)
    ref = None
    if reference is not None:
        ref = read_image(reference).to(device=device, dtype=torch.float64)
    result = MeasureResult()
    result.columns = list(metrics)
    if estimate is not None:
        result.columns += list(ESTIMATE_COLUMNS[estimate])
    if ref is not None:
        result.columns += list(FULL_REFERENCE)
    for p in paths:
        p = Path(p)
        try:
            x = read_image(p).to(device=device, dtype=torch.float64)
            row: dict = {
                "path": display_path(p),
                "height": int(x.shape[-2]),
                "width": int(x.shape[-1]),
            }
            if ref is not None and ref.shape[-2:] != x.shape[-2:]:
                raise ParameterError(
                    f"size {tuple(x.shape[-2:])} differs from the reference's {tuple(ref.shape[-2:])}"
                )
            for m in metrics:
                info = METRICS[m]
                row[m] = _value(info.fn, x, info.min_size)
            if estimate is not None:
                if min(x.shape[-2:]) < 32:
                    est = {c: math.nan for c in ESTIMATE_COLUMNS[estimate]}
                else:
                    e = estimate_blur(x, estimate)
                    if estimate == "motion":
                        est = {"length": float(e["length"]), "angle": float(e["angle"])}
                    else:
                        est = {ESTIMATE_COLUMNS[estimate][0]: float(e)}
                row.update(est)
            if ref is not None:
                r = ref
                if r.shape[0] != x.shape[0]:  # gray vs colour: compare in colour
                    r, x = r.expand(3, -1, -1), x.expand(3, -1, -1)
                for name, fn in FULL_REFERENCE.items():
                    min_size = 11 if name == "ms_ssim" else 3
                    row[name] = _value(lambda t, fn=fn, r=r: fn(t, r), x, min_size)
            result.rows.append(row)
        except BlurkitError as e:  # unreadable file (ImageReadError) or a size mismatch
            reason = getattr(e, "reason", None) or str(e)
            result.skipped.append((display_path(p), reason))
        if on_file is not None:
            on_file(p)
    return result
