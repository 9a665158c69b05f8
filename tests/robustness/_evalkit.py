"""Tiny classifier, synthetic dataset and a seeded stand-in corruption for the
evaluation tests (loaded by path; also imported by the subprocess scripts)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TinyNet(nn.Module):
    """A small conv net with seeded weights: predictions depend on texture, so blur changes them."""

    def __init__(self, seed: int = 0, classes: int = 4):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        self.name = f"tiny{seed}"
        self.classes = [f"c{i}" for i in range(classes)]

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).mean((2, 3)))


def make_dataset(n: int = 30, size: int = 16, seed: int = 0, classes: int = 4):
    """A list of ``(image, label, index)``; labels are the clean predictions of
    ``TinyNet(0)`` for two thirds of the images (so accuracy is neither 0 nor 1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    with torch.no_grad():
        pred = TinyNet(0, classes)(x).argmax(1)
    rand = torch.randint(0, classes, (n,), generator=g)
    y = torch.where(torch.arange(n) % 3 == 2, rand, pred)
    return [(x[i], int(y[i]), i) for i in range(n)]


class Counter:
    """A seeded stand-in for ``blurkit.corrupt``: box blur of width 2*severity+1
    plus per-image noise drawn from the per-image seeds; counts its calls."""

    def __init__(self):
        self.calls = 0
        self.seeds = []

    def __call__(self, x, name, severity, *, preset, seed):
        self.calls += 1
        self.seeds.append(list(seed))
        k = 2 * int(round(severity)) + 1
        if name in ("box", "defocus_blur", "motion_blur"):
            x = F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)
        noise = torch.stack(
            [
                torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(int(s)))
                for s in seed
            ]
        )
        return (x + 0.03 * severity * noise.to(x)).clamp(0, 1)
