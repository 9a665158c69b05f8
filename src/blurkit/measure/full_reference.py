"""Full-reference fidelity between a sharp image and its blurred (or restored) version.

PSNR, SSIM (Wang et al., "Image quality assessment: from error visibility to
structural similarity", IEEE TIP 13(4), 2004, doi:10.1109/TIP.2003.819861) and
MS-SSIM (Wang, Simoncelli & Bovik, "Multiscale structural similarity for image
quality assessment", Asilomar 2003, doi:10.1109/ACSSC.2003.1292216).

All three are batched (one value per image, ``(B,)``), follow the input's device
and dtype, and are differentiable with respect to both images: they are used as
fidelity constraints inside optimisation (e.g. "the worst blur that keeps
SSIM >= 0.8"). Higher is more similar for all three.

Why not written here: SSIM and MS-SSIM come from ``pytorch_msssim`` (a
well-kept, differentiable PyTorch implementation of the reference definitions:
11-tap Gaussian window of sigma 1.5, ``K = (0.01, 0.03)``, statistics over the
*valid* part of the image, per channel, then averaged over channels). This
module only adds input checks, the ``(B,)`` contract, and the small-image rule
for MS-SSIM below. Values are pinned in the tests against scikit-image's
``structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, channel_axis=0)``, which uses the same Gaussian
window and crops the same border (scikit-image's *default* is a 7x7 uniform
window with the sample covariance, which gives different numbers).

Small images:
    - SSIM needs at least an 11x11 image for the 11-tap window. Smaller images
      (down to 3 px) use the largest odd window that fits, with the same sigma
      (scikit-image would refuse them).
    - MS-SSIM at its 5 standard scales needs the shorter side to exceed
      ``(win_size - 1) * 2**4 = 160`` pixels. Smaller images use only the
      ``L`` finest scales that fit (``side > 10 * 2**(L - 1)``: 161+ px -> 5,
      81-160 -> 4, 41-80 -> 3, 21-40 -> 2 (CIFAR's 32 px), 11-20 -> 1 (plain SSIM)),
      with the standard weights ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``
      truncated to ``L`` and renormalised to sum 1, so a perfect match still
      scores 1. Values are therefore comparable only between images of the same
      number of scales; :func:`ms_ssim_levels` says how many were used.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pytorch_msssim import ssim as _pm_ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d
from pytorch_msssim.ssim import _ssim as _pm_ssim_cs

from ._inputs import check_data_range, check_pair, finish

__all__ = ["psnr", "ssim", "ms_ssim", "ms_ssim_levels", "MS_SSIM_WEIGHTS"]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN = 11
_SIGMA = 1.5


def psnr(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "none"
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range**2 / MSE)``, per image.

    The MSE is taken over all channels and pixels of each image. Identical images
    give ``inf``.

    Args:
        x, y: ``(B, C, H, W)`` or ``(C, H, W)`` images of the same shape.
        data_range: the span of possible values (1.0 for images in [0, 1]).
        reduction: ``"none"`` (one value per image), ``"mean"`` or ``"sum"``.

    Returns:
        ``(B,)`` (or 0-d for a single image or a reduction). Higher = more similar.

    Example:
        >>> x = torch.zeros(2, 1, 8, 8); y = x + 0.1
        >>> psnr(x, y).tolist()
        [20.0, 20.0]
    """
    x4, y4, single, dt = check_pair(x, y)
    dr = check_data_range(data_range)
    mse = (x4 - y4).pow(2).flatten(1).mean(1)
    val = 20.0 * math.log10(dr) - 10.0 * torch.log10(mse)
    return finish(val, reduction, single, dt)


def _window(min_side: int) -> int:
    return _WIN if min_side >= _WIN else min_side - (1 - min_side % 2)


def _win(c: int, size: int, x: torch.Tensor) -> torch.Tensor:
    w = _fspecial_gauss_1d(size, _SIGMA).to(device=x.device, dtype=x.dtype)
    return w.repeat(c, 1, 1, 1)


def ssim(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "none"
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004), Gaussian window, per image.

    Computed per channel over the valid region (no padding) and averaged over
    channels. Equals 1 for identical images.

    Args:
        x, y: ``(B, C, H, W)`` or ``(C, H, W)`` images of the same shape, at least 3x3.
        data_range: the span of possible values (1.0 for images in [0, 1]).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        ``(B,)`` values in [-1, 1]. Higher = more similar.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> ssim(x, x).tolist()
        [1.0, 1.0]
    """
    x4, y4, single, dt = check_pair(x, y, min_size=3)
    dr = check_data_range(data_range)
    if x4.shape[0] == 0:
        return finish(x4.new_zeros(0), reduction, single, dt)
    size = _window(min(x4.shape[-2:]))
    val = _pm_ssim(x4, y4, data_range=dr, size_average=False, win=_win(x4.shape[1], size, x4))
    return finish(val, reduction, single, dt)


def ms_ssim_levels(height: int, width: int) -> int:
    """Number of MS-SSIM scales used for an image of this size (5 from 161 px up).

    >>> ms_ssim_levels(224, 224), ms_ssim_levels(32, 32)
    (5, 2)
    """
    side = min(height, width)
    levels = 1
    while levels < len(MS_SSIM_WEIGHTS) and side > (_WIN - 1) * 2**levels:
        levels += 1
    return levels


def ms_ssim(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "none"
) -> torch.Tensor:
    """Multi-scale SSIM (Wang, Simoncelli & Bovik 2003), per image.

    At each of up to 5 scales (2x average-pooled) the contrast-structure term is
    taken; the luminance term only at the coarsest; they are combined as a
    weighted geometric mean. Images with a shorter side of 160 px or less use
    fewer scales with renormalised weights (see the module docstring).

    Args:
        x, y: ``(B, C, H, W)`` or ``(C, H, W)`` images of the same shape, at least 11x11.
        data_range: the span of possible values (1.0 for images in [0, 1]).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        ``(B,)`` values in [0, 1]. Higher = more similar.

    Example:
        >>> x = torch.rand(1, 3, 64, 64)
        >>> round(float(ms_ssim(x, x)[0]), 6)
        1.0
    """
    x4, y4, single, dt = check_pair(x, y, min_size=_WIN)
    dr = check_data_range(data_range)
    if x4.shape[0] == 0:
        return finish(x4.new_zeros(0), reduction, single, dt)
    levels = ms_ssim_levels(*x4.shape[-2:])
    w = torch.tensor(MS_SSIM_WEIGHTS[:levels], dtype=x4.dtype, device=x4.device)
    if levels < len(MS_SSIM_WEIGHTS):  # the 5 standard weights are used as published
        w = w / w.sum()
    win = _win(x4.shape[1], _WIN, x4)
    terms = []
    a, b = x4, y4
    for i in range(levels):
        s, cs = _pm_ssim_cs(a, b, data_range=dr, win=win, size_average=False)
        if i < levels - 1:
            terms.append(torch.relu(cs))
            pad = [s_ % 2 for s_ in a.shape[2:]]
            a = F.avg_pool2d(a, kernel_size=2, padding=pad)
            b = F.avg_pool2d(b, kernel_size=2, padding=pad)
    terms.append(torch.relu(s))
    stacked = torch.stack(terms, 0)  # (levels, B, C)
    val = torch.prod(stacked ** w.view(-1, 1, 1), 0).mean(1)
    return finish(val, reduction, single, dt)
