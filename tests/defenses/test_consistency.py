"""Jensen-Shannon consistency: zero for agreement, symmetric, bounded, pinned to scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon

from blurkit._checks import BlurkitError
from blurkit.defenses.consistency import consistency_loss, js_divergence


def _logits(seed, b=16, k=10, scale=3.0):
    return torch.randn(b, k, generator=torch.Generator().manual_seed(seed)) * scale


def test_zero_for_identical_predictions():
    z = _logits(0)
    assert float(js_divergence(z, z)) == pytest.approx(0.0, abs=1e-7)
    assert float(js_divergence(z, z + 5.0, z)) == pytest.approx(0.0, abs=1e-6)  # shift-invariant


def test_symmetric_and_bounded_by_log2():
    a, b = _logits(1), _logits(2)
    torch.testing.assert_close(js_divergence(a, b), js_divergence(b, a))
    per = js_divergence(a, b, reduction="none")
    assert bool((per >= 0).all()) and bool((per <= math.log(2) + 1e-6).all())
    # disjoint confident predictions reach the bound
    big = torch.tensor([[60.0, -60.0, -60.0]])
    far = torch.tensor([[-60.0, 60.0, -60.0]])
    assert float(js_divergence(big, far)) == pytest.approx(math.log(2), abs=1e-6)
    # three views: bounded by log 3
    c = _logits(3)
    assert float(js_divergence(a, b, c, reduction="none").max()) <= math.log(3) + 1e-6


def test_matches_scipy_jensen_shannon():
    a, b = _logits(4, b=6), _logits(5, b=6)
    ours = js_divergence(a, b, reduction="none").double().numpy()
    pa, pb = F.softmax(a, 1).double().numpy(), F.softmax(b, 1).double().numpy()
    ref = np.array([jensenshannon(pa[i], pb[i]) ** 2 for i in range(6)])  # scipy: sqrt(JS), nats
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-7)


def test_consistency_loss_is_ce_plus_weighted_js_and_differentiable():
    a, b = _logits(6).requires_grad_(True), _logits(7)
    y = torch.arange(16) % 10
    loss = consistency_loss(a, b, labels=y, weight=12.0)
    ref = F.cross_entropy(a, y) + 12.0 * js_divergence(a, b)
    torch.testing.assert_close(loss, ref)
    loss.backward()
    assert torch.isfinite(a.grad).all()
    torch.testing.assert_close(consistency_loss(a, b, labels=y, weight=0.0), F.cross_entropy(a, y))


def test_bad_input():
    with pytest.raises(BlurkitError, match="two views"):
        js_divergence(_logits(0))
    with pytest.raises(BlurkitError, match="logits"):
        js_divergence(_logits(0), _logits(1, k=5))
    with pytest.raises(BlurkitError, match="weight"):
        consistency_loss(
            _logits(0), _logits(1), labels=torch.zeros(16, dtype=torch.long), weight=-1
        )
