"""Critical blur: the smallest blur strength at which a classifier's top-1 prediction changes.

For every correctly classified image and a continuous blur family (Gaussian
sigma, defocus radius, motion length, myopia diopters, or any registered
corruption with a ``continuous`` parameter), :func:`critical_blur` finds the
smallest strength ``s`` at which ``argmax model(blur(x, s)) != label`` and
reports the image quality still left there (SSIM and PSNR between the clean
and the blurred image). The distribution of these strengths, and the curve of
the fraction of images still correct against SSIM, say how much image quality a
model needs, independently of any severity table.

Search. Foolbox's ``GaussianBlurAttack`` scans sigma linearly (1,000 steps by
default, one forward pass per step). Here the search runs in log-strength on a
bracket ``[min_strength, max_strength]`` in two phases. First a coarse scan
upwards through a few strengths ending at ``max_strength`` (:func:`scan_plan`),
each image stopping at the first one that flips its prediction (an image still
correct at ``max_strength`` is reported as never flipped, ``inf``). Then, inside
that scan cell, the ITP method (Interpolate, Truncate, Project; Oliveira and
Takahashi, ACM TOMS 47(1), 2020, doi:10.1145/3423597) on the classification
margin ``logit[label] - max(other logits)``. ITP uses the margin to interpolate
(regula falsi), so a smooth margin converges in a few passes, but it never takes
more steps than bisection of the cell with the passes the image has left. The
scan points are placed so that every cell can still be bisected to ``rel_tol``
within ``max_steps`` passes counting the clean one: an image that flips late has
spent more passes on the scan, so cells shrink towards the top of the bracket.
With the defaults (1 % over a bracket of 80x, 12 passes) that is 6 points, the
lower cells 2.4x wide. On return the bracket satisfies ``strength / lower <= 1 +
rel_tol``: ``strength`` is a strength known to flip the prediction and ``lower``
one known not to (or the bracket's bottom). All images of a batch advance
together, scanning or bisecting: one forward pass per step for the images still
searching, each at its own strength; nothing leaves the device per sample.

What "smallest" means. The flip need not be monotone in strength: a prediction
can change, change back and change again as blur grows (a heavily blurred CIFAR
image tends to a flat colour, which the model may call the true class again).
A plain bracketing search between the clean image and ``max_strength`` then
finds *a* crossing, not always the first; the upward scan confines the
bisection to the first scan cell where the prediction changes, so only a change
and change back *within one cell* can still mislead it. :func:`grid_critical_blur` evaluates a dense grid
and :func:`grid_agreement` counts the images where both agree (the grid's cell
of first change overlaps the search's bracket); the non-monotone images are
flagged and counted as disagreements rather than hidden.

Layout: the root finding itself (scan plan, ITP, bisection) is
:mod:`blurkit.robustness.search`, pure and tested on its own; the families are
:mod:`blurkit.robustness.families`; the result types and their summaries are
:mod:`blurkit.robustness.critical_result`. This module drives them over a model.

Written here because no library searches a per-sample continuous blur parameter
in a batch: Foolbox's search is linear and one image at a time, and kornia and
torchvision only apply blur.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from .._checks import ParameterError, check_image, check_scalar
from ..measure.full_reference import psnr as _psnr
from ..measure.full_reference import ssim as _ssim
from ._per_image import (
    _batches,
    _bounds,
    _check_labels,
    _context,
    _EvalMode,
    _model_device,
    _slice_ctx,
    classification_margin,
)
from .critical_result import CriticalBlurResult, GridResult, grid_agreement
from .families import BlurFamily, get_family, list_families, register_family
from .search import scan_plan, search_crossings, steps_needed

__all__ = [
    "BlurFamily",
    "register_family",
    "list_families",
    "get_family",
    "CriticalBlurResult",
    "critical_blur",
    "GridResult",
    "grid_critical_blur",
    "grid_agreement",
    "classification_margin",
    "scan_plan",
]


def _forward(model, family, x, s, ctx, labels):
    logits = model(family.apply(x, s, ctx))
    return logits.argmax(1), classification_margin(logits.float(), labels)


@torch.no_grad()
def _search_batch(model, family, x, labels, lo, hi, rel_tol, max_steps, method, ctx):
    b = x.shape[0]
    dev = x.device
    logits = model(x)
    pred0 = logits.argmax(1)
    if labels is None:
        labels = pred0
    m0 = classification_margin(logits.float(), labels)
    correct = pred0 == labels
    pred_flip = pred0.clone()

    if math.log(hi) - math.log(lo) > math.log1p(rel_tol) * 2.0 ** (max_steps - 2):
        warnings.warn(
            f"critical_blur: relative precision {rel_tol:g} over [{lo:g}, {hi:g}] needs "
            f"{steps_needed(lo, hi, rel_tol)} bisection steps but max_steps={max_steps} "
            f"leaves {max_steps - 2}; the bracket will be wider (see CriticalBlurResult.precision)",
            stacklevel=3,
        )

    def probe(idx, log_strength):
        # the strength actually applied (rounded to the image dtype) is what we report
        s = log_strength.exp().to(x.dtype)
        p, m = _forward(model, family, x[idx], s, _slice_ctx(ctx, idx), labels[idx])
        flips = p != labels[idx]
        pred_flip[idx] = torch.where(flips, p, pred_flip[idx])
        return flips, m, s.to(torch.float64).log()

    # Each image first scans upwards and stops at the first strength that flips its
    # prediction, then ITP (or bisection) inside that cell with the passes it has left
    # (blurkit.robustness.search); images scan and bisect side by side.
    state = search_crossings(
        probe, m0, correct, lo, hi, rel_tol=rel_tol, max_steps=max_steps, method=method
    )
    flipped, passes = state.crossed, state.evaluations
    f64 = torch.float64
    strength = torch.where(
        flipped, state.log_upper.exp(), torch.full_like(state.log_upper, math.inf)
    )
    lower = torch.where(flipped, state.log_lower.exp(), torch.full_like(state.log_lower, hi))
    nan = torch.full_like(strength, math.nan)
    strength = torch.where(correct, strength, nan)
    lower = torch.where(correct, lower, nan)
    below_min = flipped & (state.log_lower <= math.log(lo) + 1e-12)

    ssim = torch.full((b,), math.nan, dtype=f64, device=dev)
    psnr = ssim.clone()
    idx = flipped.nonzero()[:, 0]
    if idx.numel():
        xb = family.apply(x[idx], strength[idx].to(x.dtype), _slice_ctx(ctx, idx))
        ssim[idx] = _ssim(x[idx], xb).to(f64)
        psnr[idx] = _psnr(x[idx], xb).to(f64)
    return dict(
        strength=strength,
        lower=lower,
        ssim=ssim,
        psnr=psnr,
        passes=passes,
        correct=correct,
        flipped=flipped,
        below_min=below_min,
        labels=labels,
        pred_clean=pred0,
        pred_flip=pred_flip,
    )


def critical_blur(
    model: nn.Module,
    images: torch.Tensor,
    labels=None,
    family: str | BlurFamily = "gaussian",
    *,
    min_strength: float | None = None,
    max_strength: float | None = None,
    rel_tol: float = 0.01,
    max_steps: int = 12,
    batch_size: int = 256,
    method: str = "itp",
    seed: int = 0,
    **params,
) -> CriticalBlurResult:
    """Smallest blur strength that changes each image's top-1 prediction.

    Args:
        model: classifier taking images in [0, 1] and returning logits ``(B, K)``.
        images: ``(N, C, H, W)`` (or one ``(C, H, W)``) in [0, 1]; moved to the model's
            device batch by batch.
        labels: ``(N,)`` class indices; ``None`` uses the clean predictions (then the
            strength is where the prediction first changes, for every image).
        family: a name from :func:`list_families`, a corruption name with a ``continuous``
            parameter, or a :class:`BlurFamily`.
        min_strength, max_strength: the search bracket (family defaults; the upper one
            scales with the image size).
        rel_tol: relative precision of the returned strength (``strength / lower <= 1 +
            rel_tol``).
        max_steps: the most forward passes per image, the clean pass included. When the
            bracket is too wide for ``rel_tol`` within it, a warning is issued and the
            achieved precision is reported.
        batch_size: images per forward pass.
        method: ``"itp"`` (margin interpolation with a bisection guarantee) or ``"bisect"``.
        seed: seeds the per-image settings a family draws (the motion angle); image ``i``
            gets the same draw whatever the batch size.
        **params: per-image settings given explicitly instead (e.g. ``angle=30.0`` or an
            ``(N,)`` tensor for ``family="motion"``).

    Returns:
        :class:`CriticalBlurResult` with per-image strength, SSIM, PSNR, passes and flags.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4))
        >>> r = critical_blur(model, torch.rand(3, 3, 16, 16), family="gaussian")
        >>> bool((r.passes <= 12).all()), len(r)
        (True, 3)
    """
    x_all, single = check_image(images)
    fam = get_family(family)
    if method not in ("itp", "bisect"):
        raise ParameterError(f"method: expected one of ['bisect', 'itp'], got {method!r}")
    rel_tol = check_scalar(rel_tol, "rel_tol", low=0.0, low_inclusive=False)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 3:
        raise ParameterError(f"max_steps: expected an integer >= 3, got {max_steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size: expected a positive integer, got {batch_size!r}")
    lo, hi = _bounds(fam, tuple(x_all.shape[-2:]), min_strength, max_strength)
    n = x_all.shape[0]
    dev = _model_device(model)
    y_all = _check_labels(labels, n, dev)
    # per-image settings drawn once for all N images, so they do not depend on batching
    ctx_all = _context(fam, n, seed, dev, x_all.dtype, params)
    parts = []
    with _EvalMode(model):
        for sl in _batches(n, batch_size):
            ids = torch.arange(sl.start, sl.stop, device=dev)
            x = x_all[sl].to(dev)
            y = None if y_all is None else y_all[sl]
            parts.append(
                _search_batch(
                    model, fam, x, y, lo, hi, rel_tol, max_steps, method, _slice_ctx(ctx_all, ids)
                )
            )
    cat = {k: torch.cat([p[k] for p in parts]).cpu() for k in parts[0]}
    ctx_cpu = {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in ctx_all.items()}
    return CriticalBlurResult(
        family=fam.name,
        unit=fam.unit,
        **{k: cat[k] for k in cat},
        min_strength=lo,
        max_strength=hi,
        rel_tol=rel_tol,
        context=ctx_cpu,
    )


# --------------------------------------------------------------------------- dense grid


@torch.no_grad()
def grid_critical_blur(
    model: nn.Module,
    images: torch.Tensor,
    labels=None,
    family: str | BlurFamily = "gaussian",
    *,
    strengths: torch.Tensor | Sequence[float] | None = None,
    points: int = 400,
    min_strength: float | None = None,
    max_strength: float | None = None,
    batch_size: int = 1024,
    seed: int = 0,
    **params,
) -> GridResult:
    """Where the prediction first changes on a dense strength grid (the reference check).

    The grid defaults to ``points`` strengths spaced evenly in log between the family's
    bracket ends (the same bracket :func:`critical_blur` uses). Costs ``points`` forward
    passes per image: a test oracle, not a search.
    """
    x_all, _ = check_image(images)
    fam = get_family(family)
    lo, hi = _bounds(fam, tuple(x_all.shape[-2:]), min_strength, max_strength)
    if strengths is None:
        grid = torch.logspace(math.log10(lo), math.log10(hi), points, dtype=torch.float64)
    else:
        grid = torch.as_tensor(strengths, dtype=torch.float64).flatten().sort().values
    n, g = x_all.shape[0], grid.shape[0]
    dev = _model_device(model)
    y_all = _check_labels(labels, n, dev)
    ctx_all = _context(fam, n, seed, dev, x_all.dtype, params)
    flips = torch.zeros(n, g, dtype=torch.bool)
    correct = torch.zeros(n, dtype=torch.bool)
    with _EvalMode(model):
        per = max(1, batch_size // max(g, 1))
        for sl in _batches(n, per):
            x = x_all[sl].to(dev)
            b = x.shape[0]
            p0 = model(x).argmax(1)
            y = p0 if y_all is None else y_all[sl]
            correct[sl] = (p0 == y).cpu()
            ids = torch.arange(sl.start, sl.stop, device=dev)
            # every (image, strength) pair, in chunks of about batch_size images
            pairs_img = ids.repeat_interleave(g)
            pairs_s = grid.to(dev, x.dtype).repeat(b)
            out = torch.empty(b * g, dtype=torch.bool, device=dev)
            for c in _batches(b * g, batch_size):
                ii = pairs_img[c]
                xb = fam.apply(x_all[ii.cpu()].to(dev), pairs_s[c], _slice_ctx(ctx_all, ii))
                out[c] = model(xb).argmax(1) != y[ii - sl.start]
            flips[sl] = out.reshape(b, g).cpu()
    any_flip = flips.any(1)
    first = torch.where(any_flip, flips.float().argmax(1), torch.full((n,), g))
    inf = torch.full((n,), math.inf, dtype=torch.float64)
    gpad = torch.cat(
        [torch.zeros(1, dtype=torch.float64), grid, torch.tensor([math.inf], dtype=torch.float64)]
    )
    cell_low = torch.where(any_flip, gpad[first], inf)
    cell_high = torch.where(any_flip, gpad[first + 1], inf)
    after = torch.arange(g)[None, :] > first[:, None]
    nonmono = any_flip & (after & ~flips).any(1)
    return GridResult(grid, cell_low, cell_high, correct, nonmono)
