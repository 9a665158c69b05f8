"""`blurkit study` on a tiny config: every method trained alike, one comparison report."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from blurkit.cli import app


def _tree(root, n=24):
    g = np.random.default_rng(1)
    for ci, name in enumerate(("coarse", "fine")):
        (root / name).mkdir(parents=True)
        for i in range(n):
            base = g.random((8, 8, 3) if ci == 0 else (32, 32, 3))
            img = np.kron(base, np.ones((4, 4, 1))) if ci == 0 else base
            Image.fromarray((img * 255).astype(np.uint8)).save(root / name / f"{i:03d}.png")
    return root


def test_study_tiny_config_writes_the_comparison(tmp_path):
    data = _tree(tmp_path / "data")
    out = tmp_path / "study"
    args = [
        "study", "--data", str(data), "--eval-data", str(data), "--out", str(out),
        "--model", "airnet-tiny", "--batch-size", "16", "--threads", "1",
        "--train-families", "gaussian", "--corruptions", "gaussian_blur,motion_blur",
        "--severities", "1,4", "--critical", "gaussian", "--critical-images", "6",
        "--attack-images", "6", "--attack-steps", "3", "--adv-steps", "1", "-q",
    ]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    text = (out / "study.json").read_text()
    assert "Infinity" not in text and "NaN" not in text  # strict JSON
    study = json.loads(text)
    methods = ["baseline", "augment", "adversarial", "consistency"]
    assert list(study["methods"]) == methods
    for m in methods:
        row = study["methods"][m]
        assert 0.0 <= row["clean_error"] <= 1.0
        assert set(row["errors"]) == {"gaussian_blur", "motion_blur"}
        assert set(row["errors"]["gaussian_blur"]) == {"1", "4"}
        # the mean blur error is the mean of the per-cell errors
        cells = [e for c in row["errors"].values() for e in c.values()]
        assert abs(row["mean_blur_error"] - sum(cells) / len(cells)) < 1e-9
        assert "gaussian" in row["critical_median"]
        rate = row["attack_success_rate"]
        assert rate is None or 0.0 <= rate <= 1.0  # null when no image was correct
        assert row["train_seconds"] > 0 and row["train_images"] == 48
        # transfer split: gaussian seen (its benchmark twin), motion held out
        assert row["seen_families"] == ["gaussian_blur"]
        assert row["heldout_families"] == ["motion_blur"]
        assert abs(row["heldout_mean_error"] - row["error_motion_blur"]) < 1e-12
        # latent-structure columns: CKA 1 for the reference itself, values in range
        assert 0.0 <= row["clean_knn_accuracy"] <= 1.0 and row["separation"] > 0
        assert 0.0 <= row["cka_to_baseline"] <= 1.0 + 1e-9
        assert -1.0 <= row["blur_cosine"] <= 1.0
    assert abs(study["methods"]["baseline"]["cka_to_baseline"] - 1.0) < 1e-6
    with open(out / "study.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == methods
    assert (out / "study.html").read_text().count("<tr>") >= 5
    assert (out / "eval" / "report.html").exists()
    # every method started from the same initialisation and budget
    s = [json.loads((out / "train" / m / "summary.json").read_text()) for m in methods]
    assert len({(x["epochs"], x["steps"], x["config"]["seed"]) for x in s}) == 1
    # a rerun reuses the trained models and stored cells
    r2 = CliRunner().invoke(app, [*args, "--no-eval-report"])
    assert r2.exit_code == 0, r2.output
    assert (
        json.loads((out / "study.json").read_text())["methods"]["baseline"]["clean_error"]
        == (study["methods"]["baseline"]["clean_error"])
    )


def _small_study(data, out, *extra) -> list[str]:
    """A study of airnet-tiny on one Gaussian-blur cell, no critical blur or latent columns."""
    return [
        "study", "--data", str(data), "--eval-data", str(data), "--out", str(out),
        "--model", "airnet-tiny", "--batch-size", "8", "--threads", "1",
        "--corruptions", "gaussian_blur", "--critical", "", "--latent-images", "0",
        "--no-eval-report", "-q", *extra,
    ]  # fmt: skip


def test_study_over_seeds_reports_mean_sd_and_resolved_differences(tmp_path):
    data = _tree(tmp_path / "data", n=12)
    out = tmp_path / "seeds"
    args = _small_study(data, out, "--methods", "baseline,augment", "--train-families",
                        "gaussian", "--severities", "2", "--attack-images", "0",
                        "--seeds", "0,1,2")  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    agg = json.loads((out / "study.json").read_text())
    assert agg["seeds"] == [0, 1, 2] and list(agg["methods"]) == ["baseline", "augment"]
    per_seed = [json.loads((out / f"seed-{s}" / "study.json").read_text()) for s in (0, 1, 2)]
    assert [p["config"]["seed"] for p in per_seed] == [0, 1, 2]
    for m in ("baseline", "augment"):
        vals = [p["methods"][m]["mean_blur_error"] for p in per_seed]
        st = agg["methods"][m]["mean_blur_error"]
        assert st["values"] == vals and abs(st["mean"] - np.mean(vals)) < 1e-12
        assert abs(st["sd"] - np.std(vals, ddof=1)) < 1e-12
    # the paired difference and its 95 % interval (Student's t, 2 degrees of freedom)
    d = agg["differences"]["augment"]["mean_blur_error"]
    diffs = [p["methods"]["augment"]["mean_blur_error"] - p["methods"]["baseline"]["mean_blur_error"]
             for p in per_seed]  # fmt: skip
    half = 4.303 * np.std(diffs, ddof=1) / np.sqrt(3)
    assert abs(d["mean"] - np.mean(diffs)) < 1e-12
    assert abs(d["ci95"][0] - (np.mean(diffs) - half)) < 1e-9
    assert d["resolved"] == bool(abs(np.mean(diffs)) > half)
    # the budget is stated: images x passes, the same for both methods
    assert agg["methods"]["augment"]["train_image_passes"]["values"] == [24, 24, 24]
    md = (out / "study.md").read_text()
    assert "±" in md and "Difference to the baseline" in md
    # a rerun resumes every seed's study (same numbers, nothing retrained)
    r2 = CliRunner().invoke(app, args)
    assert r2.exit_code == 0, r2.output
    assert json.loads((out / "study.json").read_text())["methods"] == agg["methods"]


def test_study_seeds_are_checked():
    r = CliRunner().invoke(app, ["study", "--data", "x", "--out", "y", "--seeds", "0,0"])
    assert r.exit_code == 2 and "--seeds" in r.output and "distinct" in r.output
    r = CliRunner().invoke(app, ["study", "--data", "x", "--out", "y", "--seeds", "1,a"])
    assert r.exit_code == 2 and "--seeds" in r.output


def test_t_quantiles_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    from blurkit.defenses.study_seeds import t_quantile_975

    for df in (*range(1, 31), 31, 40, 60, 120, 1000):
        assert abs(t_quantile_975(df) - stats.t.ppf(0.975, df)) < 3e-3, df


def test_study_compares_a_deblurring_front_end(tmp_path):
    data = _tree(tmp_path / "data", n=8)
    out = tmp_path / "fe"
    args = _small_study(data, out, "--methods", "baseline", "--frontends", "baseline+learned",
                        "--severities", "3", "--attack-images", "4", "--attack-steps", "2")  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    study = json.loads((out / "study.json").read_text())
    assert list(study["methods"]) == ["baseline", "baseline+learned"]
    assert study["config"]["frontends"] == ["baseline+learned"]
    fe, base = study["methods"]["baseline+learned"], study["methods"]["baseline"]
    # the same trained model and budget; evaluated through the deblurrer, so it differs
    assert fe["train_seconds"] == base["train_seconds"]
    assert 0.0 <= fe["clean_error"] <= 1.0 and set(fe["errors"]) == {"gaussian_blur"}
    import torch

    from blurkit.defenses.deblur import DeblurFrontEnd, make_deblurrer
    from blurkit.defenses.methods import load_trained

    m = load_trained(out / "train" / "baseline")
    x = torch.rand(2, 3, 32, 32)
    assert not torch.allclose(DeblurFrontEnd(m, make_deblurrer("learned"))(x), m(x))


def test_study_frontends_are_checked(tmp_path):
    for spec, word in (("augment+learned", "method"), ("baseline+wiener", "deblurrer"),
                       ("baseline", "<method>+<deblurrer>")):  # fmt: skip
        r = CliRunner().invoke(app, ["study", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                                     "--methods", "baseline", "--frontends", spec])  # fmt: skip
        assert r.exit_code == 2 and "frontends" in r.output and word in r.output, r.output
