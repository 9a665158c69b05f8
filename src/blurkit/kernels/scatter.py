r"""Scatter ("dirty lens") PSFs: a sharp core plus a wide heavy-tailed halo.

Why this model: dust, grease, fingerprints, scratches, films of water and
ageing coatings on a lens (and, in the eye, the cornea, the lens and the
fundus) scatter a fraction ``w`` of the light over wide angles while the rest
forms the ordinary sharp image. The PSF is then a mixture

.. math::
    k = (1 - w)\, k_\text{core} + w\, k_\text{halo},

where the core is a delta (or a small Gaussian) and the halo is broad and
heavy-tailed. Spread over the whole frame, the halo adds a nearly uniform
*veiling glare* that lowers contrast: fine detail keeps only ``1 - w`` of its
contrast, dark regions near bright ones are lifted. This is the glare model of
vision science, the CIE glare spread function, whose wide-angle part falls as
``1 / theta^2`` (the Stiles-Holladay law; Vos & van den Berg, CIE 135/1
"Disability glare", 1999; Vos, "On the cause of disability glare and its
dependence on glare angle, age and ocular pigmentation", Clin. Exp. Optom.
86(6), 2003, doi:10.1111/j.1444-0938.2003.tb03124.x), and of cameras, where
veiling glare is measured as exactly such a low, wide PSF component (Talvala,
Adams, Horowitz & Levoy, "Veiling glare in high dynamic range imaging", ACM
TOG 26(3), 2007, doi:10.1145/1276377.1276424).

The halo is a Moffat profile ``(1 + (r / gamma)^2)^(-beta)`` (Moffat, "A
theoretical investigation of focal stellar images in the photographic
emulsion", A&A 3, 1969), the standard model of scattered-light wings: flat
within ``gamma`` pixels, tail ``r^(-2 beta)``; ``beta = 1`` gives the CIE /
Stiles-Holladay ``1 / r^2`` tail, ``beta = 1.5`` the 2-D Cauchy (Lorentzian).
A real halo extends over the whole image, so it is cut at ``halo_radius``
with an exact-area soft edge (see :func:`blurkit.kernels.disk_coverage`),
which keeps the kernel continuous and differentiable in the radius.

Limits: one shift-invariant PSF (real glare varies over the field and with
the position of the dirt), no colour dependence, no diffraction spikes or
ghost reflections (structured flare).

Tiers: :func:`scatter_kernel` builds PSFs, :func:`dirty_lens_blur` applies
them (large halos go through the FFT path of :func:`blurkit.blur`
automatically), :class:`DirtyLensBlur` holds fixed settings.
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
)
from ._module import FixedBlur
from ._utils import _batch_of, _blur_checked, _param_max, kernel_grid, odd_size
from .defocus import disk_coverage
from .gaussian import gaussian_kernel
from .registry import register_kernel

__all__ = ["scatter_kernel", "dirty_lens_blur", "DirtyLensBlur"]


@register_kernel("scatter")
def scatter_kernel(
    weight,
    halo_radius,
    *,
    halo_scale=1.0,
    beta=1.0,
    core_sigma=0.0,
    size: int | None = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """Dirty-lens PSFs: ``(1 - weight) * core + weight * halo``, ``(B, 1, size, size)``.

    Args:
        weight: fraction of the light scattered into the halo, in ``[0, 1]``
            (the veiling-glare fraction), scalar or ``(B,)``.
        halo_radius: extent of the halo in pixels (``> 0``), scalar or ``(B,)``.
        halo_scale: the halo's flat-core radius ``gamma`` in pixels (``> 0``).
        beta: Moffat exponent (``> 0``); the tail falls as ``r^(-2 beta)``.
        core_sigma: sigma of a Gaussian core in pixels; 0 keeps a sharp delta.
        size: odd kernel side; default ``2 * ceil(halo_radius - 0.5) + 1`` for the
            largest radius.
        device, dtype: of the result when the parameters are Python numbers.

    Every parameter is differentiable.

    Example:
        >>> k = scatter_kernel(torch.tensor([0.0, 0.2]), 10.0)
        >>> k.shape, float(k[0, 0, 10, 10]), round(float(k[1].sum()), 6)
        (torch.Size([2, 1, 21, 21]), 1.0, 1.0)
    """
    dtype = common_dtype(weight, halo_radius, halo_scale, beta, core_sigma, dtype=dtype)
    w = as_param(weight, "weight", device=device, dtype=dtype, low=0.0, high=1.0)
    dev, dt = w.device, w.dtype
    rad = as_param(halo_radius, "halo_radius", device=dev, dtype=dt, low=0.0, low_inclusive=False)
    gam = as_param(halo_scale, "halo_scale", device=dev, dtype=dt, low=0.0, low_inclusive=False)
    be = as_param(beta, "beta", device=dev, dtype=dt, low=0.0, low_inclusive=False)
    cs = as_param(core_sigma, "core_sigma", device=dev, dtype=dt, low=0.0)
    params = {"weight": w, "halo_radius": rad, "halo_scale": gam, "beta": be, "core_sigma": cs}
    b = _batch_of(*(t.shape[0] for t in params.values()))
    w, rad, gam, be, cs = (as_param(t, n, b, dtype=dt) for n, t in params.items())
    if size is None:
        size = odd_size(_param_max(rad) - 0.5, "halo_radius")
    size = check_size(size)
    check_allocation("halo_radius", (b, size + 1, size + 1), itemsize=8)
    # half precision cannot hold gamma^2 for small halo scales: computed in float32, then cast
    work = torch.float32 if dt in (torch.float16, torch.bfloat16) else dt
    x, y = kernel_grid(size, device=dev, dtype=work)
    r2 = (x * x + y * y)[None]
    # gamma below 1e-6 px: gamma^2 underflows (0 / 0 at the centre); the halo is a delta anyway
    g2 = gam.to(work).clamp_min(1e-6)[:, None, None] ** 2
    halo = (1 + r2 / g2) ** (-be.to(work)[:, None, None])
    halo = halo * disk_coverage(rad.to(work), size=size)[:, 0]  # soft cut at halo_radius
    halo = halo / halo.sum((-2, -1), keepdim=True)
    core = gaussian_kernel(cs.to(work), size=size, dtype=work)[:, 0]
    wv = w.to(work)[:, None, None]
    return ((1 - wv) * core + wv * halo)[:, None].to(dt)


def dirty_lens_blur(
    images: torch.Tensor,
    weight,
    halo_radius,
    *,
    halo_scale=1.0,
    beta=1.0,
    core_sigma=0.0,
    boundary: str = "reflect",
    method: str = "auto",
) -> torch.Tensor:
    """Veiling glare of a dirty lens: each image convolved with its own scatter PSF.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1].
        weight: scattered fraction in ``[0, 1]``, scalar or ``(B,)``.
        halo_radius: halo extent in pixels; a sizeable fraction of the image
            (e.g. ``max(H, W) / 2``) models glare over the whole frame.
        halo_scale, beta, core_sigma: see :func:`scatter_kernel`.
        boundary, method: see :func:`blurkit.blur` (``auto`` picks the FFT for large halos).

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> dirty_lens_blur(x, torch.tensor([0.1, 0.3]), 16.0).shape
        torch.Size([2, 3, 32, 32])
        >>> torch.allclose(dirty_lens_blur(x, 0.0, 16.0), x, atol=1e-6)
        True
    """
    x, single = check_images(images)
    bsz = x.shape[0]
    w = as_param(weight, "weight", bsz, device=x.device, dtype=x.dtype, low=0.0, high=1.0)
    rad = as_param(
        halo_radius,
        "halo_radius",
        bsz,
        device=x.device,
        dtype=x.dtype,
        low=0.0,
        low_inclusive=False,
    )
    k = scatter_kernel(w, rad, halo_scale=halo_scale, beta=beta, core_sigma=core_sigma)
    return _blur_checked(x, single, k, boundary, method)


class DirtyLensBlur(FixedBlur):
    """Module form of :func:`dirty_lens_blur` with fixed settings.

    Example:
        >>> DirtyLensBlur(0.2, 8.0)(torch.rand(1, 3, 16, 16)).shape
        torch.Size([1, 3, 16, 16])
    """

    blur = staticmethod(dirty_lens_blur)
    shown = ("weight", "halo_radius", "beta")

    def __init__(
        self,
        weight: float,
        halo_radius: float,
        *,
        halo_scale: float = 1.0,
        beta: float = 1.0,
        core_sigma: float = 0.0,
        boundary: str = "reflect",
        method: str = "auto",
    ) -> None:
        super().__init__(
            weight=check_scalar(weight, "weight", low=0.0, high=1.0),
            halo_radius=check_scalar(halo_radius, "halo_radius", low=0.0, low_inclusive=False),
            halo_scale=check_scalar(halo_scale, "halo_scale", low=0.0, low_inclusive=False),
            beta=check_scalar(beta, "beta", low=0.0, low_inclusive=False),
            core_sigma=check_scalar(core_sigma, "core_sigma", low=0.0),
            boundary=boundary,
            method=method,
        )
