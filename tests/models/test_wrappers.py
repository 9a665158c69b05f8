"""Classifier: normalisation inside, pixel-space input, preprocessing."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from blurkit.models import Classifier, ResizeCenterCrop
from blurkit.models.cifar import AirNet, ResNet9


class _Spy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = None

    def forward(self, x):
        self.seen = x
        return x.mean((2, 3))


def test_classifier_normalises_pixel_input():
    spy = _Spy()
    clf = Classifier(spy, (0.1, 0.2, 0.3), (0.5, 0.25, 0.125), ["a", "b", "c"], 4)
    x = torch.rand(2, 3, 4, 4)
    clf(x)
    expected = (x - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / torch.tensor(
        [0.5, 0.25, 0.125]
    ).view(1, 3, 1, 1)
    torch.testing.assert_close(spy.seen, expected)
    assert clf.num_classes == 3


def test_classifier_gradient_reaches_pixels_and_follows_dtype():
    clf = Classifier(ResNet9(widths=(4, 8, 8, 8)), (0.5,) * 3, (0.5,) * 3, list("abcdefghij"), 32)
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64, requires_grad=True)
    clf.double()(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_default_preprocess_is_to_tensor_in_unit_range():
    clf = Classifier(AirNet(widths=(4, 8, 8)), (0.5,) * 3, (0.5,) * 3, list("abcdefghij"), 32)
    a = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    t = clf.preprocess(Image.fromarray(a))
    assert t.shape == (3, 32, 32) and t.dtype == torch.float32
    torch.testing.assert_close(t, torch.from_numpy(a).permute(2, 0, 1).float() / 255)


def test_resize_center_crop_geometry():
    a = np.zeros((300, 400, 3), np.uint8)
    a[140:160, 190:210] = 255  # a bright square in the middle stays centred
    t = ResizeCenterCrop(256, 224)(Image.fromarray(a))
    assert t.shape == (3, 224, 224)
    ys, xs = torch.nonzero(t[0] > 0.5, as_tuple=True)
    assert abs(ys.float().mean() - 111.5) < 1.5 and abs(xs.float().mean() - 111.5) < 1.5


def test_airnet_whitening_whitens_patches():
    torch.manual_seed(0)
    net = AirNet(widths=(4, 8, 8))
    imgs = torch.rand(64, 3, 8, 8)
    imgs[:, 1] = 0.7 * imgs[:, 0] + 0.3 * imgs[:, 1]  # correlated channels
    net.init_whitening(imgs, eps=0.0)
    out = torch.nn.functional.conv2d(imgs, net.whiten.weight[:12].double().float())
    f = out.permute(0, 2, 3, 1).reshape(-1, 12).double()
    cov = torch.cov(f.T)
    torch.testing.assert_close(cov, torch.eye(12, dtype=torch.float64), atol=2e-2, rtol=0)
    assert not net.whiten.weight.requires_grad
