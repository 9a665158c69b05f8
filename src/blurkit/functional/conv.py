"""Apply blur kernels to images: the one engine every blur in blurkit goes through.

Blur is the convolution of the sharp image with a point-spread function (PSF).
:func:`blur` computes a *true* convolution (the kernel is flipped relative to
``torch.nn.functional.conv2d``'s cross-correlation), so an asymmetric PSF such
as a motion streak smears the image in the direction the kernel is drawn.

Two algorithms give the same result up to float rounding:

- ``direct``: grouped ``conv2d`` (one group per image-channel pair when every
  sample has its own kernel), cost proportional to ``H * W * kh * kw``;
- ``fft``: multiplication of real FFTs on the boundary-padded image, cost
  proportional to ``N log N`` in the padded size and nearly independent of the
  kernel size.

``method="auto"`` picks one by the cost rule in :func:`choose_method`, whose
constant was measured on CPU (see ``benchmarks/blur_engine.py``).

Why written here rather than taken from kornia: ``kornia.filters.filter2d``
applies one kernel per sample by cross-correlation, has no FFT path and no
boundary for kernels wider than the image; blur needs all three.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from .._checks import ShapeError, check_choice, check_image, check_kernel
from ._padding import BOUNDARIES, pad2d

__all__ = ["blur", "blur_separable", "choose_method", "BOUNDARIES"]

Method = Literal["auto", "direct", "fft"]

# Direct convolution is preferred while kh * kw * H * W stays below this multiple
# of Nh * Nw * log2(Nh * Nw) (padded FFT size); measured by benchmarks/blur_engine.py
# on a 2-core CPU (depthwise conv2d vs rfft2 products, float32, 224x224, batch 64):
# the two cost the same near 19x19 kernels.
_FFT_CROSSOVER = 15.0


def choose_method(image_hw: tuple[int, int], kernel_hw: tuple[int, int]) -> str:
    """The cost rule behind ``method="auto"``.

    Direct cost grows as ``kh * kw`` per pixel, FFT cost as ``log2(Nh * Nw)``
    per pixel of the padded image. Direct wins for small kernels.

    >>> choose_method((224, 224), (3, 3))
    'direct'
    >>> choose_method((224, 224), (41, 41))
    'fft'
    """
    h, w = image_hw
    kh, kw = kernel_hw
    if kh == 1 or kw == 1:
        return "direct"
    nh, nw = h + kh - 1, w + kw - 1
    direct = kh * kw * h * w
    fft = _FFT_CROSSOVER * nh * nw * math.log2(nh * nw)
    return "direct" if direct <= fft else "fft"


def _pads(kh: int, kw: int) -> tuple[int, int, int, int]:
    # the kernel's centre is index k // 2; see the module docstring for the derivation
    top, left = kh - 1 - kh // 2, kw - 1 - kw // 2
    return left, kw - 1 - left, top, kh - 1 - top


def _check_pair(x: torch.Tensor, k: torch.Tensor) -> None:
    b, c = x.shape[:2]
    kb, kc = k.shape[:2]
    if kb not in (1, b):
        raise ShapeError(f"kernels: expected 1 or {b} kernels (one per image), got {kb}")
    if kc not in (1, c):
        raise ShapeError(f"kernels: expected 1 or {c} channels (one per image channel), got {kc}")


def _direct(x: torch.Tensor, k: torch.Tensor, boundary: str) -> torch.Tensor:
    b, c, h, w = x.shape
    kh, kw = k.shape[-2:]
    xp = pad2d(x, _pads(kh, kw), boundary)
    hp, wp = xp.shape[-2:]
    # One group per (image, channel) pair even when the kernel is shared: on CPU the
    # depthwise layout is several times faster than a (B*C, 1, H, W) batch through a
    # single 1->1 filter or a groups=C convolution (benchmarks/blur_engine.py).
    weight = k.flip(-1, -2).expand(b, c, kh, kw).reshape(b * c, 1, kh, kw)
    out = F.conv2d(xp.reshape(1, b * c, hp, wp), weight, groups=b * c)
    return out.reshape(b, c, h, w)


def _good_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (sizes pocketfft and cuFFT handle fastest)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _fft(x: torch.Tensor, k: torch.Tensor, boundary: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    kh, kw = k.shape[-2:]
    left, right, top, bottom = _pads(kh, kw)
    nh, nw = _good_size(h + kh - 1), _good_size(w + kw - 1)
    # extra rows/cols beyond the linear-convolution size are filled by the same
    # boundary rule; the circular wrap never reaches the rows we keep
    xp = pad2d(x, (left, right + nw - (w + kw - 1), top, bottom + nh - (h + kh - 1)), boundary)
    work = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    X = torch.fft.rfft2(xp.to(work), s=(nh, nw))
    K = torch.fft.rfft2(k.to(work), s=(nh, nw))
    y = torch.fft.irfft2(X * K, s=(nh, nw))
    return y[..., kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w].to(x.dtype)


def blur(
    images: torch.Tensor,
    kernels: torch.Tensor,
    boundary: str = "reflect",
    method: Method = "auto",
) -> torch.Tensor:
    r"""Convolve images with blur kernels (PSFs).

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` floating-point images.
        kernels: ``(1|B, 1|C, kh, kw)`` kernels, or one ``(kh, kw)`` kernel. One
            kernel for the batch or one per sample; one per channel or shared.
            The kernel's centre is the pixel at index ``(kh // 2, kw // 2)``.
        boundary: ``"reflect"`` (mirror, edge not repeated), ``"symmetric"``
            (mirror with the edge repeated), ``"replicate"``, ``"circular"`` or
            ``"zeros"``. Any kernel size works, including kernels larger than
            the image.
        method: ``"direct"``, ``"fft"`` or ``"auto"`` (cost rule of :func:`choose_method`).

    Returns:
        Blurred images, same shape, dtype and device as ``images``. Differentiable
        with respect to both images and kernels.

    Shape:
        - images: :math:`(B, C, H, W)` or :math:`(C, H, W)`
        - kernels: :math:`(B_k, C_k, k_h, k_w)` with :math:`B_k \in \{1, B\}`, :math:`C_k \in \{1, C\}`
        - output: same as images

    Example:
        >>> x = torch.zeros(1, 1, 5, 5); x[0, 0, 2, 2] = 1.0
        >>> k = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 0.0]])
        >>> blur(x, k)[0, 0, 2].tolist()  # an impulse reproduces the kernel
        [0.0, 0.0, 0.5, 0.5, 0.0]
    """
    x, single = check_image(images)
    k = check_kernel(kernels)
    check_choice(boundary, "boundary", BOUNDARIES)
    check_choice(method, "method", ("auto", "direct", "fft"))
    _check_pair(x, k)
    k = k.to(dtype=x.dtype) if k.dtype != x.dtype else k
    if method == "auto":
        method = choose_method(tuple(x.shape[-2:]), tuple(k.shape[-2:]))
    out = _direct(x, k, boundary) if method == "direct" else _fft(x, k, boundary)
    return out[0] if single else out


def blur_separable(
    images: torch.Tensor,
    kernel_y: torch.Tensor,
    kernel_x: torch.Tensor,
    boundary: str = "reflect",
) -> torch.Tensor:
    r"""Convolve with a separable kernel ``kernel_y[:, None] * kernel_x[None, :]``.

    Two 1-D passes cost ``kh + kw`` per pixel instead of ``kh * kw``; this is how
    Gaussian blur runs.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)``.
        kernel_y: ``(1|B, kh)`` or ``(kh,)`` vertical profiles.
        kernel_x: ``(1|B, kw)`` or ``(kw,)`` horizontal profiles.
        boundary: as in :func:`blur`.

    Example:
        >>> x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
        >>> g = torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64)
        >>> torch.allclose(blur_separable(x, g, g), blur(x, g[:, None] * g[None, :]))
        True
    """
    x, single = check_image(images)
    check_choice(boundary, "boundary", BOUNDARIES)
    ky = check_kernel(
        kernel_y.reshape(-1, 1, kernel_y.shape[-1], 1)
        if isinstance(kernel_y, torch.Tensor)
        else kernel_y,
        "kernel_y",
    )
    kx = check_kernel(
        kernel_x.reshape(-1, 1, 1, kernel_x.shape[-1])
        if isinstance(kernel_x, torch.Tensor)
        else kernel_x,
        "kernel_x",
    )
    _check_pair(x, ky)
    _check_pair(x, kx)
    ky, kx = ky.to(x.dtype), kx.to(x.dtype)
    out = _direct(_direct(x, ky, boundary), kx, boundary)
    return out[0] if single else out
