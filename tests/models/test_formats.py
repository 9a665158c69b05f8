"""A user's own model, saved the usual ways, evaluates through the API and the CLI;
pickled models are refused unless trusted; save_model round-trips exactly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from blurkit._checks import ParameterError, UnsafeFileError
from blurkit.cli import app
from blurkit.models import load_model, save_model

torchvision = pytest.importorskip("torchvision")

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A torchvision resnet18(num_classes=10) saved five ways, and its reference logits."""
    d = tmp_path_factory.mktemp("formats")
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        ref = net((x - MEAN) / STD)
    sd = net.state_dict()
    torch.save(sd, d / "sd.pt")
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, d / "ddp.pth")
    torch.save({"ema": sd}, d / "ema.pt")
    save_file({k: v.contiguous() for k, v in sd.items()}, str(d / "w.safetensors"))
    torch.save(net, d / "full.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(net), str(d / "net.ts"))
        dyn = {"x": {0: torch.export.Dim("batch", min=1)}}
        torch.export.save(torch.export.export(net, (x,), dynamic_shapes=dyn), str(d / "net.pt2"))
    tree = d / "tree"
    g = np.random.default_rng(0)
    for c in range(10):
        (tree / f"c{c}").mkdir(parents=True)
        Image.fromarray(g.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tree / f"c{c}/0.png")
    return d, x, ref


@pytest.mark.parametrize("weights", ["sd.pt", "ddp.pth", "ema.pt", "w.safetensors"])
def test_state_dicts_load_strictly_with_the_same_logits(saved, weights):
    d, x, ref = saved
    m = load_model("torchvision:resnet18", weights=d / weights, num_classes=10, input_size=32)
    torch.testing.assert_close(m(x), ref, rtol=0, atol=1e-5)
    assert m.input_size == 32 and m.num_classes == 10


@pytest.mark.parametrize("file", ["net.ts", "net.pt2"])
def test_torchscript_and_export_programs_load(saved, file):
    d, x, ref = saved
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        m = load_model(d / file, input_size=32)
    torch.testing.assert_close(m(x), ref, rtol=0, atol=1e-5)
    assert m.num_classes == 10 and m.info["format"] in ("torchscript", "torch.export")


def test_pickled_full_model_is_refused_unless_trusted(saved):
    d, x, ref = saved
    with pytest.raises(UnsafeFileError, match="trust-pickle"):
        load_model(d / "full.pt")
    with pytest.warns(UserWarning, match="can run any code"):
        m = load_model(d / "full.pt", input_size=32, trust_pickle=True)
    torch.testing.assert_close(m(x), ref, rtol=0, atol=1e-5)


def test_a_bare_state_dict_asks_for_the_architecture(saved):
    d, _, _ = saved
    with pytest.raises(ParameterError, match="--model torchvision:resnet18 --weights"):
        load_model(d / "sd.pt")


def test_mismatching_keys_are_listed(saved, tmp_path):
    d, _, _ = saved
    sd = torch.load(d / "sd.pt", weights_only=True)
    sd["extra.weight"] = sd.pop("fc.weight")
    torch.save(sd, tmp_path / "bad.pt")
    with pytest.raises(ParameterError, match=r"missing 1 \['fc.weight'\]; unexpected 1 \['extra"):
        load_model("torchvision:resnet18", weights=tmp_path / "bad.pt", num_classes=10)


def test_save_model_round_trip_keeps_everything(saved, tmp_path):
    d, x, _ = saved
    names = [f"k{i}" for i in range(10)]
    m = load_model(
        "torchvision:resnet18", weights=d / "sd.pt", num_classes=10, input_size=32,
        classes=names, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3),
    )  # fmt: skip
    m2 = load_model(save_model(m, tmp_path / "m.safetensors"))
    assert torch.equal(m(x), m2(x))
    assert m2.classes == names and m2.input_size == 32
    assert repr(m2._preprocess) == repr(m._preprocess)
    c = load_model("cifar10_resnet20", mean=(0.1, 0.2, 0.3), input_size=24)
    c2 = load_model(save_model(c, tmp_path / "c.safetensors"))
    y = torch.rand(2, 3, 24, 24)
    assert torch.equal(c(y), c2(y)) and c2.input_size == 24
    torch.testing.assert_close(c2.normalize.mean.flatten(), torch.tensor([0.1, 0.2, 0.3]))


_EVAL = ["--limit", "8", "--corruptions", "gaussian_blur", "--severities", "1",
         "--no-critical", "--flip-frames", "0", "--no-report", "-q", "--input-size", "32"]  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ["--model", "torchvision:resnet18", "--weights", "sd.pt", "--num-classes", "10"],
        ["--model", "torchvision:resnet18", "--weights", "w.safetensors", "--num-classes", "10"],
        ["--model", "net.ts"],
        ["--model", "net.pt2"],
        ["--model", "full.pt", "--trust-pickle"],
    ],
)
def test_cli_evaluate_each_format(saved, tmp_path, args, monkeypatch):
    d, _, _ = saved
    monkeypatch.chdir(d)
    out = tmp_path / "o"
    r = CliRunner().invoke(
        app, ["evaluate", *args, "--data", str(d / "tree"), "--out", str(out), *_EVAL]
    )
    assert r.exit_code == 0, r.output
    assert (out / "cells.csv").read_text().count("\n") >= 3


def test_cli_refuses_a_pickled_model_in_one_line(saved, tmp_path, monkeypatch):
    d, _, _ = saved
    monkeypatch.chdir(d)
    r = CliRunner().invoke(
        app, ["evaluate", "--model", "full.pt", "--data", "tree", "--out", str(tmp_path), *_EVAL]
    )
    assert r.exit_code == 2 and "--trust-pickle" in r.output
    assert "Traceback" not in r.output


def test_cli_attack_takes_the_model_options(saved, tmp_path, monkeypatch):
    d, _, _ = saved
    monkeypatch.chdir(d)
    r = CliRunner().invoke(
        app,
        ["attack", "--model", "torchvision:resnet18", "--weights", "sd.pt", "--num-classes",
         "10", "--input-size", "32", "--data", "tree", "--out", str(tmp_path / "a"),
         "--limit", "2", "--steps", "1", "--budget", "0.9", "--families", ""],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a" / "attack_summary.json").exists()


def test_cli_model_option_errors_are_one_line(tmp_path):
    for extra, msg in [
        (["--mean", "1,2"], "mean"),
        (["--std", "1,0,1"], "std"),
        (["--weights", str(tmp_path / "nope.pt")], "--weights"),
        (["--classes", str(tmp_path / "nope.txt")], "classes"),
    ]:
        r = CliRunner().invoke(app, ["evaluate", "--out", str(tmp_path / "o"), *extra])
        assert r.exit_code == 2 and msg in r.output, (extra, r.output)
