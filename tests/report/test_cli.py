"""`blurkit evaluate` and `blurkit report` end to end (models and data loaders
replaced by the tiny test classifier and a synthetic dataset)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

import blurkit.data
import blurkit.models
from blurkit.cli import app

_spec = importlib.util.spec_from_file_location(
    "_evalkit", Path(__file__).parents[1] / "robustness" / "_evalkit.py"
)
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)


@pytest.fixture
def fake_loaders(monkeypatch):
    monkeypatch.setattr(
        blurkit.models,
        "load_model",
        lambda name, device="cpu", **k: kit.TinyNet(int(name[-1])),
        raising=False,
    )
    monkeypatch.setattr(
        blurkit.data,
        "open_dataset",
        lambda source, classes=None, preprocess=None: kit.make_dataset(16),
        raising=False,
    )


def test_evaluate_then_report(tmp_path, fake_loaders):
    out = tmp_path / "res"
    args = [
        "evaluate",
        "-m",
        "tiny1",
        "-m",
        "tiny2",
        "--out",
        str(out),
        "-c",
        "gaussian_blur,defocus_blur",
        "--severities",
        "1,3",
        "--no-critical",
        "--flip-frames",
        "3",
        "--flip-images",
        "6",
        "-q",
        "--baseline",
        "tiny1",
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert (out / "cells.csv").read_text().count("\n") == 1 + 2 * 5
    assert (out / "report.html").stat().st_size > 10_000
    first = (out / "cells.csv").read_bytes()
    r = CliRunner().invoke(app, args)  # resumes: nothing to compute, same table
    assert r.exit_code == 0, r.output
    assert (out / "cells.csv").read_bytes() == first
    r = CliRunner().invoke(app, [*args[:-2], "--seed", "5"])
    assert r.exit_code == 2 and "different run" in " ".join(r.output.split())
    r = CliRunner().invoke(app, ["report", str(out), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r.html").read_text().count("data:image/png;base64,") >= 4
    r = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "x.html")])
    assert r.exit_code == 2 and "results directory" in " ".join(r.output.split())
