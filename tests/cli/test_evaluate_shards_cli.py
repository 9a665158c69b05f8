"""`blurkit evaluate --shard i/N` then `blurkit merge`: the same cells.csv as one run;
the engine options --num-workers, --amp and --channels-last reach the engine."""

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
        blurkit.models, "load_model", lambda name, device="cpu", **k: kit.TinyNet(1), raising=False
    )
    monkeypatch.setattr(
        blurkit.data,
        "open_dataset",
        lambda source, classes=None, preprocess=None: kit.make_dataset(14),
        raising=False,
    )


ARGS = ["-m", "tiny1", "-c", "defocus_blur", "--severities", "1,2", "--no-critical",
        "--flip-frames", "0", "--examples", "0", "-q", "--no-report"]  # fmt: skip


def test_shards_then_merge_equal_one_run(tmp_path, fake_loaders):
    run = CliRunner()
    r = run.invoke(app, ["evaluate", *ARGS, "--out", str(tmp_path / "one")])
    assert r.exit_code == 0, r.output
    for i in range(2):
        r = run.invoke(
            app, ["evaluate", *ARGS, "--out", str(tmp_path / "sh"), "--shard", f"{i}/2",
                  "--num-workers", "0", "--batch-size", "3"],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert "blurkit merge" in r.output
    assert not (tmp_path / "sh" / "cells.csv").exists()
    # 14 images in one chunk: shard 1 had nothing to do; a smaller chunk is the engine's
    # business (tests/robustness/test_engine.py); here the CLI path end to end
    r = run.invoke(
        app, ["merge", str(tmp_path / "sh"), "--out", str(tmp_path / "m"), "--no-report"]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m" / "cells.csv").read_bytes() == (
        tmp_path / "one" / "cells.csv"
    ).read_bytes()
    r = run.invoke(app, ["evaluate", *ARGS, "--out", str(tmp_path / "x"), "--shard", "3/2"])
    assert r.exit_code != 0 and "shard" in r.output


def test_amp_and_channels_last_options(tmp_path, fake_loaders):
    r = CliRunner().invoke(
        app, ["evaluate", *ARGS, "--out", str(tmp_path / "a"), "--amp", "bf16", "--channels-last"]
    )
    assert r.exit_code == 0, r.output
    assert '"amp": "bf16"' in (tmp_path / "a" / "records" / "tiny1" / "config.json").read_text()
    r = CliRunner().invoke(app, ["evaluate", *ARGS, "--out", str(tmp_path / "b"), "--amp", "fp8"])
    assert r.exit_code != 0 and "amp" in r.output
