"""``blurkit models`` lists the registry as a table or JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from blurkit.cli import app
from blurkit.models import list_models


def test_models_json_lists_every_registered_model():
    res = CliRunner().invoke(app, ["models", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["name"] for r in rows] == list_models()
    assert all("bundled_weights" in r for r in rows)


def test_models_table_and_bad_format():
    runner = CliRunner()
    res = runner.invoke(app, ["models", "-p", "cifar10_*"])
    assert res.exit_code == 0 and "cifar10_airnet" in res.output
    assert runner.invoke(app, ["models", "--format", "xml"]).exit_code == 2
