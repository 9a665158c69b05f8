"""Representation metrics: hand-computed values, scikit-learn agreement, invariances, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from blurkit import BlurkitError, ParameterError, ShapeError
from blurkit.robustness.latent import (
    LinearProbe,
    class_separation,
    cosine_similarity,
    knn_predict,
    linear_cka,
    mean_interval,
    relative_drift,
    retrieval_at_1,
)


def _clusters(n_per=30, d=8, classes=3, spread=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=g, dtype=torch.float64) * 3
    x = torch.cat([centres[c] + spread * torch.randn(n_per, d, generator=g, dtype=torch.float64)
                   for c in range(classes)])  # fmt: skip
    y = torch.arange(classes).repeat_interleave(n_per)
    return x, y


def test_cosine_and_drift_hand_values():
    clean = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    blurred = torch.tensor([[0.0, 2.0], [3.0, 4.0]])
    assert cosine_similarity(clean, blurred).tolist() == [0.0, 1.0]
    assert relative_drift(clean, blurred).tolist() == pytest.approx([math.sqrt(5.0), 0.0])


def test_identical_inputs_score_perfectly():
    x, y = _clusters()
    assert torch.allclose(cosine_similarity(x, x), torch.ones(len(x), dtype=x.dtype))
    assert relative_drift(x, x).abs().max() == 0
    assert retrieval_at_1(x, x).all()
    assert linear_cka(x, x) == pytest.approx(1.0)


def test_retrieval_hand_example():
    clean = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    blurred = torch.tensor([[0.9, 0.1], [0.8, 0.3], [-1.0, 0.1]])  # image 1 lands near image 0
    assert retrieval_at_1(clean, blurred).tolist() == [True, False, True]


def test_knn_matches_scikit_learn_weighted_cosine():
    neighbors = pytest.importorskip("sklearn.neighbors")
    x, y = _clusters(spread=2.5, seed=1)
    g = torch.Generator().manual_seed(2)
    queries = x + 1.5 * torch.randn(x.shape, generator=g, dtype=x.dtype)
    t = 0.07
    ref = neighbors.KNeighborsClassifier(
        n_neighbors=20, metric="cosine", weights=lambda d: np.exp((1.0 - d) / t), algorithm="brute"
    ).fit(x.numpy(), y.numpy())
    ours = knn_predict(queries, x, y, k=20, temperature=t)
    assert (ours.numpy() == ref.predict(queries.numpy())).all()


def test_knn_leave_one_out_excludes_the_query_itself():
    # two images of class 0 and one of class 1 placed on top of image 0: with k=1 and the
    # query's own clean copy left out, image 0's nearest other image is the class-1 one
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.01]])
    labels = torch.tensor([0, 0, 1])
    assert knn_predict(gallery, gallery, labels, k=1).tolist() == [0, 0, 1]
    assert knn_predict(gallery, gallery, labels, k=1, leave_one_out=True).tolist()[0] == 1


def test_knn_needs_k_plus_one_images():
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 0])
    with pytest.raises(ParameterError, match="at least k = 5"):
        knn_predict(x, x, y, k=5, leave_one_out=True)
    assert knn_predict(x, x, y, k=4, leave_one_out=True).shape == (5,)


def test_probe_matches_scikit_learn_logistic_regression():
    linear_model = pytest.importorskip("sklearn.linear_model")
    x, y = _clusters(spread=2.0, seed=3)
    z = (x - x.mean(0)) / x.std(0, unbiased=False)
    ref = linear_model.LogisticRegression(C=0.5, max_iter=5000, tol=1e-10).fit(z.numpy(), y.numpy())
    probe = LinearProbe(C=0.5, max_iter=500).fit(x, y)
    ours = probe.decision_function(x)
    theirs = torch.from_numpy(ref.decision_function(z.numpy()))
    # multinomial logits are defined up to a per-row constant: compare centred logits
    ours, theirs = ours - ours.mean(1, keepdim=True), theirs - theirs.mean(1, keepdim=True)
    assert torch.allclose(ours, theirs, atol=2e-3)
    assert (probe.predict(x).numpy() == ref.predict(z.numpy())).all()


def test_probe_on_one_class_is_a_clear_error():
    with pytest.raises(ParameterError, match="at least 2 classes"):
        LinearProbe().fit(torch.randn(6, 3), torch.zeros(6, dtype=torch.long))


def test_cka_invariances_and_independence():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(200, 10, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(10, 10, generator=g, dtype=torch.float64))
    y = torch.tanh(x @ torch.randn(10, 7, generator=g, dtype=torch.float64))
    base = linear_cka(x, y)
    assert linear_cka(x @ q, y) == pytest.approx(base, rel=1e-9)  # orthogonal
    assert linear_cka(5.0 * x, 0.1 * y) == pytest.approx(base, rel=1e-9)  # isotropic scale
    assert linear_cka(x + 3.0, y) == pytest.approx(base, rel=1e-9)  # centring
    # the Gram (N <= D) and feature (N > D) forms agree
    assert linear_cka(x[:8], y[:8]) == pytest.approx(_cka_gram(x[:8], y[:8]), rel=1e-9)
    assert base == pytest.approx(_cka_gram(x, y), rel=1e-9)
    noise = torch.randn(200, 10, generator=g, dtype=torch.float64)
    assert linear_cka(x, noise) < 0.2


def _cka_gram(x, y):
    n = x.shape[0]
    h = torch.eye(n, dtype=x.dtype) - 1.0 / n
    kx, ky = h @ x @ x.T @ h, h @ y @ y.T @ h
    return float((kx * ky).sum() / (kx.norm() * ky.norm()))


def test_class_separation_hand_value_and_scale_invariance():
    x = torch.tensor([[0.0], [2.0], [10.0], [12.0]])
    y = torch.tensor([0, 0, 1, 1])
    # means 1 and 11, grand mean 6: between = 2*25 + 2*25 = 100; within = 4 * 1 = 4
    assert class_separation(x, y) == pytest.approx(25.0)
    assert class_separation(7.0 * x, y) == pytest.approx(25.0)
    with pytest.raises(ParameterError, match="at least 2 images"):
        class_separation(torch.randn(3, 2), torch.tensor([0, 1, 2]))


def test_mean_interval_covers_the_mean():
    m, lo, hi = mean_interval(torch.tensor([0.9, 1.0, 0.95, 0.85]))
    assert lo < m < hi and m == pytest.approx(0.925)
    assert math.isnan(mean_interval(torch.tensor([1.0]))[1])


@pytest.mark.parametrize(
    "call",
    [
        lambda: cosine_similarity(torch.randn(3, 4, 1), torch.randn(3, 4, 1)),
        lambda: cosine_similarity(torch.randn(3, 4), torch.randn(2, 4)),
        lambda: relative_drift([[1.0]], [[1.0]]),
        lambda: knn_predict(torch.randn(2, 3), torch.randn(4, 5), torch.zeros(4, dtype=torch.long)),
        lambda: knn_predict(torch.randn(2, 3), torch.randn(4, 3), torch.zeros(4)),
        lambda: linear_cka(torch.randn(3, 2), torch.randn(4, 2)),
        lambda: LinearProbe().predict(torch.randn(2, 2)),
    ],
)
def test_bad_input_is_a_typed_error(call):
    with pytest.raises((BlurkitError, ShapeError)):
        call()


def test_cross_fitted_probe_scores_each_image_with_a_probe_that_never_saw_it():
    from blurkit.robustness.latent import CrossFittedProbe

    x, y = _clusters(n_per=10, spread=0.5, seed=5)
    cf = CrossFittedProbe(x, y, folds=5, seed=0)
    assert torch.bincount(cf.fold).tolist() == [6] * 5
    assert (cf.predict(x) == y).float().mean() > 0.9
    # a memorising probe would be right on a relabelled image; a cross-fitted one is not
    y2 = y.clone()
    y2[0] = (y[0] + 1) % 3
    assert CrossFittedProbe(x, y2, folds=5).predict(x)[0] == y[0]
    with pytest.raises(ParameterError, match="folds"):
        CrossFittedProbe(x[:3], y[:3], folds=5)


def test_undefined_reason_names_one_image_per_class():
    from blurkit.robustness.latent import undefined_reason

    assert undefined_reason(torch.tensor([0, 0, 1])) is None
    assert "one image per class" in undefined_reason(torch.arange(5))
    assert undefined_reason(None) == "no labels"


def test_latent_structure_rows_and_undefined_label_metrics():
    from blurkit.models.cifar import ResNet9
    from blurkit.robustness.structure import latent_structure

    torch.manual_seed(0)
    nets = {"a": ResNet9(widths=(4, 8, 8, 8)).eval(), "b": ResNet9(widths=(4, 8, 8, 16)).eval()}
    data = [(torch.rand(3, 16, 16), i % 3) for i in range(15)]
    rows = latent_structure(nets, data, folds=3, k=20)
    assert [r["model"] for r in rows] == ["a", "b"]
    assert rows[0]["cka_to_reference"] == pytest.approx(1.0)
    assert 0 <= rows[1]["cka_to_reference"] <= 1
    assert rows[0]["knn_k"] == 14 and 0 <= rows[0]["knn_accuracy"] <= 1
    assert rows[0]["dim"] == 8 and rows[1]["dim"] == 16
    # one image per class: label metrics are undefined, and say why
    single = [(torch.rand(3, 16, 16), i) for i in range(4)]
    r = latent_structure(nets, single)[0]
    assert r["knn_accuracy"] is None and "one image per class" in r["undefined"]


def test_cross_fitted_probe_blocks_equal_separate_probes():
    linear_model = pytest.importorskip("sklearn.linear_model")
    from blurkit.robustness.latent import CrossFittedProbe

    x, y = _clusters(n_per=20, spread=2.0, seed=6)
    cf = CrossFittedProbe(x, y, folds=4, max_iter=500)
    z = (x - x.mean(0)) / x.std(0, unbiased=False)  # the probes' shared standardisation
    for f in range(4):
        tr = (cf.fold != f).numpy()
        ref = linear_model.LogisticRegression(C=1.0, max_iter=5000, tol=1e-10)
        ref.fit(z.numpy()[tr], y.numpy()[tr])
        a = z @ cf.weight[f].T + cf.bias[f]
        b = torch.from_numpy(ref.decision_function(z.numpy()))
        a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
        assert torch.allclose(a, b, atol=5e-3), float((a - b).abs().max())
