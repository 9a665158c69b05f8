"""Model registry: listing, info, loading by name / timm name / file, the bundled model."""

from __future__ import annotations

import pytest
import torch

from blurkit import ParameterError
from blurkit.models import (
    BUNDLED_CIFAR,
    Classifier,
    list_models,
    load_model,
    model_info,
    register_model,
    save_model,
)
from blurkit.models.registry import _REGISTRY


def test_listing_and_every_entry_has_info():
    names = list_models()
    assert names == sorted(names)
    for expected in (BUNDLED_CIFAR, "cifar10_airnet", "cifar10_resnet20", "efficientnet_lite0"):
        assert expected in names
    for n in names:
        info = model_info(n)
        assert info["name"] == n and info["num_classes"] > 0 and info["input_size"] > 0
    assert list_models("cifar10_res*") == ["cifar10_resnet20", "cifar10_resnet9"]


def test_unknown_name_is_a_typed_error_listing_names():
    with pytest.raises(ParameterError, match="cifar10_airnet"):
        load_model("cifar10_nosuchnet")
    with pytest.raises(ParameterError, match="unknown name"):
        model_info("nope")


def test_register_twice_refused():
    @register_model("test_tmp_model", dataset="x", num_classes=2, input_size=8)
    def _b(weights=None):  # pragma: no cover - never built
        raise RuntimeError

    try:
        with pytest.raises(ParameterError, match="already registered"):
            register_model("test_tmp_model", dataset="x", num_classes=2, input_size=8)(_b)
    finally:
        _REGISTRY.pop("test_tmp_model")


def test_every_cifar_architecture_builds_and_runs():
    for name in ("cifar10_airnet", "cifar10_resnet9", "cifar10_resnet20"):
        m = load_model(name)
        assert isinstance(m, Classifier) and not m.training
        assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)
        assert m.classes[0] == "airplane" and m.input_size == 32


def test_bundled_model_loads_and_carries_its_accuracy():
    info = model_info(BUNDLED_CIFAR)
    if not info["bundled_weights"]:
        pytest.skip("bundled weights not present in this checkout")
    assert float(info["test_top1"]) >= 0.85
    m = load_model(BUNDLED_CIFAR)
    out = m(torch.rand(3, 3, 32, 32))
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    assert m.name == BUNDLED_CIFAR


def test_timm_name_with_local_state_dict_and_safetensors(tmp_path):
    pytest.importorskip("timm")
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = timm.create_model("resnet10t", pretrained=False, num_classes=7)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    pt, st = tmp_path / "w.pt", tmp_path / "w.safetensors"
    torch.save({"state_dict": state}, pt)  # the usual checkpoint container
    save_file(state, str(st))
    x = torch.rand(2, 3, 64, 64)
    net.eval()
    for f in (pt, st):
        m = load_model("timm:resnet10t", weights=f, num_classes=7)
        assert m.classes == [str(i) for i in range(7)]
        mean = torch.tensor(net.pretrained_cfg["mean"]).view(1, 3, 1, 1)
        std = torch.tensor(net.pretrained_cfg["std"]).view(1, 3, 1, 1)
        ref = net((x - mean) / std)
        torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)


def test_timm_without_weights_warns_and_never_downloads(monkeypatch):
    pytest.importorskip("timm")
    import timm

    calls = []
    orig = timm.create_model

    def spy(*a, **k):
        calls.append(k.get("pretrained"))
        return orig(*a, **k)

    monkeypatch.setattr(timm, "create_model", spy)
    with pytest.warns(UserWarning, match="randomly initialised"):
        load_model("timm:resnet10t", num_classes=3)
    assert calls and set(calls) == {False}  # (a meta-device build counts the parameters first)


def test_wrong_weights_file_is_a_typed_error(tmp_path):
    pytest.importorskip("timm")
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "bad.pt")
    with pytest.raises(ParameterError, match="keys do not match"):
        load_model("timm:resnet10t", weights=tmp_path / "bad.pt")
    with pytest.raises(ParameterError, match="existing file"):
        load_model("cifar10_airnet", weights=tmp_path / "missing.pt")


def test_save_model_roundtrip_by_path(tmp_path):
    torch.manual_seed(1)
    m = load_model("cifar10_resnet20")
    p = save_model(m, tmp_path / "ft.safetensors", training="unit-test")
    m2 = load_model(p)
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(m2(x), m(x))
    assert m2.info["training"] == "unit-test"
