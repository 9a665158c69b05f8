"""Benchmark metrics pinned against independent implementations and published numbers."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import binomtest

from blurkit import ParameterError, ShapeError
from blurkit.robustness.metrics import (
    ALEXNET_CLEAN_ERR,
    ALEXNET_ERR,
    corruption_error,
    flip_probability,
    flip_rate,
    mean_corruption_error,
    relative_corruption_error,
    topk_correct,
    wilson_interval,
)


@pytest.mark.parametrize(
    "k,n", [(0, 10), (1, 10), (81, 100), (500, 1000), (999, 1000), (1000, 1000), (3, 7)]
)
def test_wilson_matches_scipy(k, n):
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(ref.low, abs=1e-12)
    assert hi == pytest.approx(ref.high, abs=1e-12)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_wilson_bad_input_and_empty():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ParameterError, match="correct"):
        wilson_interval(5, 3)


def test_alexnet_tables_match_published_means():
    # REFERENCE.md: ALEXNET_ERR means in the augmix repository
    published = {
        "defocus_blur": 0.819880,
        "glass_blur": 0.826268,
        "motion_blur": 0.785948,
        "zoom_blur": 0.798360,
    }
    for c, m in published.items():
        assert sum(ALEXNET_ERR[c]) / 5 == pytest.approx(m, abs=1e-4)
    assert ALEXNET_CLEAN_ERR == pytest.approx(0.4348, abs=1e-9)


def test_ce_of_alexnet_is_one_and_scales():
    for _c, e in ALEXNET_ERR.items():
        assert corruption_error(e, e) == pytest.approx(1.0)
        assert relative_corruption_error(
            e, ALEXNET_CLEAN_ERR, e, ALEXNET_CLEAN_ERR
        ) == pytest.approx(1.0)
    half = [v / 2 for v in ALEXNET_ERR["glass_blur"]]
    assert corruption_error(half, ALEXNET_ERR["glass_blur"]) == pytest.approx(0.5)
    # mapping input is ordered by severity
    d = {5: 0.9, 1: 0.1, 3: 0.5, 2: 0.3, 4: 0.7}
    assert corruption_error(d, [0.1, 0.3, 0.5, 0.7, 0.9]) == pytest.approx(1.0)


def test_relative_ce_subtracts_per_severity():
    e = [0.3, 0.4, 0.5, 0.6, 0.7]
    b = ALEXNET_ERR["motion_blur"]
    ref = sum(x - 0.2 for x in e) / sum(x - ALEXNET_CLEAN_ERR for x in b)
    assert relative_corruption_error(e, 0.2, b, ALEXNET_CLEAN_ERR) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ShapeError):
        relative_corruption_error(e[:3], 0.2, b, ALEXNET_CLEAN_ERR)
    with pytest.raises(ParameterError):
        corruption_error([0.5] * 5, [0.0] * 5)


def test_mce_is_mean():
    assert mean_corruption_error([0.5, 1.0, 0.9]) == pytest.approx(0.8)
    with pytest.raises(ParameterError):
        mean_corruption_error([])


def test_flip_rate_and_probability_against_loops():
    g = torch.Generator().manual_seed(0)
    preds = torch.randint(0, 3, (9, 40), generator=g)
    flips = sum(int(preds[t, i] != preds[t - 1, i]) for t in range(1, 9) for i in range(40))
    assert flip_probability(preds) == pytest.approx(flips / (8 * 40))
    assert flip_rate(preds[0], preds[3]) == pytest.approx(
        sum(int(a != b) for a, b in zip(preds[0], preds[3], strict=True)) / 40
    )
    assert flip_probability(preds[:1].expand(5, -1)) == 0.0
    with pytest.raises(ShapeError):
        flip_probability(preds[0])
    with pytest.raises(ShapeError):
        flip_rate(preds[0], preds[1, :5])


def test_topk_correct():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    labels = torch.tensor([1, 1])
    assert topk_correct(logits, labels, 1).tolist() == [False, False]
    assert topk_correct(logits, labels, 2).tolist() == [True, False]
    assert topk_correct(logits, labels, 3).tolist() == [True, True]
    assert topk_correct(logits, labels, 10).tolist() == [True, True]
    assert not math.isnan(wilson_interval(1, 2)[0])
