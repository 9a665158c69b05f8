"""Benchmark metrics for robustness to blur: accuracy with confidence intervals,
corruption error (CE, mCE, relative CE), flip rates and the ImageNet-P flip
probability.

Why these: they are the numbers robustness papers report, so a result computed
here can be put next to a published one.

- Accuracy intervals use the Wilson score interval (Wilson, "Probable
  inference, the law of succession, and statistical inference", JASA 22(158),
  1927, doi:10.1080/01621459.1927.10502953). Unlike the normal ("Wald")
  interval it stays inside [0, 1] and keeps its coverage near 0 % and 100 %
  accuracy, where blur results often sit (Brown, Cai & DasGupta, Stat. Sci. 16(2),
  2001, doi:10.1214/ss/1009213286).
- CE, mCE and relative CE follow Hendrycks & Dietterich, "Benchmarking Neural
  Network Robustness to Common Corruptions and Perturbations", ICLR 2019
  (arXiv:1903.12261): errors summed over severities and divided by AlexNet's.
  The AlexNet tables below are the published per-severity errors
  (hendrycks/robustness issue 10) and clean error (torchvision's pretrained
  AlexNet, 56.52 % top-1); see ``REFERENCE.md``.
- The flip probability is ImageNet-P's: how often the top-1 prediction changes
  between consecutive frames of a gradually perturbed sequence (same paper).

Written by hand: these are a few lines of arithmetic each, and no maintained
library computes them against these tables (torchmetrics has no CE, and its
Wilson interval is not exposed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from .._checks import ParameterError, ShapeError, check_scalar

__all__ = [
    "ALEXNET_ERR",
    "ALEXNET_CLEAN_ERR",
    "wilson_interval",
    "topk_correct",
    "corruption_error",
    "relative_corruption_error",
    "mean_corruption_error",
    "flip_rate",
    "flip_probability",
]

#: AlexNet top-1 error on ImageNet-C, per severity 1..5 (hendrycks/robustness issue 10).
ALEXNET_ERR: dict[str, tuple[float, ...]] = {
    "defocus_blur": (0.6562, 0.7320, 0.8504, 0.9136, 0.9471),
    "glass_blur": (0.6431, 0.7505, 0.8881, 0.9162, 0.9334),
    "motion_blur": (0.5843, 0.7005, 0.8211, 0.8975, 0.9264),
    "zoom_blur": (0.7001, 0.7699, 0.8078, 0.8420, 0.8720),
}

#: AlexNet clean top-1 error on ImageNet (torchvision pretrained: 56.52 % top-1).
ALEXNET_CLEAN_ERR = 1.0 - 0.5652


def wilson_interval(correct, n, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a proportion ``correct / n`` (default 95 %).

    Args:
        correct: number of successes (e.g. correctly classified images).
        n: number of trials; ``n = 0`` gives the uninformative ``(0.0, 1.0)``.
        z: normal quantile; 1.96 for a two-sided 95 % interval.

    Returns:
        ``(low, high)``, both in [0, 1].

    Example:
        >>> lo, hi = wilson_interval(81, 100)
        >>> round(lo, 4), round(hi, 4)
        (0.7222, 0.8749)
        >>> wilson_interval(0, 10)[0]
        0.0
    """
    n = int(n)
    k = int(correct)
    if n < 0 or k < 0 or k > n:
        raise ParameterError(f"wilson_interval: expected 0 <= correct <= n, got correct={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    den = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / den
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    if k == 0:
        lo = 0.0
    if k == n:
        hi = 1.0
    return lo, hi


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Per-image booleans: is the label among the ``k`` highest logits.

    Example:
        >>> topk_correct(torch.tensor([[0.1, 0.7, 0.2]]), torch.tensor([2]), 2)
        tensor([True])
    """
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ShapeError(
            f"logits/labels: expected (B, K) and (B,), "
            f"got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    k = min(int(k), logits.shape[1])
    top = logits.topk(k, dim=1).indices
    return (top == labels[:, None]).any(dim=1)


def _as_errors(errors: Sequence[float] | Mapping, name: str) -> list[float]:
    if isinstance(errors, Mapping):
        errors = [errors[s] for s in sorted(errors)]
    out = [check_scalar(float(e), name, low=0.0, high=1.0) for e in errors]
    if not out:
        raise ParameterError(f"{name}: expected at least one error value, got none")
    return out


def corruption_error(errors, baseline_errors) -> float:
    """Corruption error ``CE = sum_s E(f, c, s) / sum_s E(baseline, c, s)``.

    Args:
        errors: the model's top-1 errors (fractions) at each severity, in order
            (or a ``{severity: error}`` mapping).
        baseline_errors: the baseline's errors at the same severities, e.g.
            ``ALEXNET_ERR["defocus_blur"]`` for ImageNet-C.

    Example:
        >>> round(corruption_error([0.5] * 5, ALEXNET_ERR["defocus_blur"]), 4)
        0.6099
    """
    e = _as_errors(errors, "errors")
    b = _as_errors(baseline_errors, "baseline_errors")
    if len(e) != len(b):
        raise ShapeError(f"errors: expected {len(b)} severities (as the baseline), got {len(e)}")
    sb = sum(b)
    if sb <= 0:
        raise ParameterError("baseline_errors: the baseline makes no error; CE is undefined")
    return sum(e) / sb


def relative_corruption_error(errors, clean_error, baseline_errors, baseline_clean_error) -> float:
    """Relative CE: ``sum_s (E(f,c,s) - E(f,clean)) / sum_s (E(b,c,s) - E(b,clean))``.

    It measures how much accuracy the corruption *costs* the model, relative to
    what it costs the baseline (the subtraction is per severity, then summed).

    Example:
        >>> zoom = ALEXNET_ERR["zoom_blur"]
        >>> rce = relative_corruption_error([0.5] * 5, 0.25, zoom, ALEXNET_CLEAN_ERR)
        >>> round(rce, 4)
        0.6876
    """
    e = _as_errors(errors, "errors")
    b = _as_errors(baseline_errors, "baseline_errors")
    if len(e) != len(b):
        raise ShapeError(f"errors: expected {len(b)} severities (as the baseline), got {len(e)}")
    ce = check_scalar(float(clean_error), "clean_error", low=0.0, high=1.0)
    cb = check_scalar(float(baseline_clean_error), "baseline_clean_error", low=0.0, high=1.0)
    den = sum(x - cb for x in b)
    if den == 0:
        raise ParameterError(
            "baseline_errors: the baseline loses nothing to this corruption; "
            "relative CE is undefined"
        )
    return sum(x - ce for x in e) / den


def mean_corruption_error(ces: Mapping[str, float] | Sequence[float]) -> float:
    """mCE: the mean of the per-corruption CEs (multiply by 100 for the usual percent).

    Example:
        >>> mean_corruption_error({"defocus_blur": 0.7, "zoom_blur": 0.9})
        0.8
    """
    vals = list(ces.values()) if isinstance(ces, Mapping) else list(ces)
    if not vals:
        raise ParameterError("ces: expected at least one corruption error, got none")
    return float(sum(vals) / len(vals))


def flip_rate(clean_pred: torch.Tensor, pred: torch.Tensor) -> float:
    """Fraction of images whose top-1 prediction differs from the clean one.

    Example:
        >>> flip_rate(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 0]))
        0.5
    """
    clean_pred, pred = torch.as_tensor(clean_pred), torch.as_tensor(pred)
    if clean_pred.shape != pred.shape or clean_pred.ndim != 1:
        raise ShapeError(
            f"pred: expected the shape of clean_pred {tuple(clean_pred.shape)} (1-D), "
            f"got {tuple(pred.shape)}"
        )
    if pred.numel() == 0:
        return 0.0
    return float((clean_pred != pred).float().mean())


def flip_probability(preds: torch.Tensor) -> float:
    """ImageNet-P flip probability of top-1 predictions along perturbation sequences.

    ``FP = 1 / (m (T - 1)) * sum_i sum_{j=2..T} 1[f(x_j^i) != f(x_{j-1}^i)]`` for
    ``m`` sequences of ``T`` frames, each a gradually stronger blur of one image
    (Hendrycks & Dietterich, ICLR 2019, Sec. 3).

    Args:
        preds: ``(T, m)`` integer top-1 predictions, frame-major.

    Example:
        >>> flip_probability(torch.tensor([[0, 1], [0, 1], [2, 1]]))
        0.25
    """
    preds = torch.as_tensor(preds)
    if preds.ndim != 2 or preds.shape[0] < 2:
        raise ShapeError(f"preds: expected (T, m) with T >= 2 frames, got {tuple(preds.shape)}")
    if preds.shape[1] == 0:
        return 0.0
    return float((preds[1:] != preds[:-1]).float().mean())
