"""Random Gaussian and motion blur with one kernel per image (the kernel families of
:mod:`blurkit.defenses.augment`).

On accelerators all kernels go through one batched call (a grouped convolution through
:func:`blurkit.blur`, or two grouped 1-D passes through
:func:`blurkit.functional.blur_separable` for the Gaussian). On the CPU each image is
convolved with its own tight kernel by shifted adds (symmetric 1-D taps for the
Gaussian, the non-zero taps of the streak for motion), which ``benchmarks/augment.py``
measured faster than one grouped convolution whose kernels are all padded to the
largest. That operator is :func:`blurkit.kernels.gaussian.gaussian_per_image` and
:func:`blurkit.kernels.motion.motion_per_image` (defined with their families, whose
samplers the mixture of :mod:`.mixture` uses too; the CPU helpers are
:mod:`blurkit.functional.per_image`).
"""

from __future__ import annotations

import torch

from ..._checks import ParameterError, check_choice, check_scalar
from ...kernels.gaussian import gaussian_per_image
from ...kernels.motion import motion_per_image
from .base import RandomBlurBase, Uniform, check_range

__all__ = ["RandomGaussianBlur", "RandomMotionBlur"]


def _odd_or_none(size, name: str) -> int | None:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ParameterError(f"{name}: expected an odd positive int or None, got {size!r}")
    return size


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
