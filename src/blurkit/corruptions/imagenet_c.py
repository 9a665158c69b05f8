"""The five ImageNet-C / CIFAR-10-C blur corruptions, batched and compatible with the reference.

Why: ImageNet-C (Hendrycks and Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019,
arXiv:1903.12261) is how the field reports blur robustness; its numbers are
only comparable when the corruptions are computed the same way. The
reference here is the maintained port ``imagecorruptions`` (fork
``imagecorruptions-imaug`` 1.1.5), which works on one uint8 HWC image at a
time on the CPU, fails on grey images and on images under 32 pixels, and is
slow for glass and zoom blur. This module computes the same functions as
batched tensor operations on the images' device, for any size down to 8
pixels and any number of channels, and extends the severity tables to
fractional severities (linear interpolation between rows).

Each family, and how it matches the reference (images are float in [0, 1]
here, uint8 in the reference; outputs are clipped to [0, 1] as the reference
clips to [0, 255]):

- ``gaussian_blur``: scikit-image ``gaussian`` (truncate 4, boundary
  ``nearest``) = separable sampled Gaussian with replicate boundary.
- ``defocus_blur``: the reference's aliased disk (support +-8, or +-radius
  above 8), smoothed by OpenCV ``GaussianBlur`` (3x3, or 5x5 above 8, its
  reflect-101 border applied inside the kernel frame and no renormalisation
  afterwards), applied with a reflect-101 boundary like ``cv2.filter2D``. The
  kernel is built in closed form for a batch of radii. A non-integer radius
  above 8 uses the support +-floor(radius) (the reference would build an
  even-sized kernel on a half-pixel grid there).
- ``motion_blur``: the port's ``_motion_blur``: ``2 radius + 1`` copies of the
  image, copy ``i`` shifted by ``(-ceil(i sin a - 0.5), -ceil(i cos a - 0.5))``
  pixels (rows, columns) with the edge pixels repeated, weighted by a
  one-sided Gaussian ``exp(-i^2 / 2 sigma^2)``. A sum of shifted copies with
  replicated edges is exactly a convolution with a sparse kernel and a
  replicate boundary, which is how it runs through :func:`blurkit.blur` when a
  gradient is wanted or off the CPU. On the CPU without a gradient the copies
  are summed directly, one OpenCV ``scaleAdd`` per copy on the channels-last
  image padded by edge replication (a 41-tap streak in a 41x29 frame would
  otherwise go to a DFT).
  ``angle`` is in the reference's convention (drawn from U(-45, 45)): a point
  is smeared towards ``180 - angle`` degrees counter-clockwise from the x axis
  (y up), so the streak's orientation in blurkit's convention is ``-angle``.
  Deviations, both outside the reference's working range: a fractional radius
  gives the last copy a fractional weight (continuous in the radius), and
  copies shifted by the image size or more are dropped *and the rest
  renormalised* (the reference drops them without renormalising, which
  darkens images smaller than the streak).
- ``zoom_blur``: the mean of the image and ``clipped_zoom`` copies: centre
  crop of ``ceil(H / z)`` rows from ``(H - ch) // 2``, ``scipy.ndimage.zoom``
  order 1 to ``round(ch * z)`` rows (sampling at ``o * (ch - 1) / (out - 1)``,
  i.e. bilinear with ``align_corners=True``), trimmed to the first ``H``
  rows (the port's trim; the original central trim is the same for factors
  below 1.5). Factors are ``numpy.arange(1, stop, step)`` exactly as the
  reference writes them.
- ``glass_blur``: Gaussian blur, quantisation to uint8 (truncation), then
  ``iterations`` passes walking rows ``H - d .. d + 1`` and columns
  ``W - d .. d + 1`` from the bottom-right, each pixel taking the value found
  at a random offset in ``[-d, d)`` (``d = max_delta``), then the Gaussian
  again. The reference's "swap" ``x[p], x[q] = x[q], x[p]`` on numpy views
  is in fact a copy ``x[p] = x[q]`` (its multiset of pixels is not
  preserved); we reproduce that. A sequential walk looks impossible to
  vectorise, but its result has a closed form: a pixel copies from an offset
  that the walk has already visited only if that offset comes later in
  raster order, so the value it ends with is the original value at the end
  of a pointer chain that only moves forward in raster order. Pointer jumping
  (``log2`` of the longest chain gathers) resolves every chain in parallel,
  so the batched result is *identical* to the sequential walk for the same
  random offsets (tests check it against the reference with the reference's
  own random draws). That parallel walk runs on GPUs and wherever numba is
  missing; on the CPU, when numba is installed (an optional accelerator; the
  ``reference`` extra brings it), the plain sequential walk is compiled instead
  and runs on the pixel values in place (on pixel indices, then a gather, when
  a gradient is wanted), with the same result. The offsets come from one numpy
  PCG64 generator per image seeded by ``shuffle_seed``.

Written here rather than taken from a library because no library computes
these corruptions in batches on tensors (``imagecorruptions`` and
``albumentations`` work on one numpy image at a time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import (
    MAX_KERNEL_SIZE,
    ParameterError,
    ShapeError,
    as_param,
    check_allocation,
    check_images,
    check_scalar,
    check_size,
    trusted_values,
)
from .._seeds import check_seed
from ..functional.conv import blur, blur_separable
from ..kernels._utils import _batch_of, _reduce_angle
from ..kernels.gaussian import gaussian_kernel1d
from ._glass_walk import draw_codes, numba_walk, quantize, walk
from .base import Corruption, interpolate_row, register_corruption

try:  # the no-gradient CPU path of motion blur (OpenCV is a core dependency)
    import cv2 as _cv2
except ImportError:  # pragma: no cover - exercised only without OpenCV
    _cv2 = None

__all__ = [
    "SEVERITY_TABLES",
    "severity_params",
    "zoom_factors",
    "imagenet_c_gaussian_blur",
    "imagenet_c_defocus_blur",
    "imagenet_c_disk_kernels",
    "imagenet_c_motion_blur",
    "imagenet_c_motion_kernels",
    "imagenet_c_zoom_blur",
    "imagenet_c_glass_blur",
    "glass_displacements",
]

#: severity tables (rows = severities 1..5) of the reference's ``make_imagenet_c.py`` /
#: ``make_cifar_c.py``; zoom rows are ``(stop, step)`` of ``numpy.arange(1, stop, step)``
SEVERITY_TABLES: dict[str, dict[str, tuple[tuple[float, ...], ...]]] = {
    "imagenet-c": {
        "gaussian_blur": ((1,), (2,), (3,), (4,), (6,)),
        "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
        "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
        "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
        "zoom_blur": ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)),
    },
    "cifar-10-c": {
        "gaussian_blur": ((0.4,), (0.6,), (0.7,), (0.8,), (1,)),
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
        "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
        "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
        "zoom_blur": ((1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)),
    },
}
_PRESETS = tuple(SEVERITY_TABLES)
_TAGS = ("imagenet-c", "cifar-10-c", "blur")


def severity_params(name: str, severity: float, preset: str = "imagenet-c") -> list[float]:
    """The table row of family ``name`` at a (possibly fractional) severity.

    >>> severity_params("defocus_blur", 2.5)
    [5.0, 0.5]
    """
    return interpolate_row(SEVERITY_TABLES[preset][name], float(severity))


def zoom_factors(severity: float, preset: str = "imagenet-c") -> list[float]:
    """The zoom factors of ``zoom_blur`` at a severity, as the reference's ``np.arange``.

    >>> len(zoom_factors(1)), round(zoom_factors(1)[-1], 6)
    (12, 1.11)
    """
    stop, step = severity_params("zoom_blur", severity, preset)
    return np.arange(1, stop, step).tolist()


# --------------------------------------------------------------------------- helpers


def _as_batch(value, name: str, x: torch.Tensor, low: float = 0.0) -> torch.Tensor:
    return as_param(value, name, x.shape[0], device=x.device, dtype=x.dtype, low=low)


def _is_scalar(t: torch.Tensor) -> bool:
    # a (B,) parameter whose values are all equal (checked without a sync when B == 1 or expanded)
    return t.numel() == 1 or t.stride(0) == 0


def _uniform(gens: list[torch.Generator], batch: int, low: float, high: float) -> torch.Tensor:
    if len(gens) == 1:
        u = torch.rand(batch, generator=gens[0], dtype=torch.float64)
    else:
        u = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in gens])
    return low + (high - low) * u


def _int_draw(gens: list[torch.Generator], batch: int) -> torch.Tensor:
    if len(gens) == 1:
        return torch.randint(0, 2**62, (batch,), generator=gens[0])
    return torch.cat([torch.randint(0, 2**62, (1,), generator=g) for g in gens])


def _seed_list(seed, batch: int) -> list[int]:
    """Glass-blur walk seeds by the seed rule (:mod:`blurkit._seeds`): one non-negative int
    for the batch or one per image, folded below 2**64 (values below it are kept as given)."""
    if isinstance(seed, torch.Tensor):
        if seed.is_floating_point():
            raise ParameterError(f"shuffle_seed: expected integer seeds, got dtype {seed.dtype}")
        seed = seed.reshape(-1).tolist()
    if isinstance(seed, np.ndarray):
        seed = seed.reshape(-1).tolist()
    if hasattr(seed, "__index__") and not isinstance(seed, bool):
        return [check_seed(seed, "shuffle_seed")] * batch
    ok = isinstance(seed, Sequence) and not isinstance(seed, str) and len(seed) in (1, batch)
    if ok and all(hasattr(v, "__index__") and not isinstance(v, bool) for v in seed):
        vals = [check_seed(v, "shuffle_seed") for v in seed]
        return vals * batch if len(vals) == 1 else vals
    raise ParameterError(
        f"shuffle_seed: expected an int or {batch} ints (one per image), got {seed!r}"[:200]
    )


def _gaussian_nearest(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    # scikit-image / scipy gaussian: truncate 4, radius int(4 sigma + 0.5), mode "nearest"
    g = gaussian_kernel1d(sigma[:1] if _is_scalar(sigma) else sigma, truncate=4.0)
    if g.shape[-1] == 1:
        return x
    with trusted_values():  # internal: the callers checked the images
        return blur_separable(x, g, g, boundary="replicate")


# --------------------------------------------------------------------------- gaussian


def imagenet_c_gaussian_blur(images: torch.Tensor, sigma) -> torch.Tensor:
    """ImageNet-C Gaussian blur: scikit-image ``gaussian`` (truncate 4, nearest boundary), clipped.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1].
        sigma: standard deviation in pixels, scalar or ``(B,)``.

    Example:
        >>> imagenet_c_gaussian_blur(torch.rand(2, 3, 16, 16), 1.0).shape
        torch.Size([2, 3, 16, 16])
    """
    x, single = check_images(images)
    s = _as_batch(sigma, "sigma", x)
    if x.shape[0] == 0:
        return x.clone()
    out = _gaussian_nearest(x, s).clamp(0, 1)
    return out[0] if single else out


# --------------------------------------------------------------------------- defocus


def _reflect101(v: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    # one reflection into [-s, s] without repeating the edge (taps reach at most 2 beyond)
    return torch.where(v > s, 2 * s - v, torch.where(v < -s, -2 * s - v, v))


def imagenet_c_disk_kernels(radius, alias_blur, *, device=None, dtype=None) -> torch.Tensor:
    """The reference's aliased disk PSFs, ``(B, 1, k, k)``, one per radius.

    ``disk(radius, alias_blur)`` of ``imagecorruptions``: the pixels with
    ``x^2 + y^2 <= radius^2`` on the grid ``-S..S`` (``S = 8`` up to radius 8,
    else ``floor(radius)``), normalised, then ``cv2.GaussianBlur`` with a
    3x3 (5x5 above radius 8) kernel of standard deviation ``alias_blur`` and
    OpenCV's reflect-101 border inside that frame, not renormalised. Kernels
    of a batch share the largest frame (zero outside their own).

    Example:
        >>> k = imagenet_c_disk_kernels(3.0, 0.1)
        >>> k.shape, round(float(k.sum()), 4)
        (torch.Size([1, 1, 17, 17]), 1.0)
    """
    r = as_param(radius, "radius", device=device, dtype=torch.float64, low=0.0)
    a = as_param(
        alias_blur, "alias_blur", device=r.device, dtype=torch.float64, low=0.0, low_inclusive=False
    )
    b = _batch_of(r.shape[0], a.shape[0])
    r, a = as_param(r, "radius", b), as_param(a, "alias_blur", b)
    frame = torch.clamp(torch.floor(r), min=8.0)  # (B,) half-width S
    fmax = float(frame.max()) if b else 8.0
    # the frame's side, by the size rule, and the (B, 5, 5, n, n) coverage test below
    n = check_size(2 * int(fmax) + 1 if math.isfinite(fmax) else MAX_KERNEL_SIZE + 2, "radius")
    check_allocation("radius", (b, 25, n, n), itemsize=8)
    half = n // 2
    u = torch.arange(-half, half + 1, device=r.device, dtype=torch.float64)
    taps = torch.arange(
        -2, 3, device=r.device, dtype=torch.float64
    )  # 5x5 frame; 3x3 has zeros at +-2
    g = torch.exp(-(taps[None] ** 2) / (2 * a[:, None] ** 2))
    g = torch.where((taps[None].abs() <= 1) | (r[:, None] > 8), g, torch.zeros_like(g))
    g = g / g.sum(-1, keepdim=True)  # (B, 5)
    s = frame[:, None, None]
    coords = _reflect101(u[None, None, :] + taps[None, :, None], s)  # (B, 5, n): tap, position
    r2 = (r**2)[:, None, None, None, None]
    inside = (
        coords[:, :, None, :, None] ** 2 + coords[:, None, :, None, :] ** 2
    ) <= r2  # (B,5,5,n,n)
    w = g[:, :, None, None, None] * g[:, None, :, None, None]
    k = (inside * w).sum((1, 2))
    count = ((u[None, :, None] ** 2 + u[None, None, :] ** 2) <= r2[:, 0, 0]).sum(
        (-2, -1)
    )  # disk pixels
    in_frame = u.abs()[None] <= frame[:, None]
    k = k / count[:, None, None] * (in_frame[:, :, None] & in_frame[:, None, :])
    return k[:, None].to(dtype=dtype if dtype is not None else torch.float32)


def imagenet_c_defocus_blur(
    images: torch.Tensor, radius, alias_blur, *, method: str = "auto"
) -> torch.Tensor:
    """ImageNet-C defocus blur: the reference's aliased disk, reflect-101 boundary, clipped.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1].
        radius: disk radius in pixels, scalar or ``(B,)``.
        alias_blur: standard deviation of the anti-aliasing Gaussian, scalar or ``(B,)``.
        method: ``"direct"``, ``"fft"`` or ``"auto"`` (see :func:`blurkit.blur`).

    Example:
        >>> imagenet_c_defocus_blur(torch.rand(1, 3, 20, 20), 3.0, 0.1).shape
        torch.Size([1, 3, 20, 20])
    """
    x, single = check_images(images)
    r = _as_batch(radius, "radius", x)
    a = _as_batch(alias_blur, "alias_blur", x)
    if _is_scalar(r) and _is_scalar(a):
        r, a = r[:1], a[:1]
    k = imagenet_c_disk_kernels(r, a, device=x.device, dtype=x.dtype)
    with trusted_values():
        out = blur(x, k, boundary="reflect", method=method).clamp(0, 1)
    return out[0] if single else out


# --------------------------------------------------------------------------- motion


def imagenet_c_motion_kernels(
    radius, sigma, angle, image_size: tuple[int, int] | None = None, *, device=None, dtype=None
):
    """Sparse kernels equal to the port's ``_motion_blur`` sum of shifted copies.

    Returns ``(kernels, shift)``: ``kernels`` ``(B, 1, kh, kw)`` and an integer
    column ``shift`` such that ``_motion_blur(x)`` equals the true convolution of
    ``x`` with ``kernels`` (replicate boundary) evaluated ``shift`` columns to the
    right (the streak lies on one side of the pixel; the shift keeps the kernel frame
    small). Copies shifted by at least the image size (``image_size=(H, W)``)
    are dropped and the rest renormalised.

    Example:
        >>> k, shift = imagenet_c_motion_kernels(2.0, 1.0, 0.0)
        >>> k.shape, shift, [round(v, 3) for v in k[0, 0, 0].tolist()]
        (torch.Size([1, 1, 1, 5]), 2, [0.0, 0.006, 0.077, 0.346, 0.57])
    """
    r = as_param(radius, "radius", device=device, dtype=torch.float64, low=0.0)
    s = as_param(sigma, "sigma", device=r.device, dtype=torch.float64, low=0.0, low_inclusive=False)
    a = as_param(angle, "angle", device=r.device, dtype=torch.float64)
    b = _batch_of(r.shape[0], s.shape[0], a.shape[0])
    r, s, a = as_param(r, "radius", b), as_param(s, "sigma", b), as_param(a, "angle", b)
    a = _reduce_angle(a)
    rmax = float(r.max()) if b else 0.0
    # 2 radius + 1 copies; the kernel frame is about that wide (and as tall at 90 degrees)
    n = check_size(
        int(math.ceil(rmax * 2 + 1)) if math.isfinite(rmax) else MAX_KERNEL_SIZE + 1,
        "radius",
        odd=False,
    )
    check_allocation("radius", (b, 2 * n + 1, 2 * n + 1), itemsize=8)
    i = torch.arange(n, device=r.device, dtype=torch.float64)[None]
    w = torch.exp(-(i**2) / (2 * s[:, None] ** 2)) * torch.clamp(2 * r[:, None] + 1 - i, 0, 1)
    rad = torch.deg2rad(a)[:, None]
    dy = -torch.ceil(i * torch.sin(rad) - 0.5)
    dx = -torch.ceil(i * torch.cos(rad) - 0.5)
    if image_size is not None:
        h, wd = image_size
        w = w * ((dy.abs() < h) & (dx.abs() < wd))
    w = w / w.sum(-1, keepdim=True)
    shift = (n - 1) // 2
    hx = max(shift, n - 1 - shift)
    if b:
        # angles beyond +-90 degrees smear to the right too: widen the frame to hold them
        # (inside +-90 every copy lies within it, and the frame is as it always was)
        hx = max(hx, int((dx + shift).abs().max()))
    hy = int(dy.abs().max()) if b else 0
    dyi = (dy + hy).long()
    dxi = (dx + shift + hx).long()
    kh, kw = 2 * hy + 1, 2 * hx + 1
    k = torch.zeros(b, kh * kw, device=r.device, dtype=torch.float64)
    k.scatter_add_(1, dyi * kw + dxi, w)
    return k.view(b, 1, kh, kw).to(dtype=dtype if dtype is not None else torch.float32), shift


def imagenet_c_motion_blur(
    images: torch.Tensor, radius, sigma, angle, *, method: str = "auto"
) -> torch.Tensor:
    """ImageNet-C motion blur (the port's ``_motion_blur``), one angle per image, clipped.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1].
        radius: streak length parameter: ``2 radius + 1`` shifted copies. Scalar or ``(B,)``.
        sigma: standard deviation (in copies) of the one-sided Gaussian weights.
        angle: degrees, in the reference's convention (a point smears towards
            ``180 - angle`` degrees counter-clockwise from the x axis; the streak's
            orientation in blurkit's convention is ``-angle``). Scalar or ``(B,)``.
        method: ``"direct"``, ``"fft"`` or ``"auto"``.

    Example:
        >>> x = torch.zeros(1, 1, 9, 9); x[0, 0, 4, 4] = 1.0
        >>> y = imagenet_c_motion_blur(x, 1.0, 10.0, 0.0)
        >>> bool(y[0, 0, 4, 2:5].gt(0.3).all() and y[0, 0, 4, 5:].eq(0).all())  # smears leftwards
        True
    """
    x, single = check_images(images)
    bsz, _, h, w = x.shape
    r = _as_batch(radius, "radius", x)
    s = _as_batch(sigma, "sigma", x)
    a = _as_batch(angle, "angle", x, low=None)
    if _is_scalar(r) and _is_scalar(s) and _is_scalar(a):
        r, s, a = r[:1], s[:1], a[:1]
    k, shift = imagenet_c_motion_kernels(r, s, a, (h, w), device=x.device, dtype=x.dtype)
    if bsz == 0:
        return x.clone()
    if method == "auto" and _copies_ok(x):
        out = _shifted_copies(x, k, shift).clamp_(0, 1)
        return out[0] if single else out
    # the reference's copies reach ``shift`` columns past the right edge; moving the
    # kernel's centre by ``shift`` (2 * shift zero columns on its right) gives the same
    # replicate-boundary result with a single padding of the image
    if shift:
        k = F.pad(k, (0, 2 * shift))
    with trusted_values():
        out = blur(x, k, boundary="replicate", method=method).clamp_(0, 1)
    return out[0] if single else out


def _copies_ok(x: torch.Tensor) -> bool:
    # OpenCV, CPU float32/64 and no gradient wanted
    return (
        _cv2 is not None
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and not (torch.is_grad_enabled() and x.requires_grad)
    )


def _shifted_copies(x: torch.Tensor, k: torch.Tensor, shift: int) -> torch.Tensor:
    """The port's sum of shifted copies, image by image, channels last (no gradient, CPU).

    Each non-zero tap of the sparse kernel is one copy: a view into the image padded
    by edge replication, accumulated with OpenCV's ``scaleAdd`` (one pass per copy over
    a channels-last image, several times faster than the engine's generic sparse path
    here, and than ``filter2D``, which turns such kernels into DFTs).
    """
    b, c, h, w = x.shape
    xn = x.detach().permute(0, 2, 3, 1).contiguous().numpy()
    kn = k.detach().to(torch.float64).numpy()[:, 0]
    kh, kw = kn.shape[-2:]
    hy, hx = kh // 2, kw // 2
    out = np.empty_like(xn)
    border = _cv2.BORDER_REPLICATE
    for i in range(b):
        ki = kn[i if kn.shape[0] > 1 else 0]
        us, vs = np.nonzero(ki)
        wts = ki[us, vs].tolist()
        dys, dxs = us - hy, vs - hx - shift  # copy offsets (rows, columns)
        top, bottom = max(int(dys.max()), 0), max(-int(dys.min()), 0)
        left, right = max(int(dxs.max()), 0), max(-int(dxs.min()), 0)
        if c <= 4:
            pad = _cv2.copyMakeBorder(xn[i], top, bottom, left, right, border)
        else:
            pad = np.pad(xn[i], ((top, bottom), (left, right), (0, 0)), mode="edge")
        pad = pad.reshape(h + top + bottom, (w + left + right) * c)
        acc = out[i].reshape(h, w * c)
        for j, (dy, dx, wt) in enumerate(zip(dys.tolist(), dxs.tolist(), wts)):
            view = pad[top - dy : top - dy + h, (left - dx) * c : (left - dx + w) * c]
            if j == 0:
                np.multiply(view, wt, out=acc)
            else:
                _cv2.scaleAdd(view, wt, acc, acc)
    return torch.from_numpy(out).permute(0, 3, 1, 2)


# --------------------------------------------------------------------------- zoom


def imagenet_c_zoom_blur(images: torch.Tensor, factors: Sequence[float]) -> torch.Tensor:
    """ImageNet-C zoom blur: mean of the image and its ``clipped_zoom`` copies, clipped.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1].
        factors: zoom factors >= 1 (e.g. :func:`zoom_factors`), shared by the batch.

    Example:
        >>> x = torch.rand(2, 3, 16, 16)
        >>> torch.allclose(imagenet_c_zoom_blur(x, [1.0]), x)
        True
    """
    x, single = check_images(images)
    h, w = x.shape[-2:]
    if isinstance(factors, (torch.Tensor, np.ndarray)):
        factors = factors.reshape(-1).tolist()
    try:
        factors = list(factors)
    except TypeError:
        raise ParameterError(
            f"factors: expected a sequence of zoom factors >= 1, got {factors!r}"[:200]
        ) from None
    fs = [check_scalar(f, "factors", low=1.0) for f in factors]
    if not fs:
        raise ParameterError("factors: expected at least one zoom factor, got none")
    sizes = [(int(math.ceil(h / z)), int(math.ceil(w / z))) for z in fs]
    for z, (ch0, ch1) in zip(fs, sizes, strict=True):
        # the zoomed copy before its trim (ImageNet-C zooms by at most 1.31)
        check_allocation("factors", (*x.shape[:2], ch0 * z, ch1 * z), itemsize=x.element_size())
    if x.shape[0] == 0:
        return x.clone()
    out = x.clone()
    for z, (ch0, ch1) in zip(fs, sizes, strict=True):
        o0, o1 = round(ch0 * z), round(ch1 * z)
        if (ch0, ch1) == (o0, o1) == (h, w):
            out += x
            continue
        t0, t1 = (h - ch0) // 2, (w - ch1) // 2
        crop = x[..., t0 : t0 + ch0, t1 : t1 + ch1]
        out += F.interpolate(crop, size=(o0, o1), mode="bilinear", align_corners=True)[..., :h, :w]
    out = (out / (len(fs) + 1)).clamp(0, 1)
    return out[0] if single else out


# --------------------------------------------------------------------------- glass


def glass_displacements(
    shuffle_seed, height: int, width: int, max_delta: int, iterations: int, *, device=None
) -> torch.Tensor:
    """Random offsets of the glass-blur walk, ``(B, iterations, 2, nh, nw)`` as ``(dy, dx)``.

    ``nh = H - 2 max_delta`` rows (``H - d`` down to ``d + 1``, bottom first) and
    likewise columns, each offset uniform in ``[-max_delta, max_delta)``. One
    numpy PCG64 generator per image, seeded by ``shuffle_seed`` (``(B,)`` ints), so
    an image's offsets do not depend on the rest of its batch.

    Example:
        >>> d = glass_displacements([1, 2], 16, 16, 2, 3)
        >>> d.shape, int(d.min()), int(d.max())
        (torch.Size([2, 3, 2, 12, 12]), -2, 1)
    """
    seeds = shuffle_seed.tolist() if isinstance(shuffle_seed, torch.Tensor) else list(shuffle_seed)
    span = 2 * max_delta
    codes = _glass_codes(seeds, height, width, max_delta, iterations)
    # a code v stands for the offset pair (v // span, v % span) - max_delta
    out = np.stack([codes // span, codes % span], axis=2).astype(np.int8)
    return (torch.from_numpy(out) - max_delta).to(device)


def _glass_codes(
    seeds: list[int], height: int, width: int, max_delta: int, iterations: int
) -> np.ndarray:
    """The walk's offset codes ``(B, iterations, nh, nw)`` uint8, one PCG64 stream per image.

    numpy's ``default_rng(seed).integers(0, span**2, dtype=uint8)`` (computed faster by
    :func:`._glass_walk.draw_codes`, which gives the same values).
    """
    nh, nw = max(height - 2 * max_delta, 0), max(width - 2 * max_delta, 0)
    span = 2 * max_delta
    if span * span > 256:
        raise ParameterError(f"max_delta: expected at most 8, got {max_delta}")
    out = np.empty((len(seeds), iterations, nh, nw), dtype=np.uint8)
    for i, sd in enumerate(seeds):
        out[i] = draw_codes(int(sd) % 2**63, out[i].size, span * span).reshape(out.shape[1:])
    return out


def _glass_index(
    displacements: torch.Tensor, height: int, width: int, max_delta: int
) -> torch.Tensor:
    """Source pixel (raster index) of each output pixel after all passes, ``(B, H*W)``."""
    b, iterations, _, nh, nw = displacements.shape
    dev = displacements.device
    hw = height * width
    lin = torch.arange(hw, device=dev).view(height, width)
    total = lin.view(1, hw).expand(b, hw)
    if nh <= 0 or nw <= 0:
        return total
    lo, hi_r, hi_c = max_delta + 1, height - max_delta, width - max_delta
    # room left before the walk's far edges, per row / column of the walk (small ints)
    room_r = (hi_r - torch.arange(lo, hi_r + 1, device=dev, dtype=torch.int16))[:, None]
    room_c = (hi_c - torch.arange(lo, hi_c + 1, device=dev, dtype=torch.int16))[None, :]
    back_c = (lo - torch.arange(lo, hi_c + 1, device=dev, dtype=torch.int16))[None, :]
    flat = lin.view(1, hw)
    result = None
    for it in range(iterations):
        # walk order is reversed raster order: flip to raster order
        dy = displacements[:, it, 0].flip(-2, -1).to(torch.int16)
        dx = displacements[:, it, 1].flip(-2, -1).to(torch.int16)
        # the source was visited earlier in this pass (later in raster order, inside the walk)
        forward = ((dy > 0) & (dy <= room_r) & (dx >= back_c) & (dx <= room_c)) | (
            (dy == 0) & (dx > 0) & (dx <= room_c)
        )
        ofs = torch.zeros(b, height, width, dtype=torch.int64, device=dev)
        ofs[:, lo : hi_r + 1, lo : hi_c + 1] = dy.to(torch.int64) * width + dx
        src = flat + ofs.view(b, hw)
        if max_delta > 1 and bool(forward.any()):
            fwd = torch.zeros(b, height, width, dtype=torch.bool, device=dev)
            fwd[:, lo : hi_r + 1, lo : hi_c + 1] = forward
            ptr = torch.where(fwd.view(b, hw), src, flat)
            # pointer jumping: follow forward chains to their first non-forward pixel
            # (chains rarely exceed 16 pixels: 4 rounds unchecked, then until nothing moves)
            for r in range(max(1, (hw - 1).bit_length())):
                nxt = ptr.gather(1, ptr)
                if r >= 3 and torch.equal(nxt, ptr):
                    break
                ptr = nxt
            src = src.gather(1, ptr)
        result = src if result is None else result.gather(1, src)
    return total if result is None else result


def imagenet_c_glass_blur(
    images: torch.Tensor,
    sigma,
    max_delta: int,
    iterations: int,
    *,
    shuffle_seed=None,
    displacements: torch.Tensor | None = None,
) -> torch.Tensor:
    """ImageNet-C glass blur: Gaussian, uint8 quantisation, the random copy walk, Gaussian.

    The walk equals the reference's sequential walk for the same offsets (compiled with
    numba on the CPU when it is installed, else computed in parallel; see the module
    docstring). The quantisation passes gradients straight through.

    Raises:
        ShapeError: ``displacements`` not ``(1|B, iterations, 2, H - 2d, W - 2d)``.
        ParameterError: offsets outside ``[-max_delta, max_delta)`` (numba path), or
            ``max_delta`` above 8 with ``shuffle_seed``.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1].
        sigma: Gaussian standard deviation (pixels), scalar or ``(B,)``.
        max_delta: largest offset of the walk (offsets lie in ``[-max_delta, max_delta)``).
        iterations: number of passes.
        shuffle_seed: one int per image (or one int for the batch) seeding the offsets.
        displacements: explicit offsets ``(B, iterations, 2, H - 2d, W - 2d)`` (``dy, dx``)
            instead of ``shuffle_seed`` (see :func:`glass_displacements`).

    Example:
        >>> x = torch.rand(2, 3, 16, 16)
        >>> y = imagenet_c_glass_blur(x, 0.7, 1, 2, shuffle_seed=[0, 1])
        >>> y.shape, torch.equal(y, imagenet_c_glass_blur(x, 0.7, 1, 2, shuffle_seed=[0, 1]))
        (torch.Size([2, 3, 16, 16]), True)
    """
    x, single = check_images(images)
    bsz, c, h, w = x.shape
    s = _as_batch(sigma, "sigma", x)
    d = _whole(max_delta, "max_delta", 1, max(h, w))
    n_it = _whole(iterations, "iterations", 0, MAX_GLASS_ITERATIONS)
    nh, nw = h - 2 * d, w - 2 * d
    # the walk's offsets: one byte per pixel and pass (several on the parallel path)
    check_allocation("iterations", (bsz, n_it, max(nh, 0), max(nw, 0)), itemsize=8)
    if bsz == 0:
        return x.clone()
    fast = (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and nh > 0
        and nw > 0
        and numba_walk() is not None
    )
    if fast:
        # the sequential walk, compiled (see ._glass_walk): offsets as codes v = (dy + d) * 2d + dx + d
        if displacements is None:
            codes = _glass_codes(_seed_list(shuffle_seed, bsz), h, w, d, n_it)
        else:
            codes = _codes_of(displacements, bsz, nh, nw, d)
        n_it = codes.shape[1] if n_it else 0
    elif displacements is None:
        displacements = glass_displacements(
            _seed_list(shuffle_seed, bsz), h, w, d, n_it, device=x.device
        )
    y = _gaussian_nearest(x, s)
    if fast and n_it and not y.requires_grad:
        # no gradient: quantise and walk the pixel values in place, channels last
        yl = y.permute(0, 2, 3, 1)
        if _shares_memory(y, x):  # the Gaussian was the identity: never write into the input
            yl = yl.clone(memory_format=torch.contiguous_format)
        yn = yl.contiguous().numpy()
        yl = torch.from_numpy(yn)
        quantize(yn)  # the same float operations as the expression below, in one pass
        walk(yn, codes if codes.shape[0] == bsz else codes.repeat(bsz, 0), 2 * d, d, w)
        return _finish(_gaussian_nearest(yl.permute(0, 3, 1, 2), s), x, single)
    y = y + (torch.floor(y * 255) / 255 - y).detach()  # the reference's np.uint8(... * 255)
    if fast and n_it:
        # the walk on pixel indices, then a gather that carries the gradient
        idx = np.repeat(np.arange(h * w, dtype=np.int64)[None], codes.shape[0], axis=0)
        walk(idx.reshape(-1, h, w, 1), codes, 2 * d, d, w)
        index = torch.from_numpy(idx)[:, None, :].expand(bsz, c, h * w)
        y = y.reshape(bsz, c, h * w).gather(2, index).view(bsz, c, h, w)
    elif not fast and n_it and displacements.shape[1]:
        idx = _glass_index(displacements.to(x.device), h, w, d)
        y = y.flatten(2).gather(2, idx[:, None, :].expand(bsz, c, h * w)).view(bsz, c, h, w)
    out = _gaussian_nearest(y, s).clamp(0, 1)
    return out[0] if single else out


#: the most passes of the glass-blur walk (ImageNet-C uses at most 3)
MAX_GLASS_ITERATIONS = 1000


def _whole(value, name: str, low: int, high: int) -> int:
    """A whole number (an int, or a float with no fraction, as the severity tables give)."""
    v = check_scalar(value, name, low=low, high=high)
    if v != int(v):
        raise ParameterError(f"{name}: expected a whole number, got {v:g}")
    return int(v)


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _finish(out: torch.Tensor, x: torch.Tensor, single: bool) -> torch.Tensor:
    # clip in place unless the Gaussian was the identity and returned the caller's buffer
    out = out.clamp(0, 1) if _shares_memory(out, x) else out.clamp_(0, 1)
    return out[0] if single else out


def _codes_of(displacements, bsz: int, nh: int, nw: int, d: int) -> np.ndarray:
    """Explicit ``(1|B, iterations, 2, nh, nw)`` offsets as the walk's codes (checked)."""
    disp = torch.as_tensor(displacements).detach().cpu()
    ok = disp.dim() == 5 and disp.shape[0] in (1, bsz) and disp.shape[2:] == (2, nh, nw)
    if not ok:
        raise ShapeError(
            f"displacements: expected (1 or {bsz}, iterations, 2, {nh}, {nw}), "
            f"got {tuple(disp.shape)}"
        )
    disp = disp.to(torch.int64)
    if disp.numel() and (int(disp.min()) < -d or int(disp.max()) >= d):
        raise ParameterError(
            f"displacements: expected offsets in [-{d}, {d}), "
            f"got [{int(disp.min())}, {int(disp.max())}]"
        )
    return ((disp[:, :, 0] + d) * (2 * d) + disp[:, :, 1] + d).to(torch.int16).numpy()


# --------------------------------------------------------------------------- registry


def _row(name: str, severity: float, preset: str) -> list[float]:
    return severity_params(name, severity, preset)


def _apply_gaussian(x, severity, preset, sigma=None):
    if sigma is None:
        (sigma,) = _row("gaussian_blur", severity, preset)
    return imagenet_c_gaussian_blur(x, sigma)


def _apply_defocus(x, severity, preset, radius=None, alias_blur=None):
    r0, a0 = _row("defocus_blur", severity, preset)
    return imagenet_c_defocus_blur(
        x, r0 if radius is None else radius, a0 if alias_blur is None else alias_blur
    )


def _sample_motion(batch, severity, preset, generators, device, dtype):
    return {"angle": _uniform(generators, batch, -45.0, 45.0).to(device=device, dtype=dtype)}


def _apply_motion(x, severity, preset, radius=None, sigma=None, angle=0.0):
    r0, s0 = _row("motion_blur", severity, preset)
    return imagenet_c_motion_blur(
        x, r0 if radius is None else radius, s0 if sigma is None else sigma, angle
    )


def _apply_zoom(x, severity, preset, factors=None):
    return imagenet_c_zoom_blur(x, zoom_factors(severity, preset) if factors is None else factors)


def _sample_glass(batch, severity, preset, generators, device, dtype):
    return {"shuffle_seed": _int_draw(generators, batch)}


def _apply_glass(x, severity, preset, sigma=None, max_delta=None, iterations=None, shuffle_seed=0):
    s0, d0, n0 = _row("glass_blur", severity, preset)
    return imagenet_c_glass_blur(
        x,
        s0 if sigma is None else sigma,
        round(d0) if max_delta is None else max_delta,
        round(n0) if iterations is None else iterations,
        shuffle_seed=shuffle_seed,
    )


register_corruption(
    Corruption(
        "gaussian_blur",
        _apply_gaussian,
        presets=_PRESETS,
        params=("sigma",),
        continuous="sigma",
        description="ImageNet-C Gaussian blur (scikit-image gaussian, nearest boundary)",
        tags=_TAGS,
    )
)
register_corruption(
    Corruption(
        "defocus_blur",
        _apply_defocus,
        presets=_PRESETS,
        params=("radius", "alias_blur"),
        continuous="radius",
        description="ImageNet-C defocus blur (aliased disk, reflect-101 boundary)",
        tags=_TAGS,
    )
)
register_corruption(
    Corruption(
        "glass_blur",
        _apply_glass,
        _sample_glass,
        presets=_PRESETS,
        params=("sigma", "max_delta", "iterations", "shuffle_seed"),
        description="ImageNet-C glass blur (Gaussian, random local pixel walk, Gaussian)",
        tags=_TAGS,
    )
)
register_corruption(
    Corruption(
        "motion_blur",
        _apply_motion,
        _sample_motion,
        presets=_PRESETS,
        params=("radius", "sigma", "angle"),
        continuous="radius",
        description="ImageNet-C motion blur (one-sided Gaussian streak, random angle in [-45, 45])",
        tags=_TAGS,
    )
)
register_corruption(
    Corruption(
        "zoom_blur",
        _apply_zoom,
        presets=_PRESETS,
        params=("factors",),
        description="ImageNet-C zoom blur (mean of centre-zoomed copies)",
        tags=_TAGS,
    )
)
