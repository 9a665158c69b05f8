"""FeatureEncoder: pre-logits of classifiers (CIFAR, timm, torchvision), named layers, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from blurkit import ParameterError, ShapeError
from blurkit.models import Classifier
from blurkit.models.cifar import ResNet9
from blurkit.models.features import FeatureEncoder, list_layers


def _clf():
    torch.manual_seed(0)
    net = ResNet9(widths=(4, 8, 8, 8))
    return Classifier(net, (0.5,) * 3, (0.5,) * 3, classes=list("abcdefghij"), input_size=32).eval()


def test_classifier_features_are_the_heads_input():
    clf = _clf()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        f = FeatureEncoder(clf)(x)
        # the head applied to the features gives the logits: they are its input
        assert torch.allclose(clf.net.fc(f) * clf.net.scale, clf(x), atol=1e-6)
    assert f.shape == (3, 8)


def test_timm_pre_logits_agree_with_forward_head():
    timm = pytest.importorskip("timm")
    net = timm.create_model("resnet10t", pretrained=False, num_classes=5).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        ref = net.forward_head(net.forward_features(x), pre_logits=True)
        assert torch.allclose(FeatureEncoder(net)(x), ref, atol=1e-5)


def test_torchvision_features_are_the_pooled_fc_input():
    models = pytest.importorskip("torchvision.models")
    net = models.resnet18(num_classes=4).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        body = nn.Sequential(*list(net.children())[:-1])
        ref = body(x).flatten(1)
        assert torch.allclose(FeatureEncoder(net)(x), ref, atol=1e-5)


def test_named_layer_is_pooled_and_an_encoder_output_passes_through():
    clf = _clf()
    assert "net.layer1" in list_layers(clf) or len(list_layers(clf)) > 3
    name = next(n for n, m in clf.named_modules() if isinstance(m, nn.Conv2d))
    f = FeatureEncoder(clf, layer=name)(torch.rand(2, 3, 32, 32))
    assert f.ndim == 2 and f.shape[0] == 2
    enc = nn.Sequential(nn.Flatten(), nn.Linear(12, 6))
    assert FeatureEncoder(enc, layer="output")(torch.rand(2, 3, 2, 2)).shape == (2, 6)
    conv = nn.Sequential(nn.Conv2d(3, 5, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    assert FeatureEncoder(conv)(torch.rand(2, 3, 8, 8)).shape == (2, 5)  # no linear: output


def test_unknown_layer_lists_the_available_ones():
    with pytest.raises(ParameterError, match="no sub-module 'net.layr1'.*layers:"):
        FeatureEncoder(_clf(), layer="net.layr1")


def test_wrong_rank_encoder_is_a_typed_error():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ShapeError, match=r"expected \(B, D\)"):
        FeatureEncoder(conv)(torch.rand(2, 3, 8, 8))


def test_classifier_features_method_is_the_encoder():
    clf, x = _clf(), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(clf.features(x), FeatureEncoder(clf)(x))
        assert clf.features(x, layer="net.layer3").shape == (2, 8)
