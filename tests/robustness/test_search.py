"""The pure crossing search (scan + ITP / bisection) on known functions, no model."""

from __future__ import annotations

import math

import pytest
import torch

from blurkit._checks import ParameterError
from blurkit.robustness.search import find_crossing, scan_plan, search_crossings, steps_needed

ROOTS = torch.tensor([0.13, 0.5, 1.0, 2.2, 5.0, 7.9], dtype=torch.float64)


def _linear(i, s):
    return ROOTS[i] - s


def _bounds(r):
    return r.log_lower.exp(), r.log_upper.exp()


@pytest.mark.parametrize("method", ["itp", "bisect"])
def test_linear_roots_are_bracketed_to_rel_tol(method):
    r = find_crossing(_linear, len(ROOTS), 0.1, 8.0, rel_tol=0.01, method=method)
    lower, upper = _bounds(r)
    assert bool(r.crossed.all())
    assert bool(((lower <= ROOTS) & (ROOTS <= upper)).all())
    assert bool((upper / lower <= 1.01 + 1e-9).all())
    assert bool((r.evaluations <= 12).all())


def test_itp_uses_fewer_evaluations_than_bisection_on_a_smooth_function():
    def smooth(i, s):
        return torch.log(ROOTS[i] / s)

    itp = find_crossing(smooth, len(ROOTS), 0.1, 8.0, rel_tol=1e-3, max_steps=20)
    bis = find_crossing(smooth, len(ROOTS), 0.1, 8.0, rel_tol=1e-3, max_steps=20, method="bisect")
    assert itp.evaluations.sum() < bis.evaluations.sum()
    for r in (itp, bis):
        lower, upper = _bounds(r)
        assert bool(((lower <= ROOTS * (1 + 1e-12)) & (ROOTS <= upper * (1 + 1e-12))).all())


@pytest.mark.parametrize("method", ["itp", "bisect"])
def test_monotone_step_function(method):
    # the predicate alone (f = +-1) gives ITP nothing to interpolate: it must still bisect
    def step(i, s):
        return torch.where(s < ROOTS[i], 1.0, -1.0).double()

    r = find_crossing(step, len(ROOTS), 0.1, 8.0, rel_tol=0.02, method=method)
    lower, upper = _bounds(r)
    assert bool(r.crossed.all())
    assert bool(((lower < ROOTS) & (ROOTS <= upper)).all())
    assert bool((upper / lower <= 1.02 + 1e-9).all())


def test_iteration_cap_holds_and_the_bracket_stays_valid():
    calls = torch.zeros(len(ROOTS), dtype=torch.long)

    def counted(i, s):
        calls[i] += 1
        return ROOTS[i] - s

    with_cap = find_crossing(counted, len(ROOTS), 0.1, 8.0, rel_tol=1e-6, max_steps=5)
    assert bool((calls <= 5).all()) and torch.equal(calls, with_cap.evaluations)
    lower, upper = _bounds(with_cap)
    assert bool(((lower <= ROOTS) & (ROOTS <= upper)).all())
    # 1e-6 over a bracket of 80x needs far more than 5 evaluations
    assert steps_needed(0.1, 8.0, 1e-6) > 5
    assert bool((upper / lower > 1 + 1e-6).any())


def test_no_crossing_in_the_bracket_and_crossing_below_it():
    r = find_crossing(lambda i, s: 100.0 - s, 1, 0.1, 8.0)
    assert not bool(r.crossed[0])
    assert r.log_upper[0].exp().item() == pytest.approx(8.0)
    below = find_crossing(lambda i, s: 0.01 - s, 1, 0.1, 8.0)
    assert not bool(below.crossed[0]) and int(below.evaluations[0]) == 1


def test_scan_finds_the_first_crossing_not_a_later_one():
    # negative on [0.5, 3) and again above 6: the first crossing is 0.5
    def two_dips(i, s):
        return torch.where(((s >= 0.5) & (s < 3.0)) | (s >= 6.0), -1.0, 1.0).double()

    r = find_crossing(two_dips, 1, 0.1, 8.0, rel_tol=0.01)
    lower, upper = _bounds(r)
    assert lower[0] < 0.5 <= upper[0]


def test_applied_points_are_what_the_bracket_reports():
    # a probe that rounds its points to float16, as critical blur rounds to the image dtype
    seen: set[float] = set()

    def probe(idx, log_point):
        applied = log_point.exp().half().double().log()
        seen.update(applied.tolist())
        value = ROOTS[idx] - applied.exp()
        return value < 0, value, applied

    f_low = ROOTS - 0.1
    r = search_crossings(
        probe, f_low, torch.ones(len(ROOTS), dtype=torch.bool), 0.1, 8.0, rel_tol=0.01, max_steps=12
    )
    assert bool(r.crossed.all())
    assert set(r.log_upper.tolist()) <= seen


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"low": 0.0}, "low"),
        ({"low": -1.0}, "low"),
        ({"high": 0.05}, "high"),
        ({"high": float("nan")}, "high"),
        ({"rel_tol": 0.0}, "rel_tol"),
        ({"max_steps": 1}, "max_steps"),
        ({"max_steps": 3.5}, "max_steps"),
        ({"method": "newton"}, "method"),
    ],
)
def test_bad_arguments_raise_naming_the_parameter(kwargs, name):
    args = {"low": 0.1, "high": 8.0, **kwargs}
    with pytest.raises(ParameterError, match=name):
        find_crossing(_linear, len(ROOTS), args.pop("low"), args.pop("high"), **args)


def test_scan_plan_cells_fit_their_bisection_budget():
    lo, hi, tol, steps = 0.1, 8.0, 0.01, 12
    plan = scan_plan(lo, hi, tol, steps)
    assert plan[-1] == hi and plan == sorted(plan)
    edges = [lo, *plan]
    for j in range(len(plan)):
        width = math.log(edges[j + 1]) - math.log(edges[j])
        assert width <= math.log1p(tol) * 2.0 ** (steps - j - 2) * (1 + 1e-9)
    assert scan_plan(0.1, 8.0, 1e-6, 4) == [8.0]
