"""Boundary handling by index arithmetic.

``torch.nn.functional.pad`` refuses reflect padding wider than the image, yet a
blur kernel larger than a small image (a 32x32 CIFAR image under a 41-pixel
motion streak) is ordinary here. Padding by gathering rows and columns with
indices computed for each boundary rule works for any pad width, is
differentiable, and stays on the input's device.

Boundary names follow the convention of OpenCV / ``torch`` padding:

- ``reflect``: mirror without repeating the edge pixel (``dcb|abcd|cba``),
  OpenCV ``BORDER_REFLECT_101``, numpy ``reflect``.
- ``symmetric``: mirror repeating the edge (``cba|abcd|dcb``), scipy
  ``ndimage`` ``reflect``, OpenCV ``BORDER_REFLECT``.
- ``replicate``: repeat the edge pixel, scipy ``nearest``.
- ``circular``: wrap around.
- ``zeros``: pad with zeros.
"""

from __future__ import annotations

import torch

BOUNDARIES = ("reflect", "symmetric", "replicate", "circular", "zeros")


def boundary_index(n: int, before: int, after: int, mode: str, device=None) -> torch.Tensor:
    """Source indices for a padded axis of length ``n + before + after``."""
    idx = torch.arange(-before, n + after, device=device)
    if mode == "replicate":
        return idx.clamp_(0, n - 1)
    if mode == "circular":
        return idx.remainder_(n)
    if mode == "reflect":
        if n == 1:
            return torch.zeros_like(idx)
        period = 2 * (n - 1)
        idx = idx.remainder_(period)
        return torch.where(idx >= n, period - idx, idx)
    if mode == "symmetric":
        period = 2 * n
        idx = idx.remainder_(period)
        return torch.where(idx >= n, period - 1 - idx, idx)
    raise ValueError(mode)


def pad2d(x: torch.Tensor, pad: tuple[int, int, int, int], mode: str) -> torch.Tensor:
    """Pad the last two axes by ``(left, right, top, bottom)`` under a boundary rule."""
    left, right, top, bottom = pad
    if mode == "zeros":
        return torch.nn.functional.pad(x, (left, right, top, bottom))
    h, w = x.shape[-2:]
    if (
        mode in ("reflect", "replicate", "circular")
        and max(left, right) < w
        and max(top, bottom) < h
    ):
        # the native op is faster; it covers every case where the pad fits inside the image
        return torch.nn.functional.pad(x, (left, right, top, bottom), mode=mode)
    if top or bottom:
        x = x.index_select(-2, boundary_index(h, top, bottom, mode, x.device))
    if left or right:
        x = x.index_select(-1, boundary_index(w, left, right, mode, x.device))
    return x
