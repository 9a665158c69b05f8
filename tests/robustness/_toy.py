"""A toy classification task shared by the critical-blur and attack tests: oriented
gratings and a tiny CNN trained on them in a few seconds (deterministic)."""

from __future__ import annotations

import math

import torch
from torch import nn


def gratings(n, size=16, seed=0, classes=4):
    """Noisy oriented gratings; the class is the orientation."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    ang = (
        y.double() * math.pi / classes
        + (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * 0.3
    )
    freq = 0.12 + 0.2 * torch.rand(n, generator=g, dtype=torch.float64)
    phase = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    c = torch.arange(size, dtype=torch.float64)
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    u = xx[None] * ang.cos()[:, None, None] + yy[None] * ang.sin()[:, None, None]
    im = 0.5 + 0.3 * torch.sin(2 * math.pi * freq[:, None, None] * u + phase[:, None, None])
    col = 0.6 + 0.4 * torch.rand(n, 3, 1, 1, generator=g, dtype=torch.float64)
    im = im[:, None] * col + 0.08 * torch.randn(n, 3, size, size, generator=g, dtype=torch.float64)
    return im.clamp(0, 1).float(), y


def train_tiny_cnn(steps=100, batch=32, size=16):
    """A tiny CNN trained for a few seconds to tell grating orientations apart
    (also the fallback model of ``benchmarks/critical_blur.py``)."""
    torch.manual_seed(0)
    m = nn.Sequential(
        nn.Conv2d(3, 12, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(12, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 4),
    )  # fmt: skip
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    for i in range(steps):
        x, y = gratings(batch, size=size, seed=100 + i)
        loss = nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()
