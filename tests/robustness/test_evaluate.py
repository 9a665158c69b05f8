"""The evaluation grid: cells agree with an independent per-image computation,
per-image seeding makes results independent of batching and model, summaries."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from blurkit import ParameterError
from blurkit.robustness.evaluate import evaluate, image_seeds, spread_positions
from blurkit.robustness.metrics import ALEXNET_ERR, wilson_interval

_spec = importlib.util.spec_from_file_location("_evalkit", Path(__file__).with_name("_evalkit.py"))
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)


@pytest.fixture(scope="module")
def data():
    return kit.make_dataset(30)


def _predict_one(model, fn, name, sev, img, idx, seed=0):
    x = img[None]
    if name != "clean":
        x = fn(x, name, sev, preset="cifar-10-c", seed=image_seeds(seed, name, sev, [idx]))
    with torch.no_grad():
        return model(x)[0]


def test_cells_match_independent_per_image_computation(tmp_path, data):
    model = kit.TinyNet(1)
    fn = kit.Counter()
    r = evaluate(
        model,
        data,
        tmp_path,
        corruptions=["box", "noise"],
        severities=[1, 2],
        corrupt_fn=fn,
        batch_size=7,
        topk=2,
        examples=0,
    )
    assert [(row["corruption"], row["severity"]) for row in r.rows] == [
        ("clean", "0"),
        ("box", "1"),
        ("box", "2"),
        ("noise", "1"),
        ("noise", "2"),
    ]
    clean_pred = [int(_predict_one(model, fn, "clean", 0, x, i).argmax()) for x, _, i in data]
    for row in r.rows:
        logits = [
            _predict_one(model, fn, row["corruption"], float(row["severity"]), x, i)
            for x, _, i in data
        ]
        pred = [int(lg.argmax()) for lg in logits]
        correct = sum(int(p == y) for p, (_, y, _) in zip(pred, data, strict=True))
        top2 = sum(
            int(y in lg.topk(2).indices.tolist())
            for lg, (_, y, _) in zip(logits, data, strict=True)
        )
        assert row["n"] == 30 and row["correct"] == correct and row["top5_correct"] == top2
        assert row["accuracy"] == pytest.approx(correct / 30)
        assert (row["accuracy_low"], row["accuracy_high"]) == pytest.approx(
            wilson_interval(correct, 30)
        )
        flips = sum(int(a != b) for a, b in zip(pred, clean_pred, strict=True)) / 30
        assert row["flip_rate"] == pytest.approx(flips)
    # the grid really changes predictions (the test can fail)
    assert any(row["flip_rate"] > 0 for row in r.rows)
    assert (
        (tmp_path / "cells.csv")
        .read_text()
        .splitlines()[0]
        .startswith("model,corruption,severity,n,")
    )
    s = json.loads((tmp_path / "summary.json").read_text())["models"]["tiny1"]
    blur = [row["accuracy"] for row in r.rows if row["corruption"] != "clean"]
    assert s["mean_blur_accuracy"] == pytest.approx(np.mean(blur))
    assert s["clean_accuracy"] == pytest.approx(r.rows[0]["accuracy"])


def test_batch_size_does_not_change_cells(tmp_path, data):
    kw = dict(corruptions=["box", "noise"], severities=[1, 3], corrupt_fn=kit.Counter(), examples=0)
    evaluate(kit.TinyNet(2), data, tmp_path / "a", batch_size=4, **kw)
    evaluate(kit.TinyNet(2), data, tmp_path / "b", batch_size=64, **kw)
    assert (tmp_path / "a" / "cells.csv").read_bytes() == (
        tmp_path / "b" / "cells.csv"
    ).read_bytes()


class Recorder(kit.TinyNet):
    def __init__(self, seed):
        super().__init__(seed)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return super().forward(x)


def test_every_model_sees_the_same_blurred_images(tmp_path, data):
    a, b = Recorder(1), Recorder(2)
    r = evaluate(
        [a, b],
        data,
        tmp_path,
        corruptions=["noise"],
        severities=[2],
        corrupt_fn=kit.Counter(),
        batch_size=8,
        examples=0,
        baseline="tiny1",
    )
    assert len(a.seen) == len(b.seen) > 0
    for xa, xb in zip(a.seen, b.seen, strict=True):
        torch.testing.assert_close(xa, xb, rtol=0, atol=0)
    assert {row["model"] for row in r.rows} == {"tiny1", "tiny2"}
    s = r.summary["models"]
    e1 = (
        1
        - [row for row in r.rows if row["model"] == "tiny1" and row["corruption"] == "noise"][0][
            "accuracy"
        ]
    )
    e2 = (
        1
        - [row for row in r.rows if row["model"] == "tiny2" and row["corruption"] == "noise"][0][
            "accuracy"
        ]
    )
    if e1 > 0:
        assert s["tiny2"]["corruptions"]["noise"]["ce_baseline"] == pytest.approx(e2 / e1)
        assert s["tiny1"]["mce_baseline"] == pytest.approx(1.0)


def test_seeds_passed_are_per_image(tmp_path, data):
    fn = kit.Counter()
    evaluate(
        kit.TinyNet(1),
        data[:10],
        tmp_path,
        corruptions=["noise"],
        severities=[1],
        corrupt_fn=fn,
        batch_size=4,
        examples=0,
    )
    got = [s for call in fn.seeds for s in call]
    assert got == image_seeds(0, "noise", 1, range(10))
    assert len(set(got)) == 10


def test_imagenet_grid_normalised_by_alexnet(tmp_path, data):
    r = evaluate(
        kit.TinyNet(1),
        data,
        tmp_path,
        corruptions=["defocus_blur", "motion_blur"],
        preset="imagenet-c",
        corrupt_fn=kit.Counter(),
        examples=0,
    )
    s = r.summary["models"]["tiny1"]
    ces = []
    for c in ("defocus_blur", "motion_blur"):
        errs = [1 - row["accuracy"] for row in r.rows if row["corruption"] == c]
        assert len(errs) == 5
        ce = sum(errs) / sum(ALEXNET_ERR[c])
        assert s["corruptions"][c]["ce_alexnet"] == pytest.approx(ce)
        ces.append(ce)
    assert s["mce_alexnet"] == pytest.approx(np.mean(ces))
    assert s["relative_mce_alexnet"] is not None


def test_flip_probability_sweep(tmp_path, data):
    model = kit.TinyNet(1)
    fn = kit.Counter()
    r = evaluate(
        model,
        data,
        tmp_path,
        corruptions=["box"],
        severities=[1],
        corrupt_fn=fn,
        examples=0,
        flip_frames=5,
        flip_images=12,
        batch_size=5,
    )
    sevs = np.linspace(1, 5, 5)

    def frame_pred(s, i):  # fixed draw along the sweep: one seed key for all frames
        x = fn(
            data[i][0][None], "box", float(s), preset="", seed=image_seeds(0, "box", "sweep", [i])
        )
        with torch.no_grad():
            return int(model(x)[0].argmax())

    preds = torch.tensor([[frame_pred(s, i) for i in range(12)] for s in sevs])
    fp = float((preds[1:] != preds[:-1]).float().mean())
    assert r.summary["models"]["tiny1"]["corruptions"]["box"]["flip_probability"] == pytest.approx(
        fp
    )
    assert r.summary["models"]["tiny1"]["mean_flip_probability"] == pytest.approx(fp)


def test_examples_kernels_and_critical_blur(tmp_path, data):
    r = evaluate(
        kit.TinyNet(1),
        data,
        tmp_path,
        corruptions=["box"],
        severities=[1, 2],
        corrupt_fn=kit.Counter(),
        examples=4,
        critical=("gaussian",),
        critical_images=8,
    )
    meta = json.loads((tmp_path / "examples" / "meta.json").read_text())
    # examples are spread over the dataset (class-sorted datasets give every class a chance)
    assert meta["indices"] == spread_positions(len(data), 4) and len(meta["cells"]) == 3
    assert meta["indices"][0] == 0 and meta["indices"][-1] == len(data) - 1
    from PIL import Image

    im = Image.open(tmp_path / "examples" / "box@2.png")
    assert im.size == (4 * 16, 16)
    assert Image.open(tmp_path / "kernels" / "box.png").size[1] == 18
    crit = r.summary["models"]["tiny1"]["critical"]["gaussian"]
    assert crit["images"] == 8 and crit["unit"]
    rec = json.loads((tmp_path / "records" / "tiny1" / "critical" / "gaussian.json").read_text())
    assert len(rec["ssim_curve"]["ssim"]) == 51 and len(rec["strength"]) == 8
    assert rec["positions"] == spread_positions(len(data), 8)


def test_real_corruptions_when_registered(tmp_path, data):
    from blurkit import list_corruptions

    if "gaussian_blur" not in list_corruptions():
        pytest.skip("gaussian_blur corruption not registered in this build yet")
    r = evaluate(
        kit.TinyNet(1),
        data[:12],
        tmp_path,
        corruptions=["gaussian_blur"],
        severities=[1, 5],
        examples=2,
    )
    assert [row["preset"] for row in r.rows[1:]] == ["cifar-10-c", "cifar-10-c"]


def test_bad_arguments(tmp_path, data):
    m = kit.TinyNet(1)
    with pytest.raises(ParameterError, match="severities"):
        evaluate(m, data, tmp_path, corruptions=["box"], severities=[0.5], corrupt_fn=kit.Counter())
    with pytest.raises(ParameterError, match="clean"):
        evaluate(m, data, tmp_path, corruptions=["clean"], corrupt_fn=kit.Counter())
    with pytest.raises(ParameterError, match="baseline"):
        evaluate(m, data, tmp_path, corruptions=["box"], baseline="nope", corrupt_fn=kit.Counter())
    with pytest.raises(ParameterError, match="distinct"):
        evaluate([m, m], data, tmp_path, corruptions=["box"], corrupt_fn=kit.Counter())
    with pytest.raises(ParameterError, match="empty"):
        evaluate(m, [], tmp_path, corruptions=["box"], corrupt_fn=kit.Counter())
