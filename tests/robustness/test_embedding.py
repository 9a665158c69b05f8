"""The embedding task: metrics against the latent functions, same images as classification,
label-free data, critical blur, CLI and Python agreement, report, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import blurkit
from blurkit import ParameterError
from blurkit.models import Classifier
from blurkit.models.cifar import ResNet9
from blurkit.robustness.embedding import embedding_critical_blur
from blurkit.robustness.latent import cosine_similarity, linear_cka, retrieval_at_1


def _model():
    torch.manual_seed(0)
    net = ResNet9(widths=(4, 8, 8, 8))
    return Classifier(net, (0.5,) * 3, (0.5,) * 3, classes=list("abcd"), input_size=16).eval()


def _data(n=24, classes=4):
    g = torch.Generator().manual_seed(1)
    return [(torch.rand(3, 16, 16, generator=g), i % classes) for i in range(n)]


GRID = dict(corruptions=["gaussian_blur"], severities=[2], preset="cifar-10-c", flip_frames=0)


def test_cells_agree_with_the_latent_functions_on_the_same_blurred_images(tmp_path):
    model, data = _model(), _data()
    r = blurkit.evaluate(model, data, task="embedding", out=tmp_path / "e", **GRID)
    rows = {row["corruption"]: row for row in r.cells}
    assert rows["clean"]["cosine"] == 1.0 and rows["clean"]["retrieval_at_1"] == 1.0
    # recompute from the images the engine blurred (the same per-image seeds as classification)
    from blurkit.models.features import FeatureEncoder
    from blurkit.robustness.seeds import image_seeds

    x = torch.stack([d[0] for d in data])
    xb = blurkit.corrupt(
        x, "gaussian_blur", 2.0, preset="cifar-10-c",
        seed=image_seeds(0, "gaussian_blur", 2.0, list(range(len(data)))),
    )  # fmt: skip
    enc = FeatureEncoder(model)
    with torch.no_grad():
        fc, fb = enc(x), enc(xb)
    row = rows["gaussian_blur"]
    assert row["cosine"] == pytest.approx(float(cosine_similarity(fc, fb).mean()), abs=1e-5)
    assert row["retrieval_at_1"] == pytest.approx(float(retrieval_at_1(fc, fb).float().mean()))
    assert row["cka"] == pytest.approx(linear_cka(fc, fb), abs=1e-5)
    assert row["cosine_low"] <= row["cosine"] <= row["cosine_high"]
    assert 0 <= row["knn_accuracy"] <= 1 and 0 <= row["probe_accuracy"] <= 1
    # classification on the same grid saw the same blurred images: same cell keys and seeds
    rc = blurkit.evaluate(model, data, out=tmp_path / "c", **GRID)
    assert [(c["corruption"], c["severity"], c["seed"]) for c in rc.cells] == [
        (c["corruption"], c["severity"], c["seed"]) for c in r.cells
    ]


def test_label_free_and_one_image_per_class_leave_label_metrics_empty(tmp_path):
    model = _model()
    single = [(torch.rand(3, 16, 16), i) for i in range(4)]
    r = blurkit.evaluate(model, single, task="embedding", out=tmp_path / "s", **GRID)
    assert all(row["knn_accuracy"] is None and row["probe_accuracy"] is None for row in r.cells)
    assert (
        "one image per class" in r.summary["models"][next(iter(r.summary["models"]))]["undefined"]
    )
    assert all(row["cosine"] is not None for row in r.cells)


def test_critical_blur_for_embeddings_is_bounded_and_thresholds_flip_earlier():
    model, x = _model(), torch.stack([d[0] for d in _data(8)])
    nn_only = embedding_critical_blur(model, x, "gaussian", seed=0)
    with_thr = embedding_critical_blur(model, x, "gaussian", threshold=0.999, seed=0)
    assert bool((nn_only.passes <= 12).all()) and nn_only.correct.all()
    s1, s2 = nn_only.strength, with_thr.strength
    # a cosine threshold can only add changes: never a larger critical strength (1 % search)
    assert bool(((s2 <= s1 * 1.02) | torch.isinf(s1)).all())
    assert bool(torch.isfinite(s2).any())
    with pytest.raises(ParameterError, match="N >= 2"):
        embedding_critical_blur(model, x[:1])


def test_wrong_layer_and_wrong_rank_are_typed_errors(tmp_path):
    with pytest.raises(ParameterError, match="no sub-module 'nope'"):
        blurkit.evaluate(_model(), _data(), task="embedding", task_options={"layer": "nope"},
                         out=tmp_path / "x", **GRID)  # fmt: skip
    with pytest.raises(blurkit.ShapeError):
        blurkit.evaluate(nn.Conv2d(3, 4, 3), _data(), task="embedding", out=tmp_path / "y", **GRID)


def test_cli_and_python_agree_and_the_report_renders(tmp_path):
    from typer.testing import CliRunner

    from blurkit.cli import app
    from blurkit.models import load_model

    args = ["--corruptions", "defocus_blur", "--severities", "1", "--limit", "20"]
    out = tmp_path / "cli"
    res = CliRunner().invoke(
        app,
        ["evaluate", "--task", "embedding", *args, "--out", str(out), "--critical-images", "10"],
    )
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    assert (
        "embedding-summary" in html and "emb-defocus_blur" in html and "drift-defocus_blur" in html
    )
    r = blurkit.evaluate(
        load_model("cifar10_airnet-baseline"), "sample", task="embedding",
        corruptions=["defocus_blur"], severities=[1], limit=20, out=tmp_path / "py",
    )  # fmt: skip
    cli_rows = [
        json.loads(json.dumps(x)) for x in blurkit.robustness.read_cells_csv(out / "cells.csv")
    ]
    assert [float(x["cosine"]) for x in cli_rows] == pytest.approx([c["cosine"] for c in r.cells])


def test_compare_features_cli_json():
    from typer.testing import CliRunner

    from blurkit.cli import app

    res = CliRunner().invoke(
        app, ["compare-features", "cifar10_airnet-baseline", "cifar10_airnet-augment",
              "--limit", "40", "--format", "json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["model"] for r in rows] == ["cifar10_airnet-baseline", "cifar10_airnet-augment"]
    assert rows[0]["cka_to_reference"] == pytest.approx(1.0)
    assert np.isfinite(rows[1]["knn_accuracy"])


def test_flat_folder_is_label_free_for_embeddings_and_refused_by_classification(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    flat = tmp_path / "photos"
    flat.mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(flat / f"{i}.png")
    r = blurkit.evaluate(_model(), str(flat), task="embedding", out=tmp_path / "e", **GRID)
    assert len(r.cells) == 2 and all(c["knn_accuracy"] is None for c in r.cells)
    assert all(c["cosine"] is not None and c["retrieval_at_1"] is not None for c in r.cells)
    with pytest.raises(ParameterError, match="classification needs a label"):
        blurkit.evaluate(_model(), str(flat), out=tmp_path / "c", **GRID)
