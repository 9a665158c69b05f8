"""No file handed to `blurkit train` runs code: --finetune, model.pt and checkpoint resume all
read with weights_only=True; the README's `train --model cifar10_airnet` works."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from blurkit._checks import ParameterError, UnsafeFileError
from blurkit.cli import app
from blurkit.defenses.methods import load_trained, train_model
from blurkit.defenses.training import load_checkpoint


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree") / "train"
    g = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(16):
            Image.fromarray(g.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                root / name / f"{i}.png"
            )
    return root


_FAST = ["--batch-size", "16", "--threads", "1", "-q"]


def test_finetune_from_a_malicious_file_never_runs_it(tree, tmp_path):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    torch.save({"arch": "airnet-tiny", "state_dict": _Payload(marker)}, evil)
    r = CliRunner().invoke(
        app, ["train", "--data", str(tree), "--out", str(tmp_path / "o"), "--finetune", str(evil), *_FAST]
    )  # fmt: skip
    assert r.exit_code == 2, r.output
    assert "refused" in r.output and not marker.exists()
    with pytest.raises(UnsafeFileError):
        load_trained(evil)
    assert not marker.exists()


def test_resume_from_a_malicious_checkpoint_never_runs_it(tree, tmp_path):
    marker = tmp_path / "PWNED"
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"model": _Payload(marker)}, out / "checkpoint.pt")
    with pytest.raises(UnsafeFileError, match="refused"):
        train_model(tree, out, model="airnet-tiny", batch_size=16, threads=1, log=lambda s: None)
    assert not marker.exists()
    (out / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(ParameterError, match="delete it"):
        train_model(tree, out, model="airnet-tiny", batch_size=16, threads=1, log=lambda s: None)


def test_adversarial_warm_start_checkpoint_is_plain_data(tree, tmp_path):
    out = tmp_path / "adv"
    train_model(
        tree, out, model="airnet-tiny", method="adversarial", batch_size=16, threads=1,
        method_options={"adversary": {"steps": 1, "warm_start": True}}, log=lambda s: None,
    )  # fmt: skip
    state = load_checkpoint(out / "checkpoint.pt")  # weights_only=True
    bank = state["strategy"]["adversary"]["bank"]
    assert isinstance(bank, torch.Tensor) and bank.shape[0] > 0
    assert state["gen"].dtype == torch.uint8


def test_train_takes_the_registry_architecture_names(tree, tmp_path):
    out = tmp_path / "reg"
    r = CliRunner().invoke(
        app, ["train", "--data", str(tree), "--out", str(out), "--model", "cifar10_airnet", *_FAST]
    )
    assert r.exit_code == 0, r.output
    clf = load_trained(out)
    assert clf.info["arch"] == "airnet" and clf.classes == ["a", "b"]
    from blurkit.models import load_model

    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(load_model(out)(x), clf(x))  # evaluate --model <train output>
    r = CliRunner().invoke(
        app, ["train", "--data", str(tree), "--out", str(tmp_path / "x"),
              "--model", "cifar10_airnet-baseline", *_FAST],
    )  # fmt: skip
    assert r.exit_code == 2 and "--finetune" in r.output


def test_finetune_a_torchvision_model_from_weights(tree, tmp_path):
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    torch.save(tv.models.resnet18(num_classes=2).state_dict(), tmp_path / "w.pt")
    out = tmp_path / "ft"
    r = CliRunner().invoke(
        app, ["train", "--data", str(tree), "--out", str(out), "--finetune", "torchvision:resnet18",
              "--weights", str(tmp_path / "w.pt"), "--num-classes", "2", "--limit", "16", *_FAST],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    clf = load_trained(out)
    assert clf.info["arch"] == "torchvision:resnet18" and clf.classes == ["a", "b"]
    assert clf(torch.rand(2, 3, 32, 32)).shape == (2, 2)


def test_npz_training_data_is_read_without_pickle(tmp_path):
    from blurkit.defenses.methods import load_training_arrays

    np.savez(tmp_path / "obj.npz", images=np.array([_Payload(tmp_path / "PWNED")], dtype=object),
             labels=np.zeros(1, np.int64))  # fmt: skip
    with pytest.raises(ParameterError, match="could not read"):
        load_training_arrays(tmp_path / "obj.npz")
    assert not (tmp_path / "PWNED").exists()
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 8, 8, 3), np.uint8), labels=np.zeros(3))
    with pytest.raises(ParameterError, match="labels must be 2 integers"):
        load_training_arrays(tmp_path / "bad.npz")
    np.savez(tmp_path / "ok.npz", images=np.zeros((2, 8, 8, 3), np.uint8), labels=[0, 1])
    x, y, classes = load_training_arrays(tmp_path / "ok.npz")
    assert x.shape == (2, 8, 8, 3) and classes == ["0", "1"]


@pytest.mark.parametrize("how", ["model", "weights"])
def test_evaluate_never_runs_a_payload_model(tmp_path, how):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": _Payload(marker)}, evil)
    args = (
        ["--model", str(evil)]
        if how == "model"
        else ["--model", "cifar10_resnet20", "--weights", str(evil)]
    )
    r = CliRunner().invoke(app, ["evaluate", *args, "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 2 and "refused" in r.output, r.output
    assert not marker.exists()
