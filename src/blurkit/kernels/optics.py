r"""Diffraction PSFs of an aberrated pupil (Zernike wavefronts): eyes and lenses.

Why this model: the pillbox of :mod:`blurkit.kernels.defocus` is geometric
optics. A real optical system (a camera lens, the human eye) forms the image
of a point through a finite pupil, and the PSF is the squared modulus of the
Fourier transform of the complex pupil function (Fraunhofer diffraction;
Goodman, *Introduction to Fourier Optics*, 3rd ed., Sec. 6.4):

.. math::
    \mathrm{PSF}(\boldsymbol\theta) \propto \Bigl| \mathcal{F}\bigl\{ P(\mathbf{x})\,
    e^{i 2\pi W(\mathbf{x}) / \lambda} \bigr\}\bigl(\boldsymbol\theta / \lambda\bigr) \Bigr|^2

with ``P`` the pupil (a disk of diameter ``D``), ``W`` the wavefront error and
``theta`` the angle in the field. This includes diffraction (the Airy pattern
when ``W = 0``) and the shape aberrations give the PSF: defocus rings,
astigmatic focal lines, comet-shaped coma, spherical aberration halos.
``W`` is written as a sum of Zernike polynomials, ``W = sum_j c_j Z_j``, with
coefficients ``c_j`` in micrometres of RMS wavefront error.

**Indexing and normalisation: ANSI Z80.28 / OSA** (Thibos, Applegate,
Schwiegerling & Webb, "Standards for reporting the optical aberrations of
eyes", J. Refract. Surg. 18(5), 2002, S652-S660,
doi:10.3928/1081-597X-20020901-30): single index ``j = (n (n + 2) + m) / 2``,
``Z_n^m = N_n^m R_n^{|m|}(rho) cos(m theta)`` for ``m >= 0`` and
``N_n^m R_n^{|m|}(rho) sin(|m| theta)`` for ``m < 0``, unit RMS over the pupil,
``theta`` counter-clockwise from the x axis. Named terms: ``tilt_y`` (j=1),
``tilt_x`` (2), ``oblique_astigmatism`` (3, Z2^-2), ``defocus`` (4, Z2^0),
``vertical_astigmatism`` (5, Z2^2), ``vertical_trefoil`` (6), ``vertical_coma``
(7, Z3^-1), ``horizontal_coma`` (8, Z3^1), ``oblique_trefoil`` (9),
``spherical`` (12, Z4^0). Orientation: the pupil has x to the right and y up
like every blurkit kernel, and a positive x-tilt moves the PSF towards +x.

**Sampling.** The output pixel subtends ``pixel_scale_arcmin`` (``dtheta``
radians). The PSF is first computed on a grid ``q`` times finer (odd ``q``,
``dtheta / q <= lambda / (2 D)``, the Nyquist rate of the intensity PSF), by
an FFT of size ``N = k_f q`` over a pupil plane sampled at

.. math::
    \Delta x = \frac{\lambda}{N\,\Delta\theta / q} = \frac{\lambda}{k_f\,\Delta\theta},

so the pupil spans ``D / dx = k_f dtheta D / lambda`` samples (at least 32: the
field ``k_f`` is enlarged when needed and cropped afterwards), and each output
pixel integrates (averages) its ``q x q`` fine samples, as a sensor pixel or a
photoreceptor aperture does. The wavefront is aliasing-free as long as every
ray lands inside the field, which the default size guarantees (it covers the
geometric blur bound ``sum_j |c_j| max|grad Z_j| / R`` plus three diffraction
widths ``lambda / D``). The pupil edge is anti-aliased by exact area coverage.

**Mapping to an image.** For the eye, the angular pixel scale is how large an
image pixel appears to the viewer: an image ``W`` pixels wide shown ``w`` cm
wide at ``d`` cm subtends ``2 atan(w / 2d)``, see :func:`arcmin_per_pixel`
(e.g. a 224-pixel image 10 cm wide at 60 cm: 2.55 arcmin per pixel). For a
camera, ``dtheta = pixel pitch / focal length``.

**Eyes.** A refractive error becomes Zernike second-order terms through the
power-vector notation (Thibos, Wheeler & Horner, "Power vectors", Optom. Vis.
Sci. 74(6), 1997, doi:10.1097/00006324-199706000-00028; conversion of
Thibos et al. 2002, above, and Thibos, Hong, Bradley & Applegate, J. Vision
4(4):9, 2004, doi:10.1167/4.4.9): for a spectacle prescription sphere ``S``,
cylinder ``C``, axis ``alpha`` and pupil radius ``r`` (mm),
``M = S + C / 2``, ``J0 = -(C / 2) cos 2 alpha``, ``J45 = -(C / 2) sin 2 alpha``
and ``c_2^0 = -M r^2 / (4 sqrt 3)``, ``c_2^2 = -J0 r^2 / (2 sqrt 6)``,
``c_2^-2 = -J45 r^2 / (2 sqrt 6)`` (micrometres for diopters and mm). Myopia
of ``D`` diopters (corrected by a ``-D`` lens) is ``c_2^0 = D r^2 / (4 sqrt 3)``.

Limits: monochromatic per wavelength (the eye's longitudinal chromatic
aberration is not added), a uniformly lit circular pupil (no Stiles-Crawford
apodisation), and one PSF for the whole field (no off-axis variation).

Why written here: no maintained PyTorch library builds batched, differentiable
Zernike PSFs on a requested angular pixel grid (``poppy`` and ``hcipy`` are
NumPy optics simulators without autograd; ``aotools`` has Zernike polynomials
only).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import (
    DTypeError,
    ParameterError,
    as_param,
    check_allocation,
    check_images,
    check_scalar,
    check_size,
    common_dtype,
)
from ._module import FixedBlur
from ._utils import _batch_of, _blur_checked, _param_max, _reduce_angle, odd_size
from .defocus import disk_coverage
from .family import BlurFamily, register_blur_family
from .registry import register_kernel

__all__ = [
    "ZERNIKE_NAMES",
    "RGB_WAVELENGTHS_NM",
    "zernike_index",
    "zernike_polynomial",
    "zernike_psf",
    "arcmin_per_pixel",
    "myopia_kernel",
    "myopia_blur",
    "MyopiaBlur",
    "astigmatism_kernel",
    "astigmatism_blur",
    "AstigmatismBlur",
]

#: ANSI / OSA single index of the named Zernike terms.
ZERNIKE_NAMES: dict[str, int] = {
    "piston": 0,
    "tilt_y": 1,
    "tilt_x": 2,
    "oblique_astigmatism": 3,
    "defocus": 4,
    "vertical_astigmatism": 5,
    "vertical_trefoil": 6,
    "vertical_coma": 7,
    "horizontal_coma": 8,
    "oblique_trefoil": 9,
    "spherical": 12,
}

#: Wavelengths (nm) for the red, green and blue channels, in that (image channel) order.
RGB_WAVELENGTHS_NM: tuple[float, float, float] = (650.0, 550.0, 450.0)

_ARCMIN = math.pi / (180.0 * 60.0)
_MIN_PUPIL_SAMPLES = 32
_MAX_J = 65  # up to radial order 10
_MAX_WAVELENGTHS = 64  # channels of one PSF (one pupil FFT each)


def zernike_index(j: int) -> tuple[int, int]:
    """``(n, m)`` of the ANSI / OSA single index ``j``.

    >>> [zernike_index(j) for j in (0, 3, 4, 5, 12)]
    [(0, 0), (2, -2), (2, 0), (2, 2), (4, 0)]
    """
    if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j <= _MAX_J:
        raise ParameterError(f"zernike index: expected an integer in [0, {_MAX_J}], got {j!r}")
    n = int(math.ceil((-3 + math.sqrt(9 + 8 * j)) / 2))
    return n, 2 * j - n * (n + 2)


def zernike_polynomial(j: int, rho: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """OSA-normalised Zernike polynomial ``Z_j`` (unit RMS over the unit disk) at ``(rho, theta)``.

    Example:
        >>> rho, th = torch.tensor([0.0, 1.0]), torch.zeros(2)
        >>> zernike_polynomial(4, rho, th)  # defocus: sqrt(3) (2 rho^2 - 1)
        tensor([-1.7321,  1.7321])
    """
    n, m = zernike_index(j)
    am = abs(m)
    radial = torch.zeros_like(rho)
    for s in range((n - am) // 2 + 1):
        c = (-1) ** s * math.factorial(n - s)
        c /= (
            math.factorial(s)
            * math.factorial((n + am) // 2 - s)
            * math.factorial((n - am) // 2 - s)
        )
        radial = radial + c * rho ** (n - 2 * s)
    norm = math.sqrt(2 * (n + 1) / (2 if m == 0 else 1))
    if m > 0:
        return norm * radial * torch.cos(m * theta)
    if m < 0:
        return norm * radial * torch.sin(am * theta)
    return norm * radial


@cache
def _max_slope(j: int) -> float:
    """max over the unit disk of |grad Z_j| (per unit normalised radius), numerically."""
    t = np.linspace(-1, 1, 401)
    x, y = np.meshgrid(t, t)
    rho = torch.from_numpy(np.hypot(x, y))
    th = torch.from_numpy(np.arctan2(y, x))
    z = zernike_polynomial(j, rho, th).numpy()
    gy, gx = np.gradient(z, t, t)
    return float(np.sqrt(gx**2 + gy**2)[rho.numpy() <= 1].max())


def _wavelengths(wavelength_nm) -> list[float]:
    if isinstance(wavelength_nm, str):
        if wavelength_nm.lower() != "rgb":
            raise ParameterError(
                f"wavelength_nm: expected a number, a sequence or 'rgb', got {wavelength_nm!r}"
            )
        return list(RGB_WAVELENGTHS_NM)
    if isinstance(wavelength_nm, torch.Tensor):
        wavelength_nm = wavelength_nm.detach().reshape(-1).tolist()
    vals = wavelength_nm if isinstance(wavelength_nm, (list, tuple)) else [wavelength_nm]
    if not vals:
        raise ParameterError("wavelength_nm: expected at least one wavelength")
    if len(vals) > _MAX_WAVELENGTHS:
        raise ParameterError(
            f"wavelength_nm: expected at most {_MAX_WAVELENGTHS} wavelengths (one pupil FFT "
            f"each), got {len(vals)}"
        )
    return [check_scalar(v, "wavelength_nm", low=100.0, high=3000.0) for v in vals]


def _collect_terms(coefficients, terms: dict, device, dtype) -> tuple[dict[int, torch.Tensor], int]:
    """Zernike coefficients as ``{j: (B,) tensor}`` from a (B, J) tensor, a dict and keywords."""
    raw: dict[int, object] = {}
    names: dict[int, str] = {}

    def put(key, value):
        if isinstance(key, str):
            if key in ZERNIKE_NAMES:
                j = ZERNIKE_NAMES[key]
            elif key[:1] == "z" and key[1:].isdigit():
                j = int(key[1:])
            else:
                raise ParameterError(
                    f"zernike term: unknown name {key!r}; known: {', '.join(ZERNIKE_NAMES)} or 'z<j>'"
                )
        else:
            j = key
        zernike_index(j)
        if j in raw:
            raise ParameterError(f"zernike term: coefficient j={j} given twice")
        raw[j], names[j] = value, str(key)

    if coefficients is not None:
        if isinstance(coefficients, dict):
            for key, value in coefficients.items():
                put(key, value)
        elif isinstance(coefficients, torch.Tensor):
            c = coefficients if coefficients.ndim == 2 else coefficients.reshape(1, -1)
            if coefficients.ndim not in (1, 2) or c.shape[1] > _MAX_J + 1:
                raise ParameterError(
                    f"coefficients: expected (J,) or (B, J) with J <= {_MAX_J + 1} (ANSI order), "
                    f"got shape {tuple(coefficients.shape)}"
                )
            for j in range(c.shape[1]):
                put(j, c[:, j])
        else:
            raise DTypeError(
                f"coefficients: expected a dict or a (B, J) tensor, got {type(coefficients).__name__}"
            )
    for key, value in terms.items():
        put(key, value)
    dtype = common_dtype(*raw.values(), dtype=dtype)
    out = {j: as_param(v, names[j], device=device, dtype=dtype) for j, v in raw.items()}
    if not out:
        out = {4: as_param(0.0, "defocus", device=device, dtype=dtype)}
    b = _batch_of(*(t.shape[0] for t in out.values()))
    dt = next(iter(out.values())).dtype
    out = {j: as_param(t, names.get(j, "defocus"), b, dtype=dt) for j, t in out.items()}
    return out, b


@register_kernel("zernike")
def zernike_psf(
    coefficients=None,
    *,
    wavelength_nm=550.0,
    pupil_diameter_mm: float = 4.0,
    pixel_scale_arcmin: float = 1.0,
    size: int | None = None,
    device=None,
    dtype=None,
    **terms,
) -> torch.Tensor:
    """Diffraction PSFs of a circular pupil with a Zernike wavefront, ``(B, C, size, size)``.

    Args:
        coefficients: Zernike coefficients in micrometres (RMS, ANSI / OSA order):
            a ``(B, J)`` or ``(J,)`` tensor indexed by ``j``, or a dict keyed by
            ``j`` or term name (see :data:`ZERNIKE_NAMES`). Differentiable.
        wavelength_nm: one wavelength (``C = 1``), a sequence (one channel each)
            or ``"rgb"`` for :data:`RGB_WAVELENGTHS_NM`.
        pupil_diameter_mm: pupil (aperture) diameter ``D`` in millimetres.
        pixel_scale_arcmin: angle one output pixel subtends, arcminutes.
        size: odd kernel side; default covers the geometric blur plus diffraction.
        **terms: coefficients by name, e.g. ``defocus=0.3, spherical=0.1``, each a
            scalar or ``(B,)``.

    Returns:
        Non-negative PSFs summing to 1 per channel, centred on pixel ``size // 2``.
        The default size follows the largest coefficients of the batch; at a
        given ``size`` each PSF is independent of the rest of the batch. Odd
        aberrations (tilt, coma, trefoil) move the centroid off the centre, as
        they move the image in a real system; :func:`center_kernel` re-centres.

    Example:
        >>> k = zernike_psf(defocus=torch.tensor([0.0, 0.5]), wavelength_nm="rgb")
        >>> k.shape, bool(torch.allclose(k.sum((-2, -1)), torch.ones(2, 3)))
        (torch.Size([2, 3, 21, 21]), True)
    """
    coef, b = _collect_terms(coefficients, terms, device, dtype)
    ref = next(iter(coef.values()))
    dev, dt = ref.device, ref.dtype
    lams = _wavelengths(wavelength_nm)
    # lower bounds far below any lens or eye (10 um pupil, 0.006 arcsec pixels) that keep the
    # sampling formulas away from a division by an underflowed zero
    d_mm = check_scalar(pupil_diameter_mm, "pupil_diameter_mm", low=0.01, high=1000.0)
    scale = check_scalar(pixel_scale_arcmin, "pixel_scale_arcmin", low=1e-4, high=600.0)
    dtheta = scale * _ARCMIN
    d_um = d_mm * 1000.0
    lam_um = [lam / 1000.0 for lam in lams]
    if size is None:
        # geometric ray-angle bound: |grad W| <= sum |c_j| max|grad Z_j| / R
        slope = sum(_param_max(t.abs()) * _max_slope(j) for j, t in coef.items())
        geom_px = slope / (d_um / 2) / dtheta
        half = 1.1 * geom_px + 3 * max(lam_um) / d_um / dtheta + 1
        size = odd_size(half, "zernike coefficients")
    size = check_size(size)
    # fine sampling (odd q, Nyquist for the shortest wavelength) and field (>= 32 pupil samples)
    # the FFT side n = kf * q, bounded before any ceil (a tiny pupil or pixel scale makes the
    # field kf astronomically large, or its ratio infinite)
    q_f = 2 * d_um * dtheta / min(lam_um)
    field = d_um * dtheta
    kf_f = _MIN_PUPIL_SAMPLES * max(lam_um) / field if field > 0 else math.inf
    if not (q_f <= 4096 and kf_f <= 4096):
        raise ParameterError(
            "pixel_scale_arcmin: the PSF needs an FFT larger than 4096x4096 (pupil "
            f"{d_mm:g} mm, {scale:g} arcmin per pixel); use a smaller size, a finer pixel scale "
            "or a smaller pupil"
        )
    q = math.ceil(q_f)
    q += 1 - q % 2
    kf = max(size, math.ceil(kf_f))
    kf += 1 - kf % 2
    n = kf * q
    if n > 4096:
        raise ParameterError(
            f"pixel_scale_arcmin: the PSF needs a {n}x{n} FFT (limit 4096); use a smaller "
            "size, a finer pixel scale or a smaller pupil"
        )
    work = dt if dt == torch.float64 else torch.float32
    # the pupil field and its spectrum, complex, per wavelength and batch item
    check_allocation("coefficients", (b, n, n), itemsize=4 * 2 * torch.finfo(work).bits // 8)
    if b == 0:
        return torch.zeros(0, len(lam_um), size, size, device=dev, dtype=dt)
    psfs = []
    for lam in lam_um:
        dx = lam / (kf * dtheta)  # pupil sample spacing, micrometres
        radius_samples = d_um / 2 / dx
        amp = disk_coverage(radius_samples, size=n, device=dev, dtype=work)[0, 0]
        c = torch.arange(n, device=dev, dtype=work) - n // 2
        yy, xx = torch.meshgrid(-c, c, indexing="ij")  # y up
        rho = torch.hypot(xx, yy) * (dx / (d_um / 2))
        th = torch.atan2(yy, xx)
        inside = amp > 0
        w = torch.zeros(b, n, n, device=dev, dtype=work)
        for j, cj in coef.items():
            z = torch.where(inside, zernike_polynomial(j, rho, th), torch.zeros_like(rho))
            w = w + cj.to(work)[:, None, None] * z
        field = amp * torch.exp(1j * (2 * math.pi / lam) * w)
        spec = torch.fft.fftshift(
            torch.fft.fft2(torch.fft.ifftshift(field, dim=(-2, -1))), dim=(-2, -1)
        )
        inten = spec.real**2 + spec.imag**2
        # each output pixel integrates its q x q fine samples
        pix = F.avg_pool2d(inten[:, None], q)[:, 0] if q > 1 else inten
        lo = kf // 2 - size // 2
        psfs.append(pix[:, lo : lo + size, lo : lo + size])
    k = torch.stack(psfs, 1).clamp_min(0)
    k = k / k.sum((-2, -1), keepdim=True)
    return k.to(dt)


def arcmin_per_pixel(
    image_width_px: int, display_width_cm: float, viewing_distance_cm: float
) -> float:
    """Angle one image pixel subtends for a viewer, in arcminutes.

    Example:
        >>> round(arcmin_per_pixel(224, 10.0, 60.0), 2)
        2.55
    """
    w = check_scalar(image_width_px, "image_width_px", low=1.0)
    s = check_scalar(display_width_cm, "display_width_cm", low=0.0, low_inclusive=False)
    d = check_scalar(viewing_distance_cm, "viewing_distance_cm", low=0.0, low_inclusive=False)
    return 2 * math.atan(s / (2 * d)) / _ARCMIN / w


def _eye_terms(sphere, cylinder, axis_deg, pupil_diameter_mm, device, dtype):
    """Zernike c_2^-2, c_2^0, c_2^2 (um) of a spectacle prescription (Thibos et al. 2002, 2004)."""
    d = check_scalar(
        pupil_diameter_mm, "pupil_diameter_mm", low=0.0, high=12.0, low_inclusive=False
    )
    dtype = common_dtype(sphere, cylinder, axis_deg, dtype=dtype)
    s = as_param(sphere, "sphere_diopters", device=device, dtype=dtype, low=-40.0, high=40.0)
    c = as_param(
        cylinder, "cylinder_diopters", device=s.device, dtype=s.dtype, low=-20.0, high=20.0
    )
    a = as_param(axis_deg, "axis_deg", device=s.device, dtype=s.dtype)
    b = _batch_of(s.shape[0], c.shape[0], a.shape[0])
    s, c, a = (
        as_param(t, nm, b, dtype=s.dtype) for t, nm in ((s, "sphere"), (c, "cylinder"), (a, "axis"))
    )
    r2 = (d / 2) ** 2
    m = s + c / 2
    ang = torch.deg2rad(2 * _reduce_angle(a))
    j0 = -(c / 2) * torch.cos(ang)
    j45 = -(c / 2) * torch.sin(ang)
    return {
        3: -j45 * r2 / (2 * math.sqrt(6)),
        4: -m * r2 / (4 * math.sqrt(3)),
        5: -j0 * r2 / (2 * math.sqrt(6)),
    }


@register_kernel("myopia")
def myopia_kernel(
    diopters,
    pupil_diameter_mm: float = 4.0,
    *,
    pixel_scale_arcmin: float = 1.0,
    wavelength_nm=550.0,
    size: int | None = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """PSF of an eye with uncorrected myopia, as seen through its pupil: ``(B, C, k, k)``.

    The defocus term is ``c_2^0 = D r^2 / (4 sqrt 3)`` micrometres for ``D``
    diopters and pupil radius ``r`` in mm (Thibos et al. 2002, see the module
    docstring). The blur disk's angular diameter is about ``D * pupil`` radians
    (1 D at a 4 mm pupil: 13.8 arcmin), plus diffraction.

    Args:
        diopters: amount of myopia (the ``-D`` of the correcting lens), scalar or
            ``(B,)``. Negative values model uncorrected hyperopia; pure defocus
            gives the same PSF for ``+D`` and ``-D``. Differentiable.
        pupil_diameter_mm: eye pupil diameter (about 2 mm in bright light, 4 mm
            indoors, up to 8 mm in the dark).
        pixel_scale_arcmin: angle one image pixel subtends at the eye; see
            :func:`arcmin_per_pixel`.
        wavelength_nm: wavelength(s) or ``"rgb"`` (one channel per wavelength).
        size: odd kernel side (default: covers the blur).

    Example:
        >>> myopia_kernel(torch.tensor([0.5, 1.0])).shape
        torch.Size([2, 1, 21, 21])
    """
    dtype = common_dtype(diopters, dtype=dtype)
    d = as_param(diopters, "diopters", device=device, dtype=dtype, low=-40.0, high=40.0)
    pd = check_scalar(
        pupil_diameter_mm, "pupil_diameter_mm", low=0.0, high=12.0, low_inclusive=False
    )
    c20 = d * (pd / 2) ** 2 / (4 * math.sqrt(3))
    return zernike_psf(
        {"defocus": c20},
        wavelength_nm=wavelength_nm,
        pupil_diameter_mm=pd,
        pixel_scale_arcmin=pixel_scale_arcmin,
        size=size,
    )


@register_kernel("astigmatism")
def astigmatism_kernel(
    cylinder_diopters,
    axis_deg,
    *,
    sphere_diopters=0.0,
    pupil_diameter_mm: float = 4.0,
    pixel_scale_arcmin: float = 1.0,
    wavelength_nm=550.0,
    size: int | None = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """PSF of an astigmatic eye given its spectacle prescription, ``(B, C, k, k)``.

    The prescription ``sphere / cylinder x axis`` becomes the power vector
    ``(M, J0, J45)`` and then Zernike ``c_2^0, c_2^2, c_2^-2`` (Thibos et al.
    1997, 2002, 2004; see the module docstring). With ``sphere_diopters = 0``
    the meridian along the axis is in focus and the blur is a focal line
    *perpendicular* to the axis: axis 0 (or 180) gives a vertical streak, axis
    90 a horizontal one.

    Args:
        cylinder_diopters: cylinder power ``C`` (either sign convention works:
            ``-2 x 180`` and ``+2 x 90`` with sphere ``-2`` are the same eye),
            scalar or ``(B,)``. Differentiable.
        axis_deg: cylinder axis in degrees counter-clockwise from the image x axis
            (the ophthalmic TABO axis as seen facing the patient), scalar or ``(B,)``.
        sphere_diopters: sphere power ``S`` of the prescription.
        pupil_diameter_mm, pixel_scale_arcmin, wavelength_nm, size: as in :func:`myopia_kernel`.

    Example:
        >>> k = astigmatism_kernel(-2.0, 0.0)[0, 0]
        >>> bool(k.sum(0).max() > 5 * k.sum(1).max())  # peaked across x, spread along y
        True
    """
    terms = _eye_terms(
        sphere_diopters, cylinder_diopters, axis_deg, pupil_diameter_mm, device, dtype
    )
    return zernike_psf(
        terms,
        wavelength_nm=wavelength_nm,
        pupil_diameter_mm=pupil_diameter_mm,
        pixel_scale_arcmin=pixel_scale_arcmin,
        size=size,
    )


def myopia_blur(
    images: torch.Tensor,
    diopters,
    *,
    pupil_diameter_mm: float = 4.0,
    pixel_scale_arcmin: float = 1.0,
    wavelength_nm=550.0,
    boundary: str = "reflect",
    method: str = "auto",
) -> torch.Tensor:
    """How an image looks to an eye with ``diopters`` of uncorrected myopia.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1].
        diopters: scalar or ``(B,)``. Differentiable.
        pupil_diameter_mm, pixel_scale_arcmin: see :func:`myopia_kernel`.
        wavelength_nm: one wavelength for all channels, or ``"rgb"`` for a
            per-channel PSF of a 3-channel image.
        boundary, method: see :func:`blurkit.blur`.

    Example:
        >>> myopia_blur(torch.rand(2, 3, 24, 24), torch.tensor([0.0, 1.0])).shape
        torch.Size([2, 3, 24, 24])
    """
    x, single = check_images(images)
    d = as_param(
        diopters, "diopters", x.shape[0], device=x.device, dtype=x.dtype, low=-40.0, high=40.0
    )
    k = myopia_kernel(
        d, pupil_diameter_mm, pixel_scale_arcmin=pixel_scale_arcmin, wavelength_nm=wavelength_nm
    )
    return _blur_checked(x, single, k, boundary, method)


def astigmatism_blur(
    images: torch.Tensor,
    cylinder_diopters,
    axis_deg,
    *,
    sphere_diopters=0.0,
    pupil_diameter_mm: float = 4.0,
    pixel_scale_arcmin: float = 1.0,
    wavelength_nm=550.0,
    boundary: str = "reflect",
    method: str = "auto",
) -> torch.Tensor:
    """How an image looks to an astigmatic eye (see :func:`astigmatism_kernel`).

    Example:
        >>> astigmatism_blur(torch.rand(1, 3, 24, 24), -1.0, 45.0).shape
        torch.Size([1, 3, 24, 24])
    """
    x, single = check_images(images)
    bsz = x.shape[0]
    c = as_param(cylinder_diopters, "cylinder_diopters", bsz, device=x.device, dtype=x.dtype)
    a = as_param(axis_deg, "axis_deg", bsz, device=x.device, dtype=x.dtype)
    s = as_param(sphere_diopters, "sphere_diopters", bsz, device=x.device, dtype=x.dtype)
    k = astigmatism_kernel(
        c,
        a,
        sphere_diopters=s,
        pupil_diameter_mm=pupil_diameter_mm,
        pixel_scale_arcmin=pixel_scale_arcmin,
        wavelength_nm=wavelength_nm,
    )
    return _blur_checked(x, single, k, boundary, method)


class MyopiaBlur(FixedBlur):
    """Module form of :func:`myopia_blur` with fixed settings.

    Example:
        >>> MyopiaBlur(0.5)(torch.rand(1, 3, 16, 16)).shape
        torch.Size([1, 3, 16, 16])
    """

    blur = staticmethod(myopia_blur)
    shown = ("diopters", "pupil_diameter_mm", "pixel_scale_arcmin")

    def __init__(
        self,
        diopters: float,
        *,
        pupil_diameter_mm: float = 4.0,
        pixel_scale_arcmin: float = 1.0,
        wavelength_nm=550.0,
        boundary: str = "reflect",
    ) -> None:
        super().__init__(
            diopters=check_scalar(diopters, "diopters", low=-40.0, high=40.0),
            pupil_diameter_mm=pupil_diameter_mm,
            pixel_scale_arcmin=pixel_scale_arcmin,
            wavelength_nm=wavelength_nm,
            boundary=boundary,
        )


class AstigmatismBlur(FixedBlur):
    """Module form of :func:`astigmatism_blur` with fixed settings.

    Example:
        >>> AstigmatismBlur(-1.0, 90.0)(torch.rand(1, 3, 16, 16)).shape
        torch.Size([1, 3, 16, 16])
    """

    blur = staticmethod(astigmatism_blur)
    shown = ("cylinder_diopters", "axis_deg", "sphere_diopters")

    def __init__(
        self,
        cylinder_diopters: float,
        axis_deg: float,
        *,
        sphere_diopters: float = 0.0,
        pupil_diameter_mm: float = 4.0,
        pixel_scale_arcmin: float = 1.0,
        wavelength_nm=550.0,
        boundary: str = "reflect",
    ) -> None:
        super().__init__(
            cylinder_diopters=check_scalar(
                cylinder_diopters, "cylinder_diopters", low=-20.0, high=20.0
            ),
            axis_deg=check_scalar(axis_deg, "axis_deg"),
            sphere_diopters=check_scalar(sphere_diopters, "sphere_diopters", low=-40.0, high=40.0),
            pupil_diameter_mm=pupil_diameter_mm,
            pixel_scale_arcmin=pixel_scale_arcmin,
            wavelength_nm=wavelength_nm,
            boundary=boundary,
        )


register_blur_family(
    BlurFamily(
        "myopia",
        lambda x, s, ctx: myopia_blur(x, s),
        0.01,
        # at myopia_blur's default 1 arcmin per pixel and 4 mm pupil, 1 D blurs over a
        # disk of about 14 px diameter: the bracket top blurs over about half the image side
        lambda h, w: 0.04 * min(h, w),
        "diopters",
        description="myopic defocus of the eye, strength = refractive error in diopters",
        strength="diopters",
        kernel=myopia_kernel,
        order=3,
    )
)
