"""Batched search for where a monotone predicate first turns true: scan, then ITP or bisection.

Pure root finding: no model, no image, no blur. Each of ``B`` problems has a function
``f`` of a positive strength ``s`` that is positive while a predicate is false ("still
correct") and whose predicate turns true ("flipped") somewhere in ``[low, high]``. The
search runs in log-strength in two phases:

1. a coarse scan upwards through the strengths of :func:`scan_plan`, each problem
   stopping at the first point where its predicate is true (a problem still false at
   ``high`` never crossed);
2. inside that scan cell, the ITP method (Interpolate, Truncate, Project; Oliveira and
   Takahashi, ACM TOMS 47(1), 2020, doi:10.1145/3423597) on ``f`` (or plain bisection):
   ITP interpolates (regula falsi), so a smooth ``f`` converges in a few steps, but it
   never takes more steps than bisection of the cell with the evaluations left.

All problems advance together: one call of the probe per step for the problems still
searching, each at its own point. On return ``upper / lower <= 1 + rel_tol`` where the
budget allowed it, ``upper`` a strength where the predicate is true and ``lower`` one
where it is false (or ``low``).

:func:`search_crossings` is the engine (used by :func:`~blurkit.robustness.critical_blur`
with the classification margin as ``f``); :func:`find_crossing` is the same search on a
plain function of the strengths, with its arguments checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._checks import ParameterError, check_choice, check_scalar

__all__ = [
    "SearchState",
    "find_crossing",
    "scan_plan",
    "search_crossings",
    "steps_needed",
]

#: ``probe(indices, log_strengths) -> (crossed, value, applied_log_strengths)``: evaluates
#: the problems ``indices`` ``(K,)`` at ``exp(log_strengths)`` ``(K,)``; returns whether
#: each predicate is true there, the value of ``f`` (positive while false) and the
#: log-strength actually evaluated (e.g. after rounding to an image dtype).
Probe = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]

_METHODS = ("bisect", "itp")


def steps_needed(low: float, high: float, rel_tol: float) -> int:
    """Bisection steps that narrow ``[low, high]`` to a relative width ``rel_tol`` in log.

    >>> steps_needed(0.1, 8.0, 0.01)
    9
    """
    width = math.log(high) - math.log(low)
    return max(0, math.ceil(math.log2(width / math.log1p(rel_tol)) - 1e-12))


def scan_plan(lo: float, hi: float, rel_tol: float, max_steps: int) -> list[float]:
    """The coarse scan's strengths (increasing, the last one ``hi``) for a pass budget.

    ``max_steps`` counts every evaluation of a problem, the one at the bracket's bottom
    (the clean pass of critical blur) included. A problem whose predicate first turns
    true at scan point ``j`` has spent ``j + 2`` evaluations (bottom + ``j + 1`` scan
    points) and bisects the cell below that point with the ``max_steps - j - 2`` left,
    so that cell may be at most ``log1p(rel_tol) * 2 ** (max_steps - j - 2)`` wide in
    log-strength. Among all point counts, the plan with the narrowest widest cell is
    taken (points are added while each narrows it by at least 5 %): equal cells ``d``
    from the bottom, then cells shrinking to their caps near the top. With the defaults
    (a bracket of 80x, 1 %, 12 passes) that is 6 points, the lower four cells 0.86 wide
    in log (2.4x), the top two 0.64 and 0.32. When even one point leaves too few passes
    to bisect the whole bracket, the plan is ``[hi]`` and the achieved precision is
    coarser.

    Example:
        >>> [round(v, 2) for v in scan_plan(0.1, 8.0, 0.01, 12)]
        [0.24, 0.55, 1.31, 3.08, 5.82, 8.0]
    """
    width = math.log(hi) - math.log(lo)
    unit = math.log1p(rel_tol)
    best, best_d = [width], math.inf
    for n in range(1, max_steps):
        caps = [unit * 2.0 ** (max_steps - j - 2) for j in range(n)]
        if sum(caps) < width * (1 - 1e-12):
            continue
        # the equal width d of the unconstrained cells: sum(min(cap, d)) == width
        lo_d, hi_d = 0.0, max(caps)
        for _ in range(100):
            d = (lo_d + hi_d) / 2
            lo_d, hi_d = (d, hi_d) if sum(min(c, d) for c in caps) < width else (lo_d, d)
        d = hi_d
        if d > best_d * 0.95:
            break  # one more point narrows the cells by under 5 %: not worth its pass
        best, best_d = [min(c, d) for c in caps], d
    pos, acc = [], math.log(lo)
    for w in best:
        acc += w
        pos.append(math.exp(acc))
    pos[-1] = hi
    return pos


@dataclass
class SearchState:
    """Per-problem outcome of :func:`search_crossings` (tensors ``(B,)``).

    Attributes:
        log_lower: log of a strength where the predicate is false (``log(low)`` when none
            above the bottom was seen).
        log_upper: log of a strength where it is true (``log(high)`` when never crossed).
        crossed: the predicate was seen true.
        evaluations: evaluations spent, the one at the bottom included.
    """

    log_lower: torch.Tensor
    log_upper: torch.Tensor
    crossed: torch.Tensor
    evaluations: torch.Tensor


def _itp_point(lower, upper, f_lower, f_upper, budget, start_width, eps):
    """ITP's next point in ``[lower, upper]``: interpolate, truncate towards the middle, project."""
    middle = (lower + upper) / 2
    width = upper - lower
    # the projection radius of ITP's step j: eps 2^(n_max - j) - width / 2
    radius = (eps * 2.0 ** budget.to(torch.float64) - width / 2).clamp_min(0)
    truncation = (0.2 / start_width) * width**2
    regula_falsi = (upper * f_lower - lower * f_upper) / (f_lower - f_upper)
    side = torch.sign(middle - regula_falsi)
    truncated = torch.where(
        truncation <= (middle - regula_falsi).abs(), regula_falsi + side * truncation, middle
    )
    return torch.where((truncated - middle).abs() <= radius, truncated, middle - side * radius)


def search_crossings(
    probe: Probe,
    f_low: torch.Tensor,
    active: torch.Tensor,
    low: float,
    high: float,
    *,
    rel_tol: float,
    max_steps: int,
    method: str = "itp",
) -> SearchState:
    """Scan, then ITP or bisection, for ``B`` problems at once (arguments not checked).

    Args:
        probe: evaluates some problems at some strengths (see :data:`Probe`).
        f_low: ``(B,)`` value of ``f`` at the bottom (already evaluated: it counts as one
            evaluation); only its positive part is used.
        active: ``(B,)`` bool, the problems to search (the others keep one evaluation and
            report no crossing).
        low, high: the bracket, ``0 < low < high``.
        rel_tol: relative precision ``upper / lower <= 1 + rel_tol`` to reach.
        max_steps: evaluations per problem, the one at the bottom included.
        method: ``"itp"`` or ``"bisect"``.

    Returns:
        :class:`SearchState`.
    """
    n = f_low.shape[0]
    dev = f_low.device
    f64 = torch.float64
    log_lower = torch.full((n,), math.log(low), dtype=f64, device=dev)
    log_upper = torch.full((n,), math.log(high), dtype=f64, device=dev)
    f_lower = f_low.to(f64).clamp_min(1e-12)
    f_upper = torch.full((n,), -1.0, dtype=f64, device=dev)
    crossed = torch.zeros(n, dtype=torch.bool, device=dev)
    evaluations = torch.ones(n, dtype=torch.long, device=dev)

    plan = torch.tensor([math.log(v) for v in scan_plan(low, high, rel_tol, max_steps)], dtype=f64)
    plan = plan.to(dev)
    eps = math.log1p(rel_tol) / 2
    scanning = active.clone()
    refining = torch.zeros(n, dtype=torch.bool, device=dev)
    next_point = torch.zeros(n, dtype=torch.long, device=dev)
    budget = torch.zeros(n, dtype=torch.long, device=dev)  # refinement evaluations left
    start_width = torch.ones(n, dtype=f64, device=dev)  # cell width when refinement began
    for _ in range(max_steps - 1):
        refining &= ((log_upper - log_lower) > 2 * eps * (1 - 1e-9)) & (budget > 0)
        idx = (scanning | refining).nonzero()[:, 0]
        if idx.numel() == 0:
            break
        was_scanning = scanning[idx]
        lower_i, upper_i = log_lower[idx], log_upper[idx]
        f_lower_i, f_upper_i = f_lower[idx], f_upper[idx]
        if method == "bisect":
            point = (lower_i + upper_i) / 2
        else:
            point = _itp_point(
                lower_i, upper_i, f_lower_i, f_upper_i, budget[idx], start_width[idx], eps
            )
        point = torch.where(was_scanning, plan[next_point[idx].clamp_max(len(plan) - 1)], point)
        hit, value, applied = probe(idx, point)
        evaluations[idx] += 1
        value = value.to(f64)
        log_lower[idx] = torch.where(hit, lower_i, applied)
        f_lower[idx] = torch.where(hit, f_lower_i, value.clamp_min(1e-12))
        log_upper[idx] = torch.where(hit, applied, upper_i)
        f_upper[idx] = torch.where(hit, value.clamp_max(-1e-12), f_upper_i)
        # scanning problems: a crossing starts the refinement of the cell below; otherwise
        # move to the next point, and past the last one the problem never crosses
        started = was_scanning & hit
        crossed[idx] |= hit
        refining[idx] = (refining[idx] & ~was_scanning) | started
        budget[idx] = torch.where(
            started, max_steps - evaluations[idx], budget[idx] - (~was_scanning).long()
        )
        start_width[idx] = torch.where(started, log_upper[idx] - log_lower[idx], start_width[idx])
        following = next_point[idx] + (was_scanning & ~hit).long()
        next_point[idx] = following
        scanning[idx] = was_scanning & ~hit & (following < len(plan))
    return SearchState(log_lower, log_upper, crossed, evaluations)


def find_crossing(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    size: int,
    low: float,
    high: float,
    *,
    rel_tol: float = 0.01,
    max_steps: int = 12,
    method: str = "itp",
) -> SearchState:
    """Where each of ``size`` functions first turns negative in ``[low, high]``.

    ``fn(indices, strengths) -> values``: ``f`` of the problems ``indices`` ``(K,)`` at
    ``strengths`` ``(K,)`` (float64); a problem's predicate is ``f < 0``. ``f(low)`` is
    evaluated first (one evaluation); a problem already negative there is not searched.

    Args:
        fn: the functions, vectorised over problems.
        size: number of problems ``B``.
        low, high: the bracket, ``0 < low < high``.
        rel_tol: relative precision, ``> 0``.
        max_steps: evaluations per problem (the one at ``low`` included), ``>= 2``.
        method: ``"itp"`` or ``"bisect"``.

    Returns:
        :class:`SearchState`; where ``crossed``, ``exp(log_lower) < root <= exp(log_upper)``
        for a monotone ``f``.

    Raises:
        ParameterError: a bracket that is not ``0 < low < high``, ``rel_tol <= 0``,
            ``max_steps < 2`` or an unknown method.

    Example:
        >>> roots = torch.tensor([0.5, 2.0], dtype=torch.float64)
        >>> r = find_crossing(lambda i, s: roots[i] - s, 2, 0.1, 8.0)
        >>> bool(((r.log_lower.exp() <= roots) & (roots <= r.log_upper.exp())).all())
        True
    """
    low = check_scalar(low, "low", low=0.0, low_inclusive=False)
    high = check_scalar(high, "high", low=0.0, low_inclusive=False)
    if not high > low:
        raise ParameterError(f"high: expected a value above low {low:g}, got {high:g}")
    rel_tol = check_scalar(rel_tol, "rel_tol", low=0.0, low_inclusive=False)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 2:
        raise ParameterError(f"max_steps: expected an integer >= 2, got {max_steps!r}")
    method = check_choice(method, "method", _METHODS)
    all_problems = torch.arange(size)
    f_low = fn(all_problems, torch.full((size,), float(low), dtype=torch.float64)).double()

    def probe(idx, log_point):
        value = fn(idx, log_point.exp()).double()
        return value < 0, value, log_point

    return search_crossings(
        probe, f_low, f_low >= 0, low, high, rel_tol=rel_tol, max_steps=max_steps, method=method
    )
