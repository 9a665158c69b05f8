"""Malformed or hostile weight files raise typed errors: no SafetensorError, RecursionError,
JSONDecodeError or KeyError escapes, no load is partial, and sizes read from a file are
checked before anything is allocated."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from blurkit._checks import BlurkitError, ParameterError
from blurkit.models import ARCHITECTURES, estimate_parameters, instantiate, load_model, load_trained


def _st(path, meta, state=None):
    save_file(state or {"x": torch.zeros(1)}, str(path), metadata=meta)
    return path


def test_garbage_and_truncated_files_are_typed_errors(tmp_path):
    (tmp_path / "g.safetensors").write_bytes(b"\x00" * 3)
    huge = struct.pack("<Q", 2**60) + b"{}"
    (tmp_path / "h.safetensors").write_bytes(huge)
    (tmp_path / "j.safetensors").write_bytes(struct.pack("<Q", 5) + b"{nope")
    good = tmp_path / "ok.pt"
    torch.save({"a": torch.zeros(100)}, good)
    (tmp_path / "t.pt").write_bytes(good.read_bytes()[:200])
    (tmp_path / "n.pt").write_bytes(b"not a torch file at all")
    for f in ("g.safetensors", "h.safetensors", "j.safetensors"):
        with pytest.raises(ParameterError, match="not a readable safetensors"):
            load_model(tmp_path / f)
        with pytest.raises(ParameterError):
            load_model("cifar10_resnet20", weights=tmp_path / f)
    for f in ("t.pt", "n.pt"):
        with pytest.raises(ParameterError):
            load_model("cifar10_resnet20", weights=tmp_path / f)
        with pytest.raises(BlurkitError):
            load_model(tmp_path / f)


def test_metadata_naming_itself_is_refused_not_recursed(tmp_path):
    f = tmp_path / "self.safetensors"
    _st(f, {"blurkit_model": str(f)})
    with pytest.raises(ParameterError, match="never followed"):
        load_model(f)


@pytest.mark.parametrize(
    "meta,match",
    [
        ({"blurkit_model": "airnet", "blurkit_kwargs": "{nope"}, "not valid JSON"),
        ({"blurkit_model": "airnet", "blurkit_kwargs": "[1, 2]"}, "should be a dict"),
        ({"blurkit_model": "airnet", "blurkit_kwargs": '{"widths": "abc"}'}, "widths"),
        ({"blurkit_model": "airnet", "blurkit_kwargs": '{"depth": 3}'}, "unknown"),
        ({"blurkit_model": "cifar10_airnet", "blurkit_kwargs": '{"evil": 1}'}, "no keyword"),
        ({"blurkit_model": "airnet-tiny", "blurkit_classes": "{}"}, "should be a list"),
        ({"blurkit_model": "airnet-tiny", "blurkit_classes": '["a"]'}, "1 class names for 10"),
        ({"blurkit_model": "airnet-tiny", "blurkit_input_size": "-3"}, "input_size"),
        (
            {"blurkit_model": "airnet-tiny", "blurkit_mean": "[1]", "blurkit_std": "[1, 1, 1]"},
            "mean",
        ),
        ({"x": "y"}, "no architecture metadata"),
    ],
)
def test_bad_metadata_values_are_typed_errors(tmp_path, meta, match):
    sd = {k: v.contiguous() for k, v in instantiate("airnet-tiny", {}, 10).state_dict().items()}
    with pytest.raises(ParameterError, match=match):
        load_model(_st(tmp_path / "m.safetensors", meta, sd))


def test_huge_widths_raise_before_allocating(tmp_path):
    big = '{"widths": [200000, 200000, 200000]}'
    with pytest.raises(ParameterError, match="would allocate"):
        load_model(
            _st(tmp_path / "a.safetensors", {"blurkit_model": "airnet", "blurkit_kwargs": big})
        )
    meta = {"architecture": "AirNet", "widths": "[300000, 300000, 300000]", "classes": '["a"]',
            "mean": "[0, 0, 0]", "std": "[1, 1, 1]", "input_size": "32"}  # fmt: skip
    with pytest.raises(ParameterError, match="would allocate"):
        load_trained(_st(tmp_path / "b.safetensors", meta))
    tv = {"blurkit_model": "torchvision:resnet18", "blurkit_kwargs": '{"num_classes": 1000000000}'}
    with pytest.raises(ParameterError, match="would allocate"):
        load_model(_st(tmp_path / "c.safetensors", tv))
    state = {"arch": "resnet9", "arch_kwargs": {"widths": [10**6] * 4}, "state_dict": {},
             "classes": ["a", "b"], "mean": [0, 0, 0], "std": [1, 1, 1], "input_size": 32}  # fmt: skip
    torch.save(state, tmp_path / "model.pt")
    with pytest.raises(ParameterError, match="would allocate"):
        load_trained(tmp_path)


def test_training_outputs_with_missing_fields_are_typed_errors(tmp_path):
    torch.save({"arch": "airnet-tiny", "classes": ["a", "b"]}, tmp_path / "model.pt")
    with pytest.raises(ParameterError, match="missing"):
        load_trained(tmp_path)
    meta = {"architecture": "AirNet", "widths": "[8, 16, 16]"}
    with pytest.raises(ParameterError, match="no 'classes'"):
        load_trained(_st(tmp_path / "m.safetensors", meta))


def test_load_trained_is_strict(tmp_path):
    net = instantiate("airnet-tiny", {}, 2)
    sd = net.state_dict()
    sd.pop("fc.weight")
    meta = {"architecture": "AirNet", "widths": "[8, 16, 16]", "classes": '["a", "b"]',
            "mean": "[0, 0, 0]", "std": "[1, 1, 1]", "input_size": "32"}  # fmt: skip
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "m.safetensors"), meta)
    with pytest.raises(ParameterError, match=r"missing 1 \['fc.weight'\]"):
        load_trained(tmp_path / "m.safetensors")
    state = {"arch": "airnet-tiny", "arch_kwargs": {}, "state_dict": {**sd, "junk": torch.zeros(1)},
             "classes": ["a", "b"], "mean": [0, 0, 0], "std": [1, 1, 1], "input_size": 32}  # fmt: skip
    torch.save(state, tmp_path / "model.pt")
    with pytest.raises(ParameterError, match=r"unexpected 1 \['junk'\]"):
        load_trained(tmp_path)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_parameter_estimate_is_exact(arch):
    net = instantiate(arch, {}, 7)
    n = sum(p.numel() for p in net.parameters())
    assert estimate_parameters(arch, {}, 7) == n


def test_train_and_evaluate_take_the_same_names():
    a = load_model("cifar10_airnet")
    b = load_model("airnet")
    assert a.info["arch"] == b.info["arch"] == "airnet"
    assert json.dumps(a.info["arch_kwargs"]) == json.dumps(b.info["arch_kwargs"])
    assert load_model("cifar10_resnet20", num_classes=3).num_classes == 3
