"""Bad numbers on the command line are refused when it is parsed, with a typed
one-line error naming the option, before any model, data or output is touched."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from blurkit.cli import app

runner = CliRunner()

NAN, INF = "nan", "inf"

# (command and required arguments, option, bad value)
CASES = [
    (["evaluate"], "--limit", "0"),
    (["evaluate"], "--limit", "-3"),
    (["evaluate"], "--batch-size", "0"),
    (["evaluate"], "--batch-size", "-1"),
    (["evaluate"], "--seed", "-1"),
    (["evaluate"], "--critical-images", "0"),
    (["evaluate"], "--flip-frames", "-1"),
    (["evaluate"], "--flip-frames", "1"),
    (["evaluate"], "--flip-images", "0"),
    (["evaluate"], "--examples", "-1"),
    (["evaluate"], "--severities", "1,nan"),
    (["evaluate"], "--severities", "0"),
    (["evaluate"], "--severities", "6"),
    (["evaluate"], "--severities", ","),
    (["evaluate"], "--format", "yaml"),
    (["evaluate"], "--preset", "imagenet_c"),
    (["attack"], "--limit", "-1"),
    (["attack"], "--batch-size", "0"),
    (["attack"], "--steps", "0"),
    (["attack"], "--support-radius", "0"),
    (["attack"], "--seed", "-5"),
    (["attack"], "--budget", "0.9,nan"),
    (["attack"], "--budget", "1.5"),
    (["attack"], "--budget", "0"),
    (["train", "--data", "sample"], "--epochs", "0"),
    (["train", "--data", "sample"], "--batch-size", "-8"),
    (["train", "--data", "sample"], "--lr", NAN),
    (["train", "--data", "sample"], "--lr", "-0.1"),
    (["train", "--data", "sample"], "--limit", "0"),
    (["train", "--data", "sample"], "--threads", "0"),
    (["train", "--data", "sample"], "--seed", "-1"),
    (["train", "--data", "sample"], "--consistency-weight", INF),
    (["train", "--data", "sample"], "--adv-steps", "0"),
    (["train", "--data", "sample"], "--adv-fraction", "1.5"),
    (["train", "--data", "sample"], "--adv-ssim", NAN),
    (["train", "--data", "sample"], "--adv-radius", "0"),
    (["study", "--data", "sample"], "--epochs", "0"),
    (["study", "--data", "sample"], "--eval-limit", "0"),
    (["study", "--data", "sample"], "--limit", "0"),
    (["study", "--data", "sample"], "--attack-images", "-1"),
    (["study", "--data", "sample"], "--attack-budget", NAN),
    (["study", "--data", "sample"], "--attack-steps", "0"),
    (["study", "--data", "sample"], "--critical-images", "0"),
    (["study", "--data", "sample"], "--severities", "2,inf"),
    (["study", "--data", "sample"], "--lr", "0"),
    (["blur", "x.png", "-c", "gaussian_blur"], "--severity", NAN),
    (["blur", "x.png", "-c", "gaussian_blur"], "--severity", "0"),
    (["blur", "x.png", "-c", "gaussian_blur"], "--seed", "-1"),
    (["deblur", "x.png"], "--balance", NAN),
    (["deblur", "x.png"], "--balance", "-1"),
    (["deblur", "x.png", "-m", "rl"], "--iterations", "0"),
    (["deblur", "x.png", "-m", "tv"], "--lam", "0"),
    (["measure", "x.png"], "--threshold", NAN),
    (["measure", "x.png"], "--threshold", INF),
    (["kernels"], "--columns", "0"),
]


@pytest.mark.parametrize("cmd, option, value", CASES, ids=lambda v: str(v))
def test_bad_numbers_are_refused_with_one_line(tmp_path, cmd, option, value):
    out = tmp_path / "out"
    args = [*cmd, option, value]
    if cmd[0] == "kernels":
        args += ["--out", str(out / "k.png")]
    elif cmd[0] != "measure":  # never write into the current folder, even on a regression
        args += ["--out", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}: "), r.output
    assert not out.exists()  # refused before anything was written


def test_limit_zero_message(tmp_path):
    r = runner.invoke(app, ["evaluate", "--limit", "0", "--out", str(tmp_path / "o")])
    assert r.output.strip() == "error: --limit: expected an integer in [1, inf], got 0"


def test_threshold_nan_message():
    r = runner.invoke(app, ["measure", "x.png", "--threshold", "nan"])
    assert r.output.strip() == "error: --threshold: expected a finite number, got nan"


def test_run_evaluate_refuses_limit_zero_too(tmp_path):
    from blurkit import ParameterError
    from blurkit.cli.cmd_evaluate import run_evaluate

    with pytest.raises(ParameterError, match="limit"):
        run_evaluate(out=tmp_path / "o", limit=0)
    assert not (tmp_path / "o").exists()


def test_kernels_out_that_is_a_folder(tmp_path):
    r = runner.invoke(app, ["kernels", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "is a folder" in r.output


def test_blur_bad_boundary_is_refused_before_any_file(tmp_path):
    import numpy as np
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    r = runner.invoke(
        app, ["blur", str(tmp_path / "a.png"), "-k", "gaussian(sigma=1)", "--boundary", "nope",
              "-o", str(out)],
    )  # fmt: skip
    assert r.exit_code == 2, r.output
    assert r.output.strip().startswith("error: boundary: expected one of")
    assert not out.exists()


def test_kernels_unknown_image_format(tmp_path):
    r = runner.invoke(app, ["kernels", "--out", str(tmp_path / "k.nope")])
    assert r.exit_code == 2 and r.output.startswith("error: --out: expected a file name ending")
