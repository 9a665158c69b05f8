"""The bundled CIFAR-10 sample and the bundled model's accuracy on it."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from blurkit.data import make_loader, open_dataset
from blurkit.models import BUNDLED_CIFAR, load_model, model_info


def test_sample_has_100_images_per_class():
    ds = open_dataset("sample")
    assert len(ds) == 1000 and ds.skipped == []
    assert ds.classes[0] == "airplane" and len(ds.classes) == 10
    assert Counter(ds.labels) == {c: 100 for c in range(10)}
    x, y, i = ds[999]
    assert x.shape == (3, 32, 32) and 0 <= x.min() and x.max() <= 1 and y == 9


def test_bundled_model_accuracy_on_the_sample():
    if not model_info(BUNDLED_CIFAR)["bundled_weights"]:
        pytest.skip("bundled weights not present in this checkout")
    model = load_model(BUNDLED_CIFAR)
    ds = open_dataset("sample", classes=model.classes)
    correct = 0
    with torch.no_grad():
        for x, y, _ in make_loader(ds, 500):
            correct += (model(x).argmax(1) == y).sum().item()
    assert correct / len(ds) >= 0.85
