"""``blurkit demo``: which models it compares and how it calls the evaluation."""

from __future__ import annotations

from typer.testing import CliRunner

from blurkit import models
from blurkit.cli import app, cmd_evaluate
from blurkit.cli.cmd_demo import demo_models


def test_demo_models_are_the_baseline_then_the_shipped_robust_variants():
    names = demo_models(every=True)
    assert names[0] == models.BUNDLED_CIFAR
    for n in names[1:]:
        assert n in models.BUNDLED_CIFAR_ROBUST and models.model_info(n)["bundled_weights"]
    missing = [n for n in models.BUNDLED_CIFAR_ROBUST if n not in names]
    assert all(not models.model_info(n)["bundled_weights"] for n in missing)
    # by default the first shipped robust model only (the 3-minute budget)
    assert demo_models() == names[:2]


def test_demo_evaluates_them_in_one_run_normalised_by_the_baseline(tmp_path, monkeypatch):
    seen = {}

    class _Result:
        rows = []

    def fake_run_evaluate(names, **kw):
        seen["names"], seen["kw"] = names, kw
        return _Result()

    monkeypatch.setattr(cmd_evaluate, "run_evaluate", fake_run_evaluate)
    r = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "-q"])
    assert r.exit_code == 0, r.output
    assert seen["names"] == demo_models()
    assert seen["kw"]["baseline"] == models.BUNDLED_CIFAR
    assert seen["kw"]["out"] == tmp_path / "d"
