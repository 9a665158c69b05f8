"""Random Gaussian and motion blur with one kernel per image (the kernel families of
:mod:`blurkit.defenses.augment`).

On accelerators all kernels go through one batched call (a grouped convolution through
:func:`blurkit.blur`, or two grouped 1-D passes through
:func:`blurkit.functional.blur_separable` for the Gaussian). On the CPU each image is
convolved with its own tight kernel by shifted adds (symmetric 1-D taps for the
Gaussian, the non-zero taps of the streak for motion), which ``benchmarks/augment.py``
measured faster than one grouped convolution whose kernels are all padded to the
largest. :func:`gaussian_per_image` and :func:`motion_per_image` are that operator
(used by the single-family augmentations here and by the mixture of
:mod:`.mixture`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..._checks import ParameterError, check_choice, check_scalar
from ...functional._padding import pad2d
from ...functional.conv import blur, blur_separable
from ...kernels.gaussian import gaussian_kernel1d
from ...kernels.motion import motion_kernel
from .base import RandomBlurBase, Uniform, check_range

__all__ = ["RandomGaussianBlur", "RandomMotionBlur", "gaussian_per_image", "motion_per_image"]


def _odd_or_none(size, name: str) -> int | None:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ParameterError(f"{name}: expected an odd positive int or None, got {size!r}")
    return size


def _loop_is_faster(images: torch.Tensor) -> bool:
    """On the CPU, one convolution per image with that image's tight kernel beats one
    grouped convolution with every kernel padded to the largest (measured by
    ``benchmarks/augment.py``: the per-image kernels are mostly far smaller than the
    largest); on accelerators the single batched call wins."""
    return images.device.type == "cpu" and images.shape[0] > 1


def _each(images: torch.Tensor, fn: Callable) -> torch.Tensor:
    """``fn(i, images[i:i+1])`` for every image, written into one output tensor."""
    out = torch.empty_like(images)
    for i in range(images.shape[0]):
        out[i : i + 1] = fn(i, images[i : i + 1])
    return out


def _symmetric_separable(image: torch.Tensor, w: list[float], boundary: str) -> torch.Tensor:
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


def _sparse_conv(image: torch.Tensor, taps: list, hy: int, hx: int, boundary: str) -> torch.Tensor:
    """True convolution of one image with a sparse kernel given as ``(dy, dx, weight)`` taps
    (row and column offsets from the centre pixel), by shifted adds of the padded image."""
    h, w = image.shape[-2:]
    p = pad2d(image, (hx, hx, hy, hy), boundary)
    out = torch.zeros_like(image)
    for dy, dx, wt in taps:
        out.add_(p[..., hy - dy : hy - dy + h, hx - dx : hx - dx + w], alpha=wt)
    return out


def gaussian_per_image(
    images: torch.Tensor,
    sigma: torch.Tensor,
    *,
    boundary: str = "reflect",
    kernel_size: int | None = None,
    truncate: float = 4.0,
) -> torch.Tensor:
    """Blur image ``i`` of ``images`` ``(B, C, H, W)`` with a Gaussian of ``sigma[i]`` px.

    Without ``kernel_size`` each image gets its own radius ``int(truncate * sigma + 0.5)``
    (scipy's), so its blur does not depend on the rest of the batch.
    """
    if kernel_size is not None:
        g = gaussian_kernel1d(sigma, kernel_size, truncate=truncate)
        return blur_separable(images, g, g, boundary=boundary)
    # each image's own radius int(truncate * sigma + 0.5) (scipy's), so an image's
    # blur does not depend on the rest of the batch: gaussian_blur(image, sigma)
    radii = [int(truncate * v + 0.5) for v in sigma.detach().cpu().tolist()]
    if _loop_is_faster(images):
        weights = [
            gaussian_kernel1d(sigma[i : i + 1], 2 * r + 1)[0].tolist() for i, r in enumerate(radii)
        ]
        return _each(images, lambda i, img: _symmetric_separable(img, weights[i], boundary))
    big = max(radii)
    x = torch.arange(-big, big + 1, device=sigma.device, dtype=sigma.dtype)
    inside = x.abs()[None] <= torch.tensor(radii, device=sigma.device)[:, None]
    g = torch.exp(-0.5 * (x[None] / sigma.clamp_min(1e-6)[:, None]) ** 2) * inside
    g = g / g.sum(-1, keepdim=True)
    return blur_separable(images, g, g, boundary=boundary)


def motion_per_image(
    images: torch.Tensor,
    length: torch.Tensor,
    angle: torch.Tensor,
    *,
    boundary: str = "reflect",
    profile: str = "uniform",
    sigma: torch.Tensor | None = None,
    kernel_size: int | None = None,
    method: str = "auto",
) -> torch.Tensor:
    """Blur image ``i`` of ``images`` with a streak of ``length[i]`` px at ``angle[i]`` degrees
    (kernels of :func:`blurkit.kernels.motion_kernel`)."""
    k = motion_kernel(
        length,
        angle,
        kernel_size,
        profile=profile,
        sigma=sigma,
    )
    if not _loop_is_faster(images):
        return blur(images, k, boundary=boundary, method=method)
    # a streak fills a small part of its square: crop each kernel to its support
    # (symmetric about the centre pixel) and convolve image by image
    n = k.shape[-1]
    c = n // 2
    dist = (torch.arange(n, device=k.device) - c).abs()
    nz = k[:, 0].detach() != 0
    hy = (dist * nz.any(-1)).amax(-1).tolist()
    hx = (dist * nz.any(-2)).amax(-1).tolist()
    taps = [[] for _ in range(images.shape[0])]
    kd = k[:, 0].detach()
    nzi = (kd != 0).nonzero()
    for (b, i, j), v in zip(
        nzi.tolist(), kd[nzi[:, 0], nzi[:, 1], nzi[:, 2]].tolist(), strict=True
    ):
        taps[b].append((i - c, j - c, v))
    return _each(images, lambda b, img: _sparse_conv(img, taps[b], hy[b], hx[b], boundary))


class RandomGaussianBlur(RandomBlurBase):
    """Gaussian blur with a random sigma per image, ``sigma ~ U(low, high)``.

    Applied as two grouped 1-D passes (one 1-D Gaussian per image).

    Args:
        sigma: ``(low, high)`` range in pixels, or one number for a fixed sigma.
        p: probability of blurring each image.
        kernel_size: odd side of the 1-D kernels; default covers ``truncate`` sigmas of
            the largest sigma drawn for the batch (the scipy convention).
        truncate: kernel radius in sigmas when ``kernel_size`` is None.
        generator, seed, boundary: see :class:`RandomBlurBase`.

    Example:
        >>> aug = RandomGaussianBlur((0.5, 2.0), p=1.0, seed=0)
        >>> x = torch.rand(4, 3, 16, 16)
        >>> y = aug(x)
        >>> torch.equal(y, aug(x, params=aug.last_params))
        True
        >>> aug.last_params["sigma"].unique().numel()  # one sigma per image
        4
    """

    param_names = ("sigma",)

    def __init__(
        self,
        sigma=(0.1, 2.0),
        p: float = 0.5,
        kernel_size: int | None = None,
        *,
        truncate: float = 4.0,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        boundary: str = "reflect",
    ) -> None:
        super().__init__(p, generator=generator, seed=seed, boundary=boundary)
        self.sigma = check_range(sigma, "sigma", low=0.0)
        self.kernel_size = _odd_or_none(kernel_size, "kernel_size")
        self.truncate = check_scalar(truncate, "truncate", low=0.0, low_inclusive=False)

    def _draw(self, batch: int, uniform: Uniform) -> dict[str, torch.Tensor]:
        lo, hi = self.sigma
        return {"sigma": lo + (hi - lo) * uniform()}

    def _blur(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return gaussian_per_image(
            images,
            params["sigma"],
            boundary=self.boundary,
            kernel_size=self.kernel_size,
            truncate=self.truncate,
        )

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, {super().extra_repr()}"


class RandomMotionBlur(RandomBlurBase):
    """Linear motion blur with a random length and angle per image.

    ``length ~ U(length)`` in pixels (sub-pixel, not rounded) and
    ``angle ~ U(angle)`` in degrees counter-clockwise; kernels from
    :func:`blurkit.kernels.motion_kernel`, applied by :func:`blurkit.blur`
    (``method="auto"`` switches to FFT for long streaks).

    Args:
        length: ``(low, high)`` range in pixels, or one number.
        angle: ``(low, high)`` range in degrees, or one number.
        p: probability of blurring each image.
        profile: ``"uniform"`` or ``"imagenet-c"`` (see :func:`~blurkit.kernels.motion_kernel`).
        sigma: range of the ImageNet-C profile's sigma (required with that profile).
        kernel_size: odd kernel side; default holds the longest streak drawn.
        method: ``"auto"``, ``"direct"`` or ``"fft"``, see :func:`blurkit.blur`.
        generator, seed, boundary: see :class:`RandomBlurBase`.

    Example:
        >>> aug = RandomMotionBlur((3.0, 9.0), p=1.0, seed=0)
        >>> y = aug(torch.rand(2, 3, 16, 16))
        >>> sorted(aug.last_params)
        ['angle', 'apply', 'length']
    """

    def __init__(
        self,
        length=(3.0, 15.0),
        angle=(-180.0, 180.0),
        p: float = 0.5,
        *,
        profile: str = "uniform",
        sigma=None,
        kernel_size: int | None = None,
        method: str = "auto",
        generator: torch.Generator | None = None,
        seed: int | None = None,
        boundary: str = "reflect",
    ) -> None:
        super().__init__(p, generator=generator, seed=seed, boundary=boundary)
        self.length = check_range(length, "length", low=0.0)
        self.angle = check_range(angle, "angle")
        self.profile = check_choice(profile, "profile", ("uniform", "imagenet-c"))
        if profile == "imagenet-c":
            if sigma is None:
                raise ParameterError("sigma: a range is required with profile='imagenet-c'")
            self.sigma = check_range(sigma, "sigma", low=0.0)
            if self.sigma[0] <= 0:
                raise ParameterError(f"sigma: expected values > 0, got {self.sigma}")
            self.param_names = ("length", "angle", "sigma")
        else:
            if sigma is not None:
                raise ParameterError("sigma: only used with profile='imagenet-c'")
            self.sigma = None
            self.param_names = ("length", "angle")
        self.kernel_size = _odd_or_none(kernel_size, "kernel_size")
        self.method = check_choice(method, "method", ("auto", "direct", "fft"))

    def _draw(self, batch: int, uniform: Uniform) -> dict[str, torch.Tensor]:
        (l0, l1), (a0, a1) = self.length, self.angle
        out = {"length": l0 + (l1 - l0) * uniform(), "angle": a0 + (a1 - a0) * uniform()}
        if self.sigma is not None:
            s0, s1 = self.sigma
            out["sigma"] = s0 + (s1 - s0) * uniform()
        return out

    def _blur(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return motion_per_image(
            images,
            params["length"],
            params["angle"],
            boundary=self.boundary,
            profile=self.profile,
            sigma=params.get("sigma"),
            kernel_size=self.kernel_size,
            method=self.method,
        )

    def extra_repr(self) -> str:
        return f"length={self.length}, angle={self.angle}, {super().extra_repr()}"
