"""Blind deblurring: estimate the kernel from the blurred image, then deconvolve.

The kernel is fitted parametrically: :func:`blurkit.measure.estimate_blur` reads
the Gaussian sigma or the defocus radius from the re-blur gradient ratio at edges
(Zhuo & Sim 2011) or the motion length and angle from the power cepstrum (Rom
1975; Cannon 1976), and the family's builder turns the estimate into a kernel
(:func:`blurkit.kernels.gaussian_kernel`, :func:`~blurkit.kernels.disk_kernel`,
:func:`~blurkit.kernels.motion_kernel`). A parametric fit is the right first tool
when the family is known (a defocused lens, a linear pan): two numbers are far
better determined by one image than a free-form kernel. The non-blind step is any
method of :mod:`blurkit.defenses.deblur.nonblind`.

The estimate is of the photograph's *total* blur (the camera's own ~0.5-1 px
adds to the blur applied), so it is multiplied by ``shrink`` (default 0.9) before
deconvolving: a kernel slightly too small leaves some blur, one too large creates
ringing, and the cost is not symmetric.

Estimation is not differentiable (it selects edges and a cepstrum peak); the
kernel parameters are detached and gradients flow through the deconvolution to
the image only. The estimators need images of at least 32x32 and are accurate
from about 128x128 (``docs/measure.md``); on CIFAR-sized images the learned
front-end (:mod:`~blurkit.defenses.deblur.learned`) is the better choice.
"""

from __future__ import annotations

import torch
from torch import nn

from ..._checks import check_choice, check_image, check_scalar
from .nonblind import NONBLIND_METHODS, deconvolve

__all__ = ["BLIND_FAMILIES", "estimate_kernel", "blind_deblur", "BlindDeblur"]

BLIND_FAMILIES = ("gaussian", "defocus", "motion")


def estimate_kernel(images: torch.Tensor, family: str = "gaussian", *, shrink: float = 0.9):
    """Estimate one kernel per image of a parametric ``family``.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` blurred images in [0, 1], at least 32x32.
        family: ``"gaussian"``, ``"defocus"`` or ``"motion"``.
        shrink: factor in (0, 10] applied to the estimated sigma / radius / length (see
            the module docstring).

    Returns:
        ``(kernels (B, 1, k, k), params)`` where ``params`` is a dict of the fitted
        ``(B,)`` parameters (``sigma``, ``radius`` or ``length`` and ``angle``).

    Example:
        >>> from blurkit.kernels import gaussian_blur
        >>> x = torch.rand(1, 1, 64, 64)
        >>> k, p = estimate_kernel(gaussian_blur(x, 2.0))
        >>> k.shape[:2], sorted(p)
        (torch.Size([1, 1]), ['sigma'])
    """
    from ...kernels import disk_kernel, gaussian_kernel, motion_kernel
    from ...measure import estimate_blur

    check_choice(family, "family", BLIND_FAMILIES)
    shrink = check_scalar(shrink, "shrink", low=0.0, high=10.0, low_inclusive=False)
    x, _ = check_image(images)
    with torch.no_grad():
        est = estimate_blur(x, family=family)  # the input rule: finite, >= 32x32
    dt = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    if not len(x):  # an empty batch: no kernels
        names = (
            ("length", "angle")
            if family == "motion"
            else ("sigma" if family == "gaussian" else "radius",)
        )
        return x.new_zeros(0, 1, 1, 1, dtype=dt), {n: x.new_zeros(0, dtype=dt) for n in names}
    # a kernel may not exceed a quarter of the image's shorter side
    cap = max(min(x.shape[-2:]) / 4.0, 1.0)
    if family == "motion":
        length = (est["length"].detach() * shrink).clamp(0.0, 2 * cap).to(dt)
        angle = est["angle"].detach().to(dt)
        return motion_kernel(length, angle), {"length": length, "angle": angle}
    value = (est.detach() * shrink).to(dt)
    if family == "gaussian":
        sigma = value.clamp(0.0, cap / 4)
        return gaussian_kernel(sigma), {"sigma": sigma}
    radius = value.clamp(0.0, cap)
    return disk_kernel(radius), {"radius": radius}


def blind_deblur(
    images: torch.Tensor,
    family: str = "gaussian",
    method: str = "wiener",
    *,
    shrink: float = 0.9,
    **params,
) -> torch.Tensor:
    """Estimate each image's kernel (:func:`estimate_kernel`) and deconvolve with it.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` blurred images in [0, 1].
        family: the kernel family fitted, ``"gaussian"``, ``"defocus"`` or ``"motion"``.
        method: the non-blind method (``"wiener"``, ``"rl"``, ``"tv"``, ``"hyper_laplacian"``).
        shrink: see :func:`estimate_kernel`.
        **params: passed to the non-blind method.

    Example:
        >>> from blurkit.kernels import defocus_blur
        >>> from blurkit.measure import psnr
        >>> from skimage.data import camera
        >>> x = torch.from_numpy(camera()[200:328, 200:328]).float()[None, None] / 255
        >>> y = defocus_blur(x, 3.0)
        >>> bool(psnr(blind_deblur(y, "defocus"), x) > psnr(y, x))
        True
    """
    check_choice(method, "method", tuple(NONBLIND_METHODS))
    x, single = check_image(images)
    k, _ = estimate_kernel(x, family, shrink=shrink)
    if not len(x):
        return x.clone()
    out = deconvolve(x, k.to(x.device), method, **params)
    return out[0] if single else out


class BlindDeblur(nn.Module):
    """Module form of :func:`blind_deblur`: a front-end that needs no kernel.

    Example:
        >>> BlindDeblur("motion", "wiener")(torch.rand(2, 3, 48, 48)).shape
        torch.Size([2, 3, 48, 48])
    """

    def __init__(
        self, family: str = "gaussian", method: str = "wiener", *, shrink: float = 0.9, **params
    ) -> None:
        super().__init__()
        self.family = check_choice(family, "family", BLIND_FAMILIES)
        self.method = check_choice(method, "method", tuple(NONBLIND_METHODS))
        self.shrink = check_scalar(shrink, "shrink", low=0.0, high=10.0, low_inclusive=False)
        self.params = dict(params)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return blind_deblur(images, self.family, self.method, shrink=self.shrink, **self.params)

    def extra_repr(self) -> str:
        return f"family={self.family!r}, method={self.method!r}, shrink={self.shrink}"
