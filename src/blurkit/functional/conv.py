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

- ``opencv``: OpenCV's ``filter2D`` / ``sepFilter2D`` (SIMD direct convolution,
  DFT for large kernels), one call per image. CPU only and not differentiable,
  so it is used only where no gradient is asked for.

``method="auto"`` picks OpenCV for CPU tensors that need no gradient (when
OpenCV is installed and the boundary is one it has: all but ``circular``), and
a sum of shifted copies for sparse kernels there (a motion streak's few
taps), otherwise direct or FFT by the cost rule in :func:`choose_method`, whose
constant was measured on CPU (see ``benchmarks/blur_engine.py``). On this
project's 2-core CPU PyTorch's depthwise convolution and FFT were both slower
than the scipy/OpenCV code of the ImageNet-C reference; OpenCV is the
well-kept library that does per-image 2-D filtering fastest, so the engine
hands it the work rather than re-implementing SIMD convolution.

Why written here rather than taken from kornia: ``kornia.filters.filter2d``
applies one kernel per sample by cross-correlation, has no FFT path and no
boundary for kernels wider than the image; blur needs all three.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import (
    ParameterError,
    ShapeError,
    check_allocation,
    check_choice,
    check_images,
    check_kernel,
    check_kernel_values,
)
from ._padding import BOUNDARIES, pad2d

__all__ = ["blur", "blur_separable", "convolve", "choose_method", "BOUNDARIES"]

Method = Literal["auto", "direct", "fft", "opencv"]

try:  # optional fast CPU backend
    import cv2 as _cv2
except ImportError:  # pragma: no cover - exercised only without OpenCV
    _cv2 = None

_CV_BORDER = (
    {}
    if _cv2 is None
    else {
        "reflect": _cv2.BORDER_REFLECT_101,
        "symmetric": _cv2.BORDER_REFLECT,
        "replicate": _cv2.BORDER_REPLICATE,
        "zeros": _cv2.BORDER_CONSTANT,
    }
)

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


def _opencv_ok(x: torch.Tensor, boundary: str, *kernels: torch.Tensor) -> bool:
    """Whether the OpenCV path applies: CPU float32/64, no gradient wanted, a boundary
    OpenCV has, and kernels whose half-width fits inside the image."""
    if _cv2 is None or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    if boundary not in _CV_BORDER:
        return False
    if torch.is_grad_enabled() and (x.requires_grad or any(k.requires_grad for k in kernels)):
        return False
    h, w = x.shape[-2:]
    return all(k.shape[-2] // 2 < h and k.shape[-1] // 2 < w for k in kernels)


def _opencv(x: torch.Tensor, k: torch.Tensor, boundary: str) -> torch.Tensor:
    b, c, h, w = x.shape
    kb, kc, kh, kw = k.shape
    xn = x.detach().permute(0, 2, 3, 1).contiguous().numpy()
    # filter2D correlates: flip for a true convolution; anchor puts the centre at k // 2
    kn = np.ascontiguousarray(k.detach().flip(-1, -2).to(x.dtype).numpy())
    anchor = (kw - 1 - kw // 2, kh - 1 - kh // 2)
    border = _CV_BORDER[boundary]
    out = np.empty_like(xn)
    for i in range(b):
        ki = kn[i if kb > 1 else 0]
        if kc == 1 and c <= 4:
            out[i] = _cv2.filter2D(xn[i], -1, ki[0], anchor=anchor, borderType=border).reshape(
                h, w, c
            )
        else:
            for ch in range(c):
                out[i, :, :, ch] = _cv2.filter2D(
                    xn[i, :, :, ch], -1, ki[ch if kc > 1 else 0], anchor=anchor, borderType=border
                )
    return torch.from_numpy(out).permute(0, 3, 1, 2)


# a kernel with at most this many non-zero taps (and at most 1/8 of its area) is
# applied as a sum of shifted copies on the no-gradient CPU path: motion streaks
# are lines, and a 41x41 streak has 41 taps, not 1,681
_SPARSE_MAX_TAPS = 96


def _sparse_taps(k: torch.Tensor) -> int:
    return int((k != 0).sum(dim=(-2, -1)).max())


def _sparse(x: torch.Tensor, k: torch.Tensor, boundary: str) -> torch.Tensor:
    """True convolution as a sum of shifted copies, one per non-zero tap (no gradient).

    Runs in numpy: thousands of small in-place adds are where PyTorch's intra-op
    threads cost more than they give (and far more on a loaded machine).
    """
    b, c, h, w = x.shape
    kb, kc, kh, kw = k.shape
    xp = pad2d(x.detach(), _pads(kh, kw), boundary).numpy()
    out = np.zeros((b, c, h, w), dtype=xp.dtype)
    kd = k.detach().numpy()
    tmp = np.empty((c, h, w), dtype=xp.dtype)
    for i in range(b):
        ki = kd[i if kb > 1 else 0]
        for cc in range(kc):
            ys, xs = np.nonzero(ki[cc])
            dst = out[i] if kc == 1 else out[i, cc]
            src = xp[i] if kc == 1 else xp[i, cc]
            t = tmp if kc == 1 else tmp[0]
            for u, v in zip(ys.tolist(), xs.tolist()):
                np.multiply(
                    src[..., kh - 1 - u : kh - 1 - u + h, kw - 1 - v : kw - 1 - v + w],
                    ki[cc, u, v],
                    out=t,
                )
                dst += t
    return torch.from_numpy(out)


def _opencv_separable(
    x: torch.Tensor, ky: torch.Tensor, kx: torch.Tensor, boundary: str
) -> torch.Tensor:
    b, c, h, w = x.shape
    xn = x.detach().permute(0, 2, 3, 1).contiguous().numpy()
    kyn = np.ascontiguousarray(ky.detach().reshape(ky.shape[0], -1).flip(-1).to(x.dtype).numpy())
    kxn = np.ascontiguousarray(kx.detach().reshape(kx.shape[0], -1).flip(-1).to(x.dtype).numpy())
    anchor = (kxn.shape[-1] - 1 - kxn.shape[-1] // 2, kyn.shape[-1] - 1 - kyn.shape[-1] // 2)
    border = _CV_BORDER[boundary]
    out = np.empty_like(xn)
    for i in range(b):
        fy = kyn[i if kyn.shape[0] > 1 else 0]
        fx = kxn[i if kxn.shape[0] > 1 else 0]
        if c <= 4:
            out[i] = _cv2.sepFilter2D(xn[i], -1, fx, fy, anchor=anchor, borderType=border).reshape(
                h, w, c
            )
        else:
            for ch in range(c):
                out[i, :, :, ch] = _cv2.sepFilter2D(
                    xn[i, :, :, ch], -1, fx, fy, anchor=anchor, borderType=border
                )
    return torch.from_numpy(out).permute(0, 3, 1, 2)


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
        method: ``"direct"``, ``"fft"``, ``"opencv"`` (CPU, no gradient) or
            ``"auto"`` (OpenCV where it applies, else the cost rule of :func:`choose_method`).

    Returns:
        Blurred images, same shape, dtype and device as ``images``. Differentiable
        with respect to both images and kernels (``auto`` never picks OpenCV when a
        gradient is wanted). An empty batch (``B = 0``) gives an empty result.

    Raises:
        ShapeError: wrong ranks, a zero-size channel or spatial axis, or kernels that
            match neither one per batch nor one per channel.
        ParameterError: NaN or infinite pixels; kernels that are not finite, have negative
            taps or sum to zero (a PSF is non-negative: use :func:`convolve` for signed
            filters); an unknown boundary or method; a kernel so much larger than the
            image that padding would exceed the allocation limit.

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
    x, single = check_images(images)
    k = check_kernel(kernels)
    check_kernel_values(k)
    out = _convolve(x, k, boundary, method)
    return out[0] if single else out


def convolve(
    images: torch.Tensor,
    kernels: torch.Tensor,
    boundary: str = "reflect",
    method: Method = "auto",
) -> torch.Tensor:
    """The engine of :func:`blur` for any real filter: signed kernels (derivatives,
    Laplacians, sharpening) allowed, and no value checks (no pass over the data, no GPU
    synchronisation), so it also suits inner loops whose inputs were checked once.

    Shapes, boundaries and methods as in :func:`blur`; non-finite values propagate.

    Example:
        >>> x = torch.arange(5.0).reshape(1, 1, 1, 5)
        >>> convolve(x, torch.tensor([[1.0, 0.0, -1.0]]), "replicate")  # central difference
        tensor([[[[1., 2., 2., 2., 1.]]]])
    """
    x, single = check_images(images, finite=False)
    out = _convolve(x, check_kernel(kernels), boundary, method)
    return out[0] if single else out


def _check_padding(x: torch.Tensor, kh: int, kw: int, name: str = "kernels") -> None:
    """The allocation guard for what a kernel adds beyond the image's own size: the padding
    (twice, for an FFT spectrum) and the kernel repeated per image and channel. The image
    itself is the caller's and is not limited."""
    b, c, h, w = x.shape
    extra = b * c * ((h + kh - 1) * (w + kw - 1) - h * w)
    check_allocation(name, extra, itemsize=2 * x.element_size())
    check_allocation(name, (b * c, kh, kw), itemsize=x.element_size())


def _convolve(x: torch.Tensor, k: torch.Tensor, boundary: str, method: str) -> torch.Tensor:
    check_choice(boundary, "boundary", BOUNDARIES)
    check_choice(method, "method", ("auto", "direct", "fft", "opencv"))
    _check_pair(x, k)
    if x.shape[0] == 0:
        return x.clone()
    _check_padding(x, *k.shape[-2:])
    # the images decide device and dtype (a CPU kernel with CUDA images is moved)
    k = k.to(device=x.device, dtype=x.dtype)
    if method == "opencv" and not _opencv_ok(x, boundary, k):
        raise ParameterError(
            "method: 'opencv' needs OpenCV, a CPU float32/float64 tensor without gradient, a "
            "boundary other than 'circular' and a kernel no wider than the image"
        )
    if method == "auto":
        if _opencv_ok(x, boundary, k):
            taps = (
                _sparse_taps(k) if k.shape[-1] * k.shape[-2] > 8 * _SPARSE_MAX_TAPS // 4 else None
            )
            sparse = (
                taps is not None
                and taps <= _SPARSE_MAX_TAPS
                and 8 * taps <= k.shape[-1] * k.shape[-2]
            )
            method = "sparse" if sparse else "opencv"
        else:
            method = choose_method(tuple(x.shape[-2:]), tuple(k.shape[-2:]))
    if method == "sparse":
        out = _sparse(x, k, boundary)
    elif method == "opencv":
        out = _opencv(x, k, boundary)
    elif method == "direct":
        out = _direct(x, k, boundary)
    else:
        out = _fft(x, k, boundary)
    return out


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
    x, single = check_images(images)
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
    check_kernel_values(ky, "kernel_y")
    check_kernel_values(kx, "kernel_x")
    if x.shape[0] == 0:
        return x.clone()
    _check_padding(x, ky.shape[-2], kx.shape[-1])
    # the images decide device and dtype (a CPU kernel with CUDA images is moved)
    ky, kx = ky.to(x.device, x.dtype), kx.to(x.device, x.dtype)
    if ky.shape[1] == 1 and kx.shape[1] == 1 and _opencv_ok(x, boundary, ky, kx):
        out = _opencv_separable(x, ky, kx, boundary)
    else:
        out = _direct(_direct(x, ky, boundary), kx, boundary)
    return out[0] if single else out
