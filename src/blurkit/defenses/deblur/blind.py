"""Blind deblurring: estimate the kernel from the blurred image, then deconvolve.

By default (``family="free"``) the kernel is free-form: a coarse-to-fine MAP
estimate with a sparse-gradient prior (:func:`~.freeform.estimate_freeform_kernel`),
which handles real camera shake, then total-variation deconvolution
(:func:`~.nonblind.tv_deconv`). On Levin et al.'s real shakes this is the method
that moves off the input (``benchmarks/RESULTS.md``); it needs images of about
96x96 or more (the kernel box at most a third of the shorter side).

Otherwise the kernel is fitted parametrically: :func:`blurkit.measure.estimate_blur` reads
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

from ..._checks import ParameterError, check_choice, check_image, check_scalar
from ...kernels import disk_kernel, gaussian_kernel, motion_kernel
from ...kernels.family import blur_families, get_blur_family
from ...measure import estimate_blur
from .freeform import _crop_support, estimate_freeform_kernel
from .nonblind import NONBLIND_METHODS, deconvolve

__all__ = ["BLIND_FAMILIES", "estimate_kernel", "blind_deblur", "BlindDeblur"]

#: a free-form kernel, or a family :func:`blurkit.measure.estimate_blur` estimates
BLIND_FAMILIES = ("free", *blur_families(estimable=True))


def _default_method(family: str, method: str | None) -> str:
    if method is None:
        return "tv" if family == "free" else "wiener"
    return check_choice(method, "method", tuple(NONBLIND_METHODS))


def estimate_kernel(
    images: torch.Tensor,
    family: str = "free",
    *,
    shrink: float = 0.9,
    kernel_size: int | None = None,
    estimator: dict | None = None,
):
    """Estimate one kernel per image, free-form or of a parametric ``family``.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` blurred images in [0, 1], at least 32x32.
        family: ``"free"`` (free-form, :func:`~.freeform.estimate_freeform_kernel`),
            ``"gaussian"``, ``"defocus"`` or ``"motion"``.
        shrink: parametric families: factor applied to the estimated sigma / radius /
            length (see the module docstring).
        kernel_size: ``"free"``: the odd kernel box (``None``: chosen from the image size).
        estimator: ``"free"``: further options of
            :func:`~.freeform.estimate_freeform_kernel` (``prior``, ``iterations``, ...).

    Returns:
        ``(kernels (B, 1, k, k), params)`` where ``params`` is a dict of the fitted
        ``(B,)`` parameters (``sigma``, ``radius`` or ``length`` and ``angle``;
        for ``"free"``, ``size``: the kernel side).

    Example:
        >>> from blurkit.kernels import gaussian_blur
        >>> x = torch.rand(1, 1, 64, 64)
        >>> k, p = estimate_kernel(gaussian_blur(x, 2.0), "gaussian")
        >>> k.shape[:2], sorted(p)
        (torch.Size([1, 1]), ['sigma'])
    """
    check_choice(family, "family", BLIND_FAMILIES)
    shrink = check_scalar(shrink, "shrink", low=0.0, high=10.0, low_inclusive=False)
    x, _ = check_image(images)
    if family == "free":
        k = estimate_freeform_kernel(x, kernel_size, **(estimator or {}))
        return k, {"size": torch.full((x.shape[0],), k.shape[-1], device=x.device)}
    if kernel_size is not None or estimator:
        raise ParameterError(
            f"kernel_size / estimator: apply to family 'free' only, got family {family!r}"
        )
    with torch.no_grad():
        est = estimate_blur(x, family=family)  # the input rule: finite, >= 32x32
    dt = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    if not len(x):  # an empty batch: no kernels
        fam = get_blur_family(family)  # the parameters it reports: strength, then the rest
        names = (fam.strength, *(fam.sampler.extra if fam.sampler is not None else ()))
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
    family: str = "free",
    method: str | None = None,
    *,
    shrink: float = 0.9,
    kernel_size: int | None = None,
    estimator: dict | None = None,
    **params,
) -> torch.Tensor:
    """Estimate each image's kernel (:func:`estimate_kernel`) and deconvolve with it.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` blurred images in [0, 1].
        family: ``"free"`` (default: a free-form kernel, for real camera shake) or a
            parametric family fitted, ``"gaussian"``, ``"defocus"`` or ``"motion"``.
        method: the non-blind method (``"wiener"``, ``"rl"``, ``"tv"``,
            ``"hyper_laplacian"``); ``None``: ``"tv"`` for ``"free"``, ``"wiener"`` otherwise.
        shrink, kernel_size, estimator: see :func:`estimate_kernel`.
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
    check_choice(family, "family", BLIND_FAMILIES)
    method = _default_method(family, method)
    x, single = check_image(images)
    if not len(x):
        return x.clone()
    if family == "free" and len(x) > 1 and (estimator or {}).get("crop", True):
        # estimated together, but each kernel cropped to its own support and applied alone:
        # the crop to the batch's joint support made an image's restoration depend on the
        # rest of its batch (tests/contract/test_deblurrers.py)
        est = {**(estimator or {}), "crop": False}
        k, _ = estimate_kernel(x, family, shrink=shrink, kernel_size=kernel_size, estimator=est)
        return torch.cat(
            [
                deconvolve(
                    x[i : i + 1],
                    _crop_support(k[i : i + 1]).to(x.device),
                    method,
                    **{n: _row(v, i, len(x)) for n, v in params.items()},
                )
                for i in range(len(x))
            ]
        )
    k, _ = estimate_kernel(x, family, shrink=shrink, kernel_size=kernel_size, estimator=estimator)
    out = deconvolve(x, k.to(x.device), method, **params)
    return out[0] if single else out


def _row(value, i: int, batch: int):
    """Image ``i``'s value of a per-image parameter (a ``(B,)`` tensor or sequence)."""
    if isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == batch:
        return value[i : i + 1]
    if isinstance(value, (list, tuple)) and len(value) == batch:
        return value[i : i + 1]
    return value


class BlindDeblur(nn.Module):
    """Module form of :func:`blind_deblur`: a front-end that needs no kernel.

    Example:
        >>> BlindDeblur("motion", "wiener")(torch.rand(2, 3, 48, 48)).shape
        torch.Size([2, 3, 48, 48])
        >>> BlindDeblur()
        BlindDeblur(family='free', method='tv', shrink=0.9)
    """

    def __init__(
        self,
        family: str = "free",
        method: str | None = None,
        *,
        shrink: float = 0.9,
        kernel_size: int | None = None,
        estimator: dict | None = None,
        **params,
    ) -> None:
        super().__init__()
        self.family = check_choice(family, "family", BLIND_FAMILIES)
        self.method = _default_method(family, method)
        self.shrink = check_scalar(shrink, "shrink", low=0.0, high=10.0, low_inclusive=False)
        self.kernel_size = kernel_size
        self.estimator = dict(estimator or {})
        self.params = dict(params)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return blind_deblur(
            images,
            self.family,
            self.method,
            shrink=self.shrink,
            kernel_size=self.kernel_size,
            estimator=self.estimator,
            **self.params,
        )

    def extra_repr(self) -> str:
        return f"family={self.family!r}, method={self.method!r}, shrink={self.shrink}"
