"""A model with more classes than the data is scored on the data's classes by restricting
its logits (ImageNet-R/A style), and the results say so."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from blurkit._checks import ParameterError
from blurkit.cli import app
from blurkit.models import load_model, match_label_space, restrict_classes


def test_restricted_logits_are_the_kept_columns():
    m = load_model("cifar10_resnet20")
    r = restrict_classes(m, ["dog", "cat"])
    x = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(r(x), m(x)[:, [5, 3]], rtol=0, atol=0)
    assert r.classes == ["dog", "cat"] and r.name == "cifar10_resnet20@2-of-10-classes"
    assert match_label_space(m, m.classes) is m
    order = sorted(m.classes, reverse=True)
    p = match_label_space(m, order)  # every class, another order: reordered, same name
    assert p.name == m.name and p.classes == order
    torch.testing.assert_close(p(x), m(x).flip(1), rtol=0, atol=0)
    with pytest.raises(ParameterError, match="not among"):
        restrict_classes(m, ["cat", "unicorn"])


def test_imagenet_folders_may_be_named_by_class_names():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = load_model("torchvision:resnet18")
    r = restrict_classes(m, ["goldfish", "n01440764"])  # a name and a synset
    x = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(r(x), m(x)[:, [1, 0]], rtol=0, atol=0)


@pytest.fixture
def cats_and_dogs(tmp_path):
    g = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / "tree" / c).mkdir(parents=True)
        for i in range(2):
            a = g.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(a).save(tmp_path / "tree" / c / f"{i}.png")
    return tmp_path / "tree"


@pytest.mark.parametrize("space,name", [("auto", "cifar10_resnet20@2-of-10-classes"),
                                        ("full", "cifar10_resnet20")])  # fmt: skip
def test_cli_states_the_label_space_in_the_results(cats_and_dogs, tmp_path, space, name):
    out = tmp_path / "o"
    r = CliRunner().invoke(
        app,
        ["evaluate", "--model", "cifar10_resnet20", "--data", str(cats_and_dogs), "--out",
         str(out), "--corruptions", "gaussian_blur", "--severities", "1", "--no-critical",
         "--flip-frames", "0", "--no-report", "-q", "--label-space", space],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    with open(out / "cells.csv") as f:
        models = {row["model"] for row in csv.DictReader(f)}
    assert models == {name}
