"""Fidelity up to a shift: the evaluation protocol of paired blind-deblurring benchmarks.

A blind deblurrer recovers the kernel only up to a translation (shifting the
kernel one way and the image the other explains the blurred image equally well),
and recorded kernels are not centred in their boxes. Levin, Weiss, Durand &
Freeman, "Understanding and evaluating blind deconvolution algorithms", CVPR 2009
therefore compare a restored image with the sharp one after the best alignment,
with a border cropped where the kernel's support makes the boundary unreliable
(their ``comp_upto_shift``: a 15 px border, shifts up to 5 px). Their score is
the *error ratio*: the sum of squared differences (SSD) of the blind result over
that of the non-blind result with the true kernel, both aligned the same way;
a ratio of 1 means the estimated kernel is as good as the true one, and Levin et
al. call results up to about 3 visually acceptable.

:func:`compare_up_to_shift` searches integer shifts (Levin's code also tries
quarter-pixel shifts by bilinear interpolation, which lowers SSDs by a few per
cent; integer shifts keep the comparison free of interpolation blur and exact).
:func:`error_ratio` is the ratio of two such SSDs.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import ShapeError, check_int
from ._inputs import check_data_range, check_pair
from .full_reference import ssim

__all__ = ["ShiftComparison", "compare_up_to_shift", "error_ratio"]


class ShiftComparison(NamedTuple):
    """Per-image results of :func:`compare_up_to_shift`, each ``(B,)``."""

    psnr: torch.Tensor
    ssim: torch.Tensor
    ssd: torch.Tensor
    shift: torch.Tensor  # (B, 2): (dy, dx) moving the restored image onto the reference


def compare_up_to_shift(
    restored: torch.Tensor,
    reference: torch.Tensor,
    *,
    max_shift: int = 5,
    border: int = 15,
    data_range: float = 1.0,
) -> ShiftComparison:
    """PSNR, SSIM and SSD of ``restored`` against ``reference`` at the best integer shift.

    The reference is cropped by ``border`` pixels on each side; the restored image
    is compared on the same window moved by every ``(dy, dx)`` with
    ``|dy|, |dx| <= max_shift``, and the shift with the smallest SSD is kept
    (per image). PSNR and SSIM are computed on that aligned window.

    Args:
        restored: ``(B, C, H, W)`` or ``(C, H, W)`` images (a deblurred result).
        reference: the sharp images, same shape.
        max_shift: the largest shift tried along each axis, ``>= 0`` and ``<= border``.
        border: the border cropped from the reference, ``>= max_shift`` (Levin's
            protocol: 15, enough for kernels up to 31 px). It should cover half the
            kernel's support, where deconvolution depends on pixels outside the image.
        data_range: the span of possible values (1.0 for images in [0, 1]).

    Returns:
        A :class:`ShiftComparison` of ``(B,)`` tensors (``shift`` is ``(B, 2)``);
        ``psnr`` in dB, ``ssd`` the sum of squared differences over the window.

    Example:
        >>> x = torch.rand(1, 1, 64, 64)
        >>> r = compare_up_to_shift(torch.roll(x, (2, -1), (-2, -1)), x, border=8)
        >>> r.shift.tolist(), bool(r.psnr[0] > 100)
        ([[2, -1]], True)
    """

    r4, x4, single, _ = check_pair(restored, reference, ("restored", "reference"))
    s = check_int(max_shift, "max_shift", low=0)
    b = check_int(border, "border", low=0)
    dr = check_data_range(data_range)
    if b < s:
        raise ShapeError(f"border: expected at least max_shift ({s}), got {b}")
    h, w = x4.shape[-2:]
    if h - 2 * b < 3 or w - 2 * b < 3:
        raise ShapeError(f"reference: a {h}x{w} image leaves no window inside a {b} px border")
    work = torch.float64 if x4.dtype == torch.float64 else torch.float32
    r4, x4 = r4.to(work), x4.to(work)
    ref = x4[..., b : h - b, b : w - b]
    shifts = [(dy, dx) for dy in range(-s, s + 1) for dx in range(-s, s + 1)]
    ssd = torch.stack(
        [
            (r4[..., b + dy : h - b + dy, b + dx : w - b + dx] - ref).square().flatten(1).sum(1)
            for dy, dx in shifts
        ],
        1,
    )  # (B, S)
    best = ssd.argmin(1)
    table = torch.tensor(shifts, device=best.device)
    shift = table[best]
    aligned = torch.stack(
        [
            r4[i, :, b + int(dy) : h - b + int(dy), b + int(dx) : w - b + int(dx)]
            for i, (dy, dx) in enumerate(shift.tolist())
        ]
    )
    best_ssd = ssd.gather(1, best[:, None])[:, 0]
    mse = best_ssd / ref[0].numel()
    p = 10.0 * torch.log10(dr * dr / mse)
    q = ssim(aligned, ref, data_range=dr)
    # shift (dy, dx) moves the restored image onto the reference: restored[i + d] ~ reference[i]
    out = ShiftComparison(p, q, best_ssd, shift)
    if single:
        out = ShiftComparison(p[0], q[0], best_ssd[0], shift[0])
    return out


def error_ratio(
    restored: torch.Tensor,
    restored_true_kernel: torch.Tensor,
    reference: torch.Tensor,
    **kwargs,
) -> torch.Tensor:
    """Levin's error ratio: SSD of ``restored`` over SSD of the true-kernel result.

    Both SSDs are taken by :func:`compare_up_to_shift` against ``reference`` (each
    at its own best shift), with the same ``max_shift`` / ``border`` (``**kwargs``).

    Returns:
        ``(B,)`` ratios (0-d for single images); 1 means as good as the true kernel.

    Example:
        >>> x = torch.rand(1, 1, 48, 48)
        >>> round(float(error_ratio(x + 0.02, x + 0.01, x, border=8)[0]), 3)
        4.0
    """
    a = compare_up_to_shift(restored, reference, **kwargs).ssd
    t = compare_up_to_shift(restored_true_kernel, reference, **kwargs).ssd
    return a / t
