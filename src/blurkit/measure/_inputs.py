"""What every measure does with its inputs and outputs: the input rule (:func:`prepare`,
:func:`check_pair`, :func:`check_data_range`), the one grayscale rule (:func:`to_gray`)
and the reduction option (:func:`reduce`, :func:`finish`).

Grayscale rule: ITU-R BT.709 luma weights ``0.2125 R + 0.7154 G + 0.0721 B``
applied to the [0, 1] values as they are (no gamma linearisation), exactly
what ``skimage.color.rgb2gray`` does. We take scikit-image's rule, rather than
BT.601 (``0.299, 0.587, 0.114``, OpenCV and Pillow), so that every measure here
that has a scikit-image counterpart (``blur_effect``) can be pinned against it on
the same input. Single-channel images pass through; images with another number
of channels are averaged over channels.
"""

from __future__ import annotations

import torch

from .._checks import (
    ParameterError,
    ShapeError,
    check_choice,
    check_finite,
    check_image,
)

__all__ = ["to_gray", "reduce", "REDUCTIONS", "BT709", "prepare", "finish", "work_dtype"]

BT709 = (0.2125, 0.7154, 0.0721)
REDUCTIONS = ("none", "mean", "sum")


def to_gray(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """``(B, C, H, W)`` (or ``(C, H, W)``) images to ``(B, 1, H, W)`` luma (BT.709, as skimage).

    Example:
        >>> to_gray(torch.ones(2, 3, 4, 4)).shape
        torch.Size([2, 1, 4, 4])
    """
    x, _ = check_image(images, name)
    c = x.shape[1]
    if c == 1:
        return x
    if c == 3:
        w = x.new_tensor(BT709).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    return x.mean(1, keepdim=True)


def reduce(values: torch.Tensor, reduction: str, single: bool = False) -> torch.Tensor:
    """Apply ``reduction`` (``"none"``, ``"mean"`` or ``"sum"``) to per-image values ``(B,)``.

    With ``"none"`` a single-image input (``single=True``) returns a 0-d tensor.
    """
    check_choice(reduction, "reduction", REDUCTIONS)
    if reduction == "mean" and values.numel() == 0:
        raise ShapeError("reduction: 'mean' over an empty batch has no value; use 'none' or 'sum'")
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values[0] if single else values


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the measures compute in: float64 stays, every other float becomes float32
    (half-precision convolutions and FFTs are missing or very slow on the CPU)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def prepare(images: object, min_size: int = 1, name: str = "images"):
    """The input rule of every measure: a ``(B, C, H, W)`` or ``(C, H, W)`` float tensor,
    height and width at least ``min_size``, finite values (NaN / inf raise
    :class:`ParameterError`); an empty batch is allowed. Returns
    ``(x4 in the work dtype, single, input dtype)``."""
    x, single = check_image(images, name)
    check_min_size(x, max(min_size, 1), name)
    check_finite(x, name)
    return x.to(work_dtype(x.dtype)), single, x.dtype


def finish(values: torch.Tensor, reduction: str, single: bool, dtype: torch.dtype):
    """Reduce per-image values and return them in the input's dtype."""
    return reduce(values, reduction, single).to(dtype)


def check_pair(x: object, y: object, names: tuple[str, str] = ("x", "y"), min_size: int = 1):
    """Validate two image batches of identical shape (the rule of :func:`prepare` for each);
    returns ``(x4, y4, single, dtype)`` in the work dtype of ``x``."""
    x4, single = check_image(x, names[0])
    y4, _ = check_image(y, names[1])
    if x4.shape != y4.shape:
        raise ShapeError(
            f"{names[1]}: expected the same shape as {names[0]} {tuple(x4.shape)}, "
            f"got {tuple(y4.shape)}"
        )
    check_min_size(x4, max(min_size, 1), names[0])
    check_finite(x4, names[0])
    check_finite(y4, names[1])
    dt = x4.dtype
    work = work_dtype(dt)
    return x4.to(work), y4.to(work), single, dt


def check_min_size(x: torch.Tensor, minimum: int, name: str = "images") -> None:
    h, w = x.shape[-2:]
    if min(h, w) < minimum:
        raise ShapeError(f"{name}: expected height and width >= {minimum}, got {(h, w)}")


def check_data_range(data_range: object) -> float:
    """The span of possible values: a positive number up to 1e6 (1 for [0, 1] images, 255,
    65535); beyond that the SSIM constants overflow."""
    if isinstance(data_range, bool) or not isinstance(data_range, (int, float)):
        raise ParameterError(f"data_range: expected a positive number, got {data_range!r}")
    v = float(data_range)
    if not (0 < v <= 1e6):  # also refuses NaN
        raise ParameterError(f"data_range: expected a number in (0, 1e6], got {data_range!r}")
    return v
