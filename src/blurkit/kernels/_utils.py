"""Kernel utilities shared by every PSF family: grids, normalisation, centring,
cropping to the energy support, composition and rendering."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._checks import (
    MAX_KERNEL_SIZE,
    ParameterError,
    check_allocation,
    check_int,
    check_kernel,
    check_kernel_values,
    check_scalar,
    check_size,
    float_dtype,
    trusted_values,
)
from ..functional.conv import blur

__all__ = [
    "kernel_grid",
    "odd_size",
    "normalize_kernel",
    "center_kernel",
    "crop_to_energy",
    "compose_kernels",
    "pad_kernel",
    "kernel_centroid",
    "render_kernels",
]

# the largest kernel side blurkit builds (the one size rule of ``_checks``)
MAX_AUTO_SIZE = MAX_KERNEL_SIZE


def odd_size(half_width: float, name: str = "size") -> int:
    """Odd kernel side ``2 * ceil(half_width) + 1``, checked against :data:`MAX_AUTO_SIZE`."""
    hw = float(half_width)
    if not math.isfinite(hw) or hw > MAX_AUTO_SIZE:
        raise ParameterError(
            f"{name}: the kernel would be wider than {MAX_AUTO_SIZE} pixels (got a half-width of {hw:g}); check the parameter's units"
        )
    return check_size(2 * int(math.ceil(max(hw, 0.0))) + 1, name, limit=MAX_AUTO_SIZE)


def _param_max(t: torch.Tensor, default: float = 0.0) -> float:
    """``float(t.max())`` of a parameter batch, ``default`` for an empty batch (B = 0)."""
    return float(t.detach().max()) if t.numel() else default


def _batch_of(*sizes: int) -> int:
    """The batch of broadcast parameters: sizes 1 stretch, and an empty one (0) wins."""
    return 0 if 0 in sizes else max(sizes)


def _blur_checked(
    x: torch.Tensor, single: bool, k: torch.Tensor, boundary: str, method: str
) -> torch.Tensor:
    """The last step of every ``*_blur`` function: blur the checked images ``x`` with the
    kernels ``k`` built from checked parameters (so without a second value pass), and drop
    the batch axis again when the input was one ``(C, H, W)`` image (``single``)."""
    with trusted_values():
        out = blur(x, k, boundary=boundary, method=method)
    return out[0] if single else out


def _reduce_angle(degrees: torch.Tensor) -> torch.Tensor:
    """Angles of 360 degrees or more (in magnitude) brought into (-360, 360) by ``fmod``,
    which is exact; smaller ones are returned untouched, bit for bit. Without it a huge
    angle (1e30) leaves trigonometry's accurate range and yields points off the kernel."""
    if degrees.numel() == 0:
        return degrees
    return torch.where(degrees.abs() >= 360, torch.fmod(degrees, 360), degrees)


def kernel_grid(
    size: int | tuple[int, int], device=None, dtype=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates ``(x, y)`` of a kernel, origin at index ``k // 2``.

    ``x`` grows to the right, ``y`` grows *upwards* (image rows are flipped), so
    that angles measured counter-clockwise from the x axis look that way on screen.
    Both are ``(kh, kw)``; each side is a positive integer up to :data:`MAX_AUTO_SIZE`.
    """
    if isinstance(size, (tuple, list)) and len(size) == 2:
        kh, kw = (check_size(v, "size", odd=False) for v in size)
    else:
        kh = kw = check_size(size, "size", odd=False)
    dtype = float_dtype(dtype)
    ys = -(torch.arange(kh, device=device, dtype=dtype) - kh // 2)
    xs = torch.arange(kw, device=device, dtype=dtype) - kw // 2
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return x, y


def normalize_kernel(k: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each kernel (per batch item and channel) to sum 1.

    Raises:
        ParameterError: a kernel that is not finite, has negative taps (beyond float
            rounding, which is clamped to 0) or sums to zero: no PSF normalises from it.
    """
    k = check_kernel(k)
    check_kernel_values(k)
    return _normalize(k, eps)


def _normalize(k: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    # the builders' normalisation: their kernels are non-negative by construction
    k = k.clamp_min(0)
    return k / k.sum(dim=(-2, -1), keepdim=True).clamp_min(eps)


def kernel_centroid(k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroid ``(cy, cx)`` in index coordinates, each ``(B, C)``."""
    k = check_kernel(k)
    kh, kw = k.shape[-2:]
    ys = torch.arange(kh, device=k.device, dtype=k.dtype)
    xs = torch.arange(kw, device=k.device, dtype=k.dtype)
    mass = k.sum(dim=(-2, -1)).clamp_min(1e-12)
    cy = (k.sum(-1) * ys).sum(-1) / mass
    cx = (k.sum(-2) * xs).sum(-1) / mass
    return cy, cx


def _shift(k: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    # bilinear sub-pixel shift via grid_sample, zeros outside
    b, c, kh, kw = k.shape
    theta = torch.zeros(b * c, 2, 3, device=k.device, dtype=k.dtype)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, 0, 2] = -dx.reshape(-1) * 2 / kw
    theta[:, 1, 2] = -dy.reshape(-1) * 2 / kh
    grid = F.affine_grid(theta, (b * c, 1, kh, kw), align_corners=False)
    out = F.grid_sample(
        k.reshape(b * c, 1, kh, kw),
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    return out.reshape(b, c, kh, kw)


def center_kernel(k: torch.Tensor) -> torch.Tensor:
    """Shift each kernel (sub-pixel, bilinear) so its centroid sits on the centre pixel.

    A kernel whose centroid is off-centre translates the image as well as
    blurring it; the tensor contract keeps kernels centred. Renormalises.
    """
    k = check_kernel(k)
    check_kernel_values(k)
    kh, kw = k.shape[-2:]
    cy, cx = kernel_centroid(k)
    return _normalize(_shift(k, (kh // 2) - cy, (kw // 2) - cx))


def crop_to_energy(k: torch.Tensor, fraction: float = 0.999) -> torch.Tensor:
    """Crop symmetrically about the centre to the smallest odd square holding ``fraction``
    of every kernel's energy, then renormalise. One size for the whole batch (the largest)."""
    k = check_kernel(k)
    check_kernel_values(k)
    fraction = check_scalar(fraction, "fraction", low=0.0, high=1.0, low_inclusive=False)
    kh, kw = k.shape[-2:]
    cy, cx = kh // 2, kw // 2
    total = k.sum(dim=(-2, -1)).clamp_min(1e-12)
    for r in range(0, max(kh, kw)):
        y0, y1 = max(cy - r, 0), min(cy + r + 1, kh)
        x0, x1 = max(cx - r, 0), min(cx + r + 1, kw)
        held = k[..., y0:y1, x0:x1].sum(dim=(-2, -1)) / total
        if bool((held >= fraction).all()):
            return _normalize(k[..., y0:y1, x0:x1])
    return _normalize(k)


def pad_kernel(k: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero-pad kernels to ``size`` keeping the centre pixel at index ``size // 2``."""
    k = check_kernel(k)
    kh, kw = k.shape[-2:]
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ParameterError(f"size: expected a pair (height, width), got {size!r}"[:200])
    th, tw = (check_int(v, "size", low=1) for v in size)
    if th < kh or tw < kw:
        raise ParameterError(f"size: expected at least {(kh, kw)}, got {size}")
    check_allocation("size", (k.shape[0], k.shape[1], th, tw), itemsize=k.element_size())
    top, left = th // 2 - kh // 2, tw // 2 - kw // 2
    return F.pad(k, (left, tw - kw - left, top, th - kh - top))


def compose_kernels(k1: torch.Tensor, k2: torch.Tensor) -> torch.Tensor:
    """The kernel of blurring by ``k1`` then by ``k2`` (their full convolution).

    Example:
        >>> a = torch.ones(1, 1, 3, 3) / 9
        >>> compose_kernels(a, a).shape
        torch.Size([1, 1, 5, 5])
    """
    k1, k2 = check_kernel(k1, "k1"), check_kernel(k2, "k2")
    h = k1.shape[-2] + k2.shape[-2] - 1
    w = k1.shape[-1] + k2.shape[-1] - 1
    b = max(k1.shape[0], k2.shape[0])
    c = max(k1.shape[1], k2.shape[1])
    check_kernel_values(k1, "k1")
    check_kernel_values(k2, "k2")
    big = pad_kernel(k1, (h, w)).expand(b, c, h, w)
    return _normalize(blur(big, k2, boundary="zeros"))


def render_kernels(k: torch.Tensor, gamma: float = 0.5) -> torch.Tensor:
    """Kernels as displayable images in [0, 1]: each scaled to its own peak, gamma for tails.

    Returns ``(B, 3, kh, kw)``; single-channel kernels become grey.
    """
    k = check_kernel(k).detach()
    peak = k.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    img = (k / peak).clamp(0, 1) ** gamma
    if img.shape[1] == 1:
        img = img.expand(-1, 3, -1, -1)
    elif img.shape[1] != 3:
        img = img.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    return img
