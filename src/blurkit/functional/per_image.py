"""One kernel per image, applied image by image on the CPU: the helpers of the per-image
blur operators (``gaussian_per_image``, ``motion_per_image`` of :mod:`blurkit.kernels`).

On the CPU, convolving each image with its own tight kernel by shifted adds beats one
grouped convolution whose kernels are all padded to the largest
(``benchmarks/augment.py``); on accelerators the single batched call wins
(:func:`loop_is_faster` decides).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._padding import pad2d

__all__ = ["loop_is_faster", "each_image", "symmetric_separable", "sparse_conv"]


def loop_is_faster(images: torch.Tensor) -> bool:
    """On the CPU, one convolution per image with that image's tight kernel beats one
    grouped convolution with every kernel padded to the largest (measured by
    ``benchmarks/augment.py``: the per-image kernels are mostly far smaller than the
    largest); on accelerators the single batched call wins."""
    return images.device.type == "cpu" and images.shape[0] > 1


def each_image(images: torch.Tensor, fn: Callable) -> torch.Tensor:
    """``fn(i, images[i:i+1])`` for every image, written into one output tensor."""
    out = torch.empty_like(images)
    for i in range(images.shape[0]):
        out[i : i + 1] = fn(i, images[i : i + 1])
    return out


def symmetric_separable(image: torch.Tensor, w: list[float], boundary: str) -> torch.Tensor:
    """Convolve one image with the symmetric 1-D kernel ``w`` along both axes by shifted adds.

    Pairs of taps share a weight, so a radius-``r`` pass costs ``r + 1`` multiply-adds per
    pixel. On the CPU this beats the engine's grouped convolution about 10x for one image
    (``benchmarks/augment.py``); the result is the same convolution.
    """
    r = len(w) // 2
    h, wd = image.shape[-2:]
    p = pad2d(image, (0, 0, r, r), boundary)
    out = p[..., r : r + h, :] * w[r]
    for d in range(1, r + 1):
        out.add_(p[..., r - d : r - d + h, :] + p[..., r + d : r + d + h, :], alpha=w[r + d])
    p = pad2d(out, (r, r, 0, 0), boundary)
    out = p[..., r : r + wd] * w[r]
    for d in range(1, r + 1):
        out.add_(p[..., r - d : r - d + wd] + p[..., r + d : r + d + wd], alpha=w[r + d])
    return out


def sparse_conv(image: torch.Tensor, taps: list, hy: int, hx: int, boundary: str) -> torch.Tensor:
    """True convolution of one image with a sparse kernel given as ``(dy, dx, weight)`` taps
    (row and column offsets from the centre pixel), by shifted adds of the padded image."""
    h, w = image.shape[-2:]
    p = pad2d(image, (hx, hx, hy, hy), boundary)
    out = torch.zeros_like(image)
    for dy, dx, wt in taps:
        out.add_(p[..., hy - dy : hy - dy + h, hx - dx : hx - dx + w], alpha=wt)
    return out
