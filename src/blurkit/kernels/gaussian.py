"""Gaussian point-spread functions.

Why a Gaussian: a real blur is usually the sum of many small, independent
effects (lens aberrations, diffraction, sensor pixel integration, the
anti-aliasing filter, slight defocus, atmospheric turbulence). By the central
limit theorem, the convolution of many such PSFs tends to a Gaussian, so a
Gaussian is the fair default when no single cause dominates
(Gonzalez & Woods, *Digital Image Processing*, 4th ed., Sec. 5.6). The
anisotropic form models blur that is stronger along one direction (residual
astigmatism, slight motion); the generalised Gaussian
``exp(-(r / alpha) ** beta)`` interpolates between a heavy-tailed (``beta < 2``)
and a flat-topped, disk-like (``beta > 2``) profile (Nadarajah, J. Appl. Stat.
32(7), 2005, doi:10.1080/02664760500079464; used as a blur model by
Liu et al., "Estimating generalized Gaussian blur kernels for out-of-focus
image deblurring", IEEE TCSVT 2021).

Tiers: kernel builders here, :func:`gaussian_blur` applies a (separable)
isotropic Gaussian, :class:`GaussianBlur` holds its settings.
"""

from __future__ import annotations

import torch

from .._checks import (
    as_param,
    check_allocation,
    check_images,
    check_scalar,
    check_size,
    common_dtype,
    trusted_values,
)
from ..functional import per_image as _per_image
from ..functional.conv import blur_separable
from ._module import FixedBlur
from ._utils import _batch_of, _normalize, _param_max, _reduce_angle, kernel_grid, odd_size
from .family import BlurFamily, Sampler, register_blur_family
from .registry import register_kernel

__all__ = [
    "gaussian_kernel1d",
    "gaussian_kernel",
    "anisotropic_gaussian_kernel",
    "generalized_gaussian_kernel",
    "gaussian_blur",
    "GaussianBlur",
]

_MIN_SIGMA = 1e-6
_MIN_BETA = 0.1
# kernel radius in sigmas: 4 by default (scipy), far beyond any use at 100; a larger value
# overflows half precision (truncate * sigma) and breaks the per-sample support
_MAX_TRUNCATE = 100.0


def _radius(sigma: torch.Tensor, truncate: float) -> float:
    # scipy.ndimage / scikit-image convention: radius = int(truncate * sigma + 0.5); kept a
    # float here so that a huge product reaches odd_size's limit as a typed error
    r = truncate * _param_max(sigma) + 0.5
    return float(int(r)) if r < 2**53 else r


def _side(size, sigma: torch.Tensor, truncate: float, name: str = "sigma") -> int:
    """The kernel side: ``size`` by the size rule, else scipy's radius of the largest sigma;
    then the allocation guard for the batch of ``size x size`` kernels."""
    n = odd_size(_radius(sigma, truncate), name) if size is None else check_size(size)
    check_allocation(name, (sigma.shape[0], n, n), itemsize=sigma.element_size())
    return n


def gaussian_kernel1d(
    sigma, size: int | None = None, *, truncate: float = 4.0, device=None, dtype=None
) -> torch.Tensor:
    """Sampled, normalised 1-D Gaussians, one per sigma: ``(B, size)``.

    Each Gaussian is cut at scipy's ``gaussian_filter`` radius
    ``int(truncate * sigma + 0.5)`` of its own sigma; the default size fits the
    largest. A kernel therefore does not depend on the rest of its batch.

    Example:
        >>> gaussian_kernel1d(1.0).shape
        torch.Size([1, 9])
    """
    s = as_param(sigma, "sigma", device=device, dtype=dtype, low=0.0)
    truncate = check_scalar(truncate, "truncate", low=0.0, high=_MAX_TRUNCATE, low_inclusive=False)
    size = _side(size, s, truncate)
    x = torch.arange(size, device=s.device, dtype=s.dtype) - size // 2
    # each sample keeps its own support (scipy's radius), so a kernel does not
    # depend on the other sigmas of its batch
    own_radius = torch.floor(truncate * s.detach() + 0.5)[:, None]
    s = s.clamp_min(_MIN_SIGMA)[:, None]
    g = torch.exp(-0.5 * (x[None] / s) ** 2) * (x.abs()[None] <= own_radius)
    return g / g.sum(-1, keepdim=True)


@register_kernel("gaussian")
def gaussian_kernel(
    sigma, size: int | None = None, *, truncate: float = 4.0, device=None, dtype=None
) -> torch.Tensor:
    """Isotropic Gaussian PSFs ``(B, 1, size, size)``, one per sigma (pixels).

    Example:
        >>> k = gaussian_kernel(torch.tensor([0.5, 2.0]))
        >>> k.shape, [round(float(v), 6) for v in k.sum((-2, -1)).flatten()]
        (torch.Size([2, 1, 17, 17]), [1.0, 1.0])
    """
    g = gaussian_kernel1d(sigma, size, truncate=truncate, device=device, dtype=dtype)
    return (g[:, :, None] * g[:, None, :])[:, None]


@register_kernel("anisotropic_gaussian")
def anisotropic_gaussian_kernel(
    sigma_x,
    sigma_y,
    angle=0.0,
    size: int | None = None,
    *,
    truncate: float = 4.0,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """Anisotropic Gaussian PSFs ``(B, 1, size, size)``.

    Args:
        sigma_x: spread along the kernel's major direction (pixels), ``(B,)`` or scalar.
        sigma_y: spread across it (pixels).
        angle: direction of ``sigma_x`` in degrees counter-clockwise from the image's x axis.
        size: odd side; default covers ``truncate`` times the larger sigma.

    Example:
        >>> k = anisotropic_gaussian_kernel(3.0, 1.0, angle=90.0)
        >>> bool(k[0, 0].sum(0).std() > k[0, 0].sum(1).std())  # elongated vertically
        True
    """
    dtype = common_dtype(sigma_x, sigma_y, angle, dtype=dtype)
    sx = as_param(sigma_x, "sigma_x", device=device, dtype=dtype, low=0.0)
    sy = as_param(sigma_y, "sigma_y", device=sx.device, dtype=sx.dtype, low=0.0)
    th = as_param(angle, "angle", device=sx.device, dtype=sx.dtype)
    truncate = check_scalar(truncate, "truncate", low=0.0, high=_MAX_TRUNCATE, low_inclusive=False)
    b = _batch_of(sx.shape[0], sy.shape[0], th.shape[0])
    sx, sy, th = (as_param(t, n, b) for t, n in ((sx, "sigma_x"), (sy, "sigma_y"), (th, "angle")))
    th = _reduce_angle(th)
    size = _side(size, torch.maximum(sx, sy), truncate)
    x, y = kernel_grid(size, device=sx.device, dtype=sx.dtype)
    t = torch.deg2rad(th)[:, None, None]
    u = x * torch.cos(t) + y * torch.sin(t)
    v = -x * torch.sin(t) + y * torch.cos(t)
    sx = sx.clamp_min(_MIN_SIGMA)[:, None, None]
    sy = sy.clamp_min(_MIN_SIGMA)[:, None, None]
    k = torch.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return _normalize(k[:, None])


@register_kernel("generalized_gaussian")
def generalized_gaussian_kernel(
    sigma, beta=2.0, size: int | None = None, *, truncate: float = 4.0, device=None, dtype=None
) -> torch.Tensor:
    """Isotropic generalised Gaussian PSFs ``exp(-(r / alpha) ** beta)``, ``(B, 1, size, size)``.

    ``alpha`` is chosen so that the PSF has standard deviation ``sigma`` along
    each axis (for ``beta = 2`` this is the ordinary Gaussian):
    ``alpha = sigma * sqrt(2 * Gamma(2 / beta) / Gamma(4 / beta))``. ``beta >= 0.1``
    (below, the scale underflows even in float64 for the smallest values).

    Example:
        >>> k = generalized_gaussian_kernel(2.0, beta=8.0)  # flat top, disk-like
        >>> float(k[0, 0, 8, 8] / k[0, 0, 8, 10]) < 1.1
        True
    """
    dtype = common_dtype(sigma, beta, dtype=dtype)
    s = as_param(sigma, "sigma", device=device, dtype=dtype, low=0.0)
    # below 0.1 the profile's scale exp(lgamma(2 / beta) - lgamma(4 / beta)) underflows
    be = as_param(beta, "beta", device=s.device, dtype=s.dtype, low=_MIN_BETA)
    truncate = check_scalar(truncate, "truncate", low=0.0, high=_MAX_TRUNCATE, low_inclusive=False)
    b = _batch_of(s.shape[0], be.shape[0])
    s, be = as_param(s, "sigma", b), as_param(be, "beta", b)
    size = _side(size, s, truncate)
    # half precision cannot hold the profile's scale: computed in float32, then cast
    work = torch.float32 if s.dtype in (torch.float16, torch.bfloat16) else s.dtype
    x, y = kernel_grid(size, device=s.device, dtype=work)
    r = torch.sqrt(x**2 + y**2)[None]
    be_ = be[:, None, None].to(work)
    alpha = s.to(work).clamp_min(_MIN_SIGMA)[:, None, None] * torch.sqrt(
        2 * torch.exp(torch.lgamma(2 / be_) - torch.lgamma(4 / be_))
    )
    k = torch.exp(-((r / alpha) ** be_))
    return _normalize(k[:, None]).to(s.dtype)


def gaussian_blur(
    images: torch.Tensor, sigma, *, truncate: float = 4.0, boundary: str = "reflect"
) -> torch.Tensor:
    """Blur by an isotropic Gaussian, one sigma per image (separable, two 1-D passes).

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1].
        sigma: standard deviation in pixels; scalar or ``(B,)``. Differentiable.
        truncate: kernel radius in sigmas (scipy convention).
        boundary: see :func:`blurkit.blur`.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> gaussian_blur(x, torch.tensor([1.0, 2.0])).shape
        torch.Size([2, 3, 32, 32])
    """
    x, single = check_images(images)
    s = as_param(sigma, "sigma", x.shape[0], device=x.device, dtype=x.dtype, low=0.0)
    g = gaussian_kernel1d(s, truncate=truncate)
    with trusted_values():
        out = blur_separable(x, g, g, boundary=boundary)
    return out[0] if single else out


class GaussianBlur(FixedBlur):
    """Module form of :func:`gaussian_blur` with a fixed sigma.

    Example:
        >>> GaussianBlur(1.5)(torch.rand(1, 3, 16, 16)).shape
        torch.Size([1, 3, 16, 16])
    """

    blur = staticmethod(gaussian_blur)
    shown = ("sigma", "boundary")

    def __init__(self, sigma: float, *, truncate: float = 4.0, boundary: str = "reflect") -> None:
        sigma = check_scalar(sigma, "sigma", low=0.0)
        super().__init__(sigma=sigma, truncate=truncate, boundary=boundary)


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
    if _per_image.loop_is_faster(images):
        weights = [
            gaussian_kernel1d(sigma[i : i + 1], 2 * r + 1)[0].tolist() for i, r in enumerate(radii)
        ]
        return _per_image.each_image(
            images, lambda i, img: _per_image.symmetric_separable(img, weights[i], boundary)
        )
    big = max(radii)
    x = torch.arange(-big, big + 1, device=sigma.device, dtype=sigma.dtype)
    inside = x.abs()[None] <= torch.tensor(radii, device=sigma.device)[:, None]
    g = torch.exp(-0.5 * (x[None] / sigma.clamp_min(1e-6)[:, None]) ** 2) * inside
    g = g / g.sum(-1, keepdim=True)
    return blur_separable(images, g, g, boundary=boundary)


def _sampled_gaussian(images: torch.Tensor, params: dict, boundary: str) -> torch.Tensor:
    return gaussian_per_image(images, params["sigma"].clamp_min(1e-3), boundary=boundary)


register_blur_family(
    BlurFamily(
        "gaussian",
        lambda x, s, ctx: gaussian_blur(x, s),
        0.1,
        lambda h, w: min(h, w) / 4,
        "sigma (px)",
        description="isotropic Gaussian blur, strength = sigma in pixels",
        strength="sigma",
        kernel=gaussian_kernel,
        sampler=Sampler((0.3, 1.5), _sampled_gaussian),
        estimable=True,
        corruption="gaussian_blur",
        order=0,
    )
)
