"""Estimate the blur of one image: Gaussian sigma, defocus radius, motion length and angle.

Methods (all batched; one estimate per image):

- ``family="gaussian"`` — re-blur gradient ratio at edges (Zhuo & Sim, "Defocus
  map estimation from a single image", Pattern Recognition 44(9), 2011,
  doi:10.1016/j.patcog.2011.03.009). At an ideal step edge blurred by ``sigma``,
  the gradient magnitude measured with a Gaussian derivative of scale ``s``
  (0.45 px) is ``A / sqrt(2 pi (sigma^2 + s^2))``; re-blurring by ``sigma0`` gives
  ``R^2 = (sigma^2 + s^2 + sigma0^2) / (sigma^2 + s^2)``, hence
  ``sigma^2 + s^2 = sigma0^2 / (R^2 - 1)``. ``R`` is read at edge pixels
  (non-maximum suppression along the gradient) in the strongest 40 % of the image's
  edges, and aggregated by a median weighted by squared gradient strength. A first
  pass re-blurs by 2 px; the second re-blurs twice, by 0.7 and 1.4 times the first
  estimate, and keeps only the edge pixels whose two readings of ``sigma^2 + s^2``
  agree within 30 %: that holds for an isolated step, whatever its blur, but not where
  texture or a neighbouring edge falls inside the wider re-blur (a thin line reads
  sharper at the wider scale, a staircase blurrier), which were the photos' largest
  errors. The value is mapped through a table computed once from ideal blurred step
  edges (removing the discretisation bias of the derivative filters), then multiplied
  by one gain (0.97) fitted on the tuning photographs (astronaut, camera, ImageNet
  sample images with index < 50); see ``docs/measure.md`` for the held-out accuracy
  (issue grid: median 7.0 %, p90 20 % relative error). Measured and rejected on
  held-out photos: a prior for the photo's own blur subtracted in quadrature
  (``sqrt(g^2 est^2 + c)``; photos differ too much: some are sharpened and read below
  the applied blur, some are soft), and a power-law gain against the slight
  under-reading at 4-5 px (corners and curved edges within the re-blur); both improved
  the tuning set, neither held out. A larger derivative scale reads texture as sharper.
- ``family="defocus"`` — the disk's transfer function ``2 J1(2 pi r f) / (2 pi r f)``
  has rings of zeros, the first at ``f = 3.8317 / (2 pi r)`` cycles per pixel (below
  Nyquist for ``r >~ 1.3``), the next ones every ``~1 / (2 r)``. The image's radially
  averaged log power spectrum (Hann window) and, for each candidate radius (1 to
  ``min(16, 0.1 n)`` px in steps of 0.05, refined by a parabola), the radially averaged
  ``log(|H_r|^2 + 1e-3)`` of :func:`blurkit.kernels.disk_kernel` (a disk integrated over
  square pixels, as a sensor records it) are both stripped of a degree-4 polynomial
  trend in frequency (the scene's smooth ~1/f^2 spectrum and the disk's overall
  fall-off) and correlated; the best-correlated radius is the estimate (Cannon 1976,
  cited below; the same dips read by radial profile rather than cepstrum). The zeros are set
  by the blur alone, so unlike edge widths they do not depend on the scene's edges.
  When the best correlation is below 0.6, the radius below 1.4 px or more than
  ``3 r_edge + 1.5``, an edge measurement is used instead (the single-re-blur reading it
  was measured with: derivative scale 0.6, strongest 60 %, strength-weighted median, gain
  1.10), mapped to a radius through a table computed from ideal step edges blurred by
  ``disk_kernel``.
- ``family="motion"`` — uniform linear motion multiplies the spectrum by
  ``sinc(L f.u)``: its log power spectrum is attenuated along the motion
  direction ``u`` and has zeros every ``1 / L`` along it. That periodic
  pattern of the log spectrum is a sharp negative peak of the power cepstrum
  (inverse FFT of the log power spectrum of the Hann-windowed luma) at the
  displacement ``L u`` from the origin, while the sharp image's smooth log
  spectrum stays near the origin (Rom, "On the cepstrum of two-dimensional
  functions", IEEE TIT 21(2), 1975; Cannon, "Blind deconvolution of spatially
  invariant image blurs with phase", IEEE TASSP 24(1), 1976). The minimum
  of the cepstrum over lengths 2.5 px to ``min(0.3 n, 64)`` (``n`` the shorter
  side) gives both: its distance from the origin is the length, its
  direction the angle; a parabola through the neighbours refines both to
  sub-pixel precision.

Valid range (where the accuracy in ``docs/measure.md`` was measured): Gaussian
sigma 0.5-5 px, defocus radius 1-8 px, motion length 5-30 px, images of at
least 128x128 (256x256 and more is better). Every estimate is of the *total*
blur of the photograph: the camera's own blur adds to the blur applied, so a
photo that was never blurred still reads about 0.3-0.65 px Gaussian (10th-90th
percentile of the held-out photos); that is most of the error at sigma 0.5. Noise and
JPEG bias the estimates (see the documentation for measured numbers).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from .._checks import check_choice
from ..functional.conv import blur, convolve
from ..kernels.defocus import disk_kernel
from ..kernels.family import blur_families
from ..kernels.gaussian import gaussian_blur
from ._inputs import prepare, to_gray

__all__ = ["estimate_blur", "FAMILIES"]

#: the blur families it estimates (those registered with ``estimable=True``)
FAMILIES = blur_families(estimable=True)

# Gaussian family: edge reading with a two-scale consistency test (see the module docstring)
_S_DERIV = 0.45  # scale of the Gaussian derivative used to read gradients
_TOP_FRACTION = 0.4  # keep the strongest 40% of edge pixels
_STRENGTH_POWER = 2.0  # per-pixel weight: gradient magnitude ** power
_REBLUR = (0.7, 1.4)  # second pass: the two re-blurs, as multiples of the first estimate
_CONSISTENCY = 0.3  # max relative disagreement of the two readings of sigma^2 + s^2
_PHOTO_GAIN = 0.97  # natural-edge correction, fitted on the tuning photographs (see docs)
# Defocus fallback: the single-re-blur edge reading it was measured with (unchanged)
_DEFOCUS_EDGE = {"s": 0.6, "top": 0.6, "power": 1.0}
_DEFOCUS_GAIN = 1.10  # fitted on astronaut/camera with that reading
_QUANTILE = 0.5  # weighted quantile of the per-edge estimates
_MIN_LENGTH = 2.5  # motion lengths searched, pixels
_MAX_LENGTH = 64.0


# --- edge-based (Gaussian / defocus) ---------------------------------------------------


def _grad_mag(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    kx = g.new_tensor([[0.5, 0.0, -0.5]])
    gx = convolve(g, kx, boundary="reflect", method="direct")
    gy = convolve(g, kx.T, boundary="reflect", method="direct")
    return torch.sqrt(gx * gx + gy * gy), gx, gy


def _nms(mag: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    ang = torch.remainder(torch.rad2deg(torch.atan2(gy, gx)), 180.0)
    sector = torch.remainder(torch.round(ang / 45), 4).long()
    h, w = mag.shape[-2:]
    p = F.pad(mag, (1, 1, 1, 1))

    def sh(dy, dx):
        return p[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    n1 = torch.stack([sh(0, 1), sh(1, 1), sh(1, 0), sh(1, -1)], 0)
    n2 = torch.stack([sh(0, -1), sh(-1, -1), sh(-1, 0), sh(-1, 1)], 0)
    a = torch.gather(n1, 0, sector[None])[0]
    c = torch.gather(n2, 0, sector[None])[0]
    return (mag > a) & (mag >= c)


def _weighted_quantile(v: torch.Tensor, w: torch.Tensor, q: float) -> torch.Tensor:
    """Row-wise weighted quantile of ``v`` ``(B, N)`` with weights ``w`` (0 = ignore)."""
    vs, idx = torch.sort(v, dim=1)
    ws = torch.gather(w, 1, idx)
    cw = ws.cumsum(1)
    tot = cw[:, -1:].clamp_min(1e-30)
    pos = (cw / tot < q).sum(1, keepdim=True).clamp(max=v.shape[1] - 1)
    return torch.gather(vs, 1, pos)[:, 0]


def _edge_sigma_pass(
    g: torch.Tensor,
    sigma0: torch.Tensor,
    s: float,
    top: float,
    power: float,
    sigma0b: torch.Tensor | None = None,
) -> torch.Tensor:
    """One re-blur pass: raw per-image edge sigma (before the table mapping).

    With ``sigma0b`` the image is re-blurred twice (``sigma0`` and ``sigma0b``); an edge pixel
    counts only where both readings of ``sigma^2 + s^2`` agree within ``_CONSISTENCY``.
    """
    b = g.shape[0]
    g1 = gaussian_blur(g, s)
    m1, gx, gy = _grad_mag(g1)
    m2, _, _ = _grad_mag(gaussian_blur(g, torch.sqrt(s * s + sigma0 * sigma0)))
    edges = _nms(m1, gx, gy)
    widest = sigma0.max() if sigma0b is None else torch.maximum(sigma0.max(), sigma0b.max())
    margin = int(math.ceil(3 * float(widest) + 3 * s)) + 2
    h, w = g.shape[-2:]
    inner = torch.zeros_like(edges)
    inner[..., margin : h - margin, margin : w - margin] = True
    edges = edges & inner
    m1f, m2f, ef = m1.flatten(1), m2.flatten(1), edges.flatten(1)
    # strongest edges only: threshold at the (1 - top) quantile of edge strengths
    strength = torch.where(ef, m1f, torch.zeros_like(m1f))
    n_e = ef.sum(1).clamp_min(1)
    srt = torch.sort(strength, dim=1, descending=True).values
    k = (n_e.to(g.dtype) * top).ceil().long().clamp_min(1) - 1
    thr = torch.gather(srt, 1, k[:, None])
    keep = ef & (m1f >= thr) & (m1f > 1e-4)

    def total_var(m_re: torch.Tensor, s0: torch.Tensor) -> torch.Tensor:
        # sigma^2 + s^2 = sigma0^2 / (R^2 - 1), R = m1 / m_re
        r2 = (m1f / m_re.clamp_min(1e-12)) ** 2
        return (s0 * s0)[:, None] / (r2 - 1).clamp_min(1e-6)

    tot = total_var(m2f, sigma0)
    if sigma0b is not None:
        m3, _, _ = _grad_mag(gaussian_blur(g, torch.sqrt(s * s + sigma0b * sigma0b)))
        tot_b = total_var(m3.flatten(1), sigma0b)
        # an isolated blurred step gives the same value at both re-blur scales; texture and
        # neighbouring edges (which the wider re-blur mixes in) do not
        rel = (tot - tot_b).abs() / (0.5 * (tot + tot_b)).clamp_min(1e-12)
        keep = keep & (rel < _CONSISTENCY)
    est = (tot - s * s).clamp_min(0).sqrt().clamp(max=20.0)
    wts = torch.where(keep, m1f**power, torch.zeros_like(m1f))
    out = _weighted_quantile(est, wts, _QUANTILE)
    return torch.where(keep.any(1), out, torch.zeros(b, dtype=g.dtype, device=g.device))


def _edge_sigma(g: torch.Tensor, family: str = "gaussian") -> torch.Tensor:
    """Raw edge sigma per image: a first pass re-blurs by 2 px, the second by multiples of
    the first estimate (two re-blurs and the consistency test for ``"gaussian"``; the
    defocus fallback keeps its single re-blur)."""
    b = g.shape[0]
    s0 = torch.full((b,), 2.0, dtype=g.dtype, device=g.device)
    if family == "gaussian":
        s, top, power = _S_DERIV, _TOP_FRACTION, _STRENGTH_POWER
    else:
        s, top, power = _DEFOCUS_EDGE["s"], _DEFOCUS_EDGE["top"], _DEFOCUS_EDGE["power"]
    first = _edge_sigma_pass(g, s0, s, top, power)
    s0 = first.clamp(1.0, 6.0)
    if family == "gaussian":
        return _edge_sigma_pass(g, s0 * _REBLUR[0], s, top, power, s0 * _REBLUR[1])
    return _edge_sigma_pass(g, s0, s, top, power)


@lru_cache(maxsize=4)
def _table(family: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw edge-sigma measured on ideal step edges blurred by known parameters."""

    params = torch.tensor(
        [0.3, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0],
        dtype=torch.float64,
    )
    n = 96
    # a few step edges at different orientations and sub-pixel positions
    yy, xx = torch.meshgrid(
        torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij"
    )
    steps = []
    for ang, off in ((0.0, 0.3), (90.0, 0.0), (30.0, 0.5), (60.0, 0.2)):
        t = math.radians(ang)
        d = (xx - n / 2 - off) * math.cos(t) + (yy - n / 2) * math.sin(t)
        steps.append((d > 0).to(torch.float64) * 0.6 + 0.2)
    base = torch.stack(steps)[:, None]  # (4, 1, n, n)
    raw = []
    for p in params:
        if family == "gaussian":
            x = gaussian_blur(base, float(p))
        else:
            x = blur(base, disk_kernel(float(p), dtype=torch.float64), boundary="reflect")
        raw.append(float(_edge_sigma(x, family).median()))
    return params, torch.tensor(raw, dtype=torch.float64)


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Monotone piecewise-linear interpolation with linear extrapolation at both ends."""
    xp = xp.to(x)
    fp = fp.to(x)
    # enforce monotone increasing raw values
    xp = torch.cummax(xp, 0).values + torch.arange(len(xp), dtype=x.dtype, device=x.device) * 1e-9
    i = torch.searchsorted(xp, x.contiguous()).clamp(1, len(xp) - 1)
    x0, x1 = xp[i - 1], xp[i]
    y0, y1 = fp[i - 1], fp[i]
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0)


# --- defocus: zeros of the disk's spectrum -------------------------------------------------

_DISK_RADII = (1.0, 16.0, 0.05)  # radii tried by the spectral defocus fit: start, stop, step
_DISK_MIN_SCORE = 0.6  # below this correlation the spectral fit is not trusted
_DISK_MIN_RADIUS = 1.4  # first zero beyond Nyquist below ~1.3 px: use the edge estimate
_DISK_FLOOR = 1e-3  # depth of the model's dips (noise / quantisation fill the zeros)
_DISK_K0 = 3  # lowest frequency bin used (k / n cycles per pixel)
_DISK_DEG = 4  # polynomial in frequency removed from both profiles (the smooth scene spectrum)


def _radial_bins(n: int, device) -> torch.Tensor:
    f = torch.fft.fftshift(torch.fft.fftfreq(n, device=device))
    rho = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    return torch.round(rho * n).long()  # bin k = k / n cycles per pixel


def _radial_mean(v: torch.Tensor, bins: torch.Tensor, nb: int) -> torch.Tensor:
    """Mean of ``v`` ``(B, n, n)`` over each ring ``bins == k``, ``k < nb`` -> ``(B, nb)``."""
    m = bins < nb
    idx = bins[m]
    cnt = torch.bincount(idx, minlength=nb).to(v.dtype)
    out = torch.zeros(v.shape[0], nb, dtype=v.dtype, device=v.device)
    return out.index_add_(1, idx, v[:, m]) / cnt


def _detrend(v: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return v - (v @ q) @ q.T


@lru_cache(maxsize=4)
def _disk_templates(n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Radii and detrended, unit-norm radial profiles of ``log(|H_r|^2 + floor)``.

    ``H_r`` is the transfer function of :func:`blurkit.kernels.disk_kernel` (exact pixel
    coverage of a disk, i.e. a continuous disk integrated over square pixels, as a sensor
    records it), radially averaged on the same frequency rings as the image.
    """

    start, stop, step = _DISK_RADII
    stop = min(stop, 0.1 * n)  # keep the first zero at bin >= ~6
    radii = torch.arange(start, stop + 1e-9, step, dtype=torch.float64)
    nb = n // 2
    bins = _radial_bins(n, "cpu")
    profs = []
    for chunk in radii.split(16):
        k = disk_kernel(chunk, dtype=torch.float64)[:, 0]
        ks = k.shape[-1]
        pad = torch.zeros(len(chunk), n, n, dtype=torch.float64)
        pad[:, :ks, :ks] = k
        h2 = torch.fft.fftshift(torch.fft.fft2(pad), dim=(-2, -1)).abs() ** 2
        profs.append(_radial_mean(torch.log(h2 + _DISK_FLOOR), bins, nb))
    m = _detrend(torch.cat(profs)[:, _DISK_K0:], _trend_basis(n))
    m = m / m.norm(dim=1, keepdim=True)
    return radii.to(dtype), m.to(dtype)


@lru_cache(maxsize=4)
def _trend_basis(n: int) -> torch.Tensor:
    rho = torch.arange(_DISK_K0, n // 2, dtype=torch.float64) / n
    basis = torch.stack([rho**i for i in range(_DISK_DEG + 1)], 1)
    return torch.linalg.qr(basis)[0]


def _defocus_spectral(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Radius and fit score from the rings of zeros of the disk's spectrum.

    The radially averaged log power spectrum of the image, with a smooth polynomial
    trend removed (the scene's own ~1/f^2 spectrum and the disk's overall fall-off),
    is correlated with the same profile of each candidate disk; the best radius is
    refined by a parabola through the correlations around it.
    """
    ls = _log_spectrum(g)  # (B, n, n), centred
    n = ls.shape[-1]
    prof = _radial_mean(ls, _radial_bins(n, ls.device), n // 2)[:, _DISK_K0:]
    q = _trend_basis(n).to(ls)
    prof = _detrend(prof, q)
    prof = prof / prof.norm(dim=1, keepdim=True).clamp_min(1e-12)
    radii, tmpl = _disk_templates(n, ls.dtype)
    radii, tmpl = radii.to(ls.device), tmpl.to(ls.device)
    corr = prof @ tmpl.T  # (B, R)
    score, i = corr.max(1)
    bi = torch.arange(len(i), device=ls.device)
    m = corr[bi, (i - 1).clamp_min(0)]
    p = corr[bi, (i + 1).clamp(max=len(radii) - 1)]
    den = m - 2 * score + p
    off = torch.where(den.abs() > 1e-12, 0.5 * (m - p) / den, torch.zeros_like(den)).clamp(
        -0.5, 0.5
    )
    step = _DISK_RADII[2]
    return radii[i] + off * step, score


# --- motion ------------------------------------------------------------------------------


def _log_spectrum(g: torch.Tensor) -> torch.Tensor:
    b, _, h, w = g.shape
    n = min(h, w)
    n -= n % 2
    top, left = (h - n) // 2, (w - n) // 2
    x = g[:, 0, top : top + n, left : left + n]
    win = torch.hann_window(n, periodic=False, dtype=x.dtype, device=x.device)
    win = win[:, None] * win[None, :]
    x = x - (x * win).sum((-2, -1), keepdim=True) / win.sum()
    spec = torch.fft.fftshift(torch.fft.fft2(x * win), dim=(-2, -1))
    return torch.log(spec.real**2 + spec.imag**2 + 1e-10)


def _motion(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Length and angle from the negative peak of the 2-D power cepstrum."""
    ls = _log_spectrum(g)  # (B, n, n), centred
    b, n, _ = ls.shape
    dev, dt = ls.device, ls.dtype
    c = n // 2
    cep = torch.fft.fftshift(
        torch.fft.ifft2(torch.fft.ifftshift(ls, dim=(-2, -1))).real, dim=(-2, -1)
    )
    ar = torch.arange(n, device=dev) - c
    yy, xx = torch.meshgrid(-ar, ar, indexing="ij")  # y up
    r = torch.sqrt((xx * xx + yy * yy).to(dt))
    # the cepstrum is even: search the half plane y > 0 plus the positive x axis
    half = (yy > 0) | ((yy == 0) & (xx > 0))
    mask = half & (r >= _MIN_LENGTH) & (r <= min(0.3 * n, _MAX_LENGTH))
    cm = torch.where(mask, cep, torch.full_like(cep, float("inf")))
    idx = cm.flatten(1).argmin(1)
    row, col = idx // n, idx % n
    # sub-pixel: a parabola through the minimum and its neighbours on each axis
    bi = torch.arange(b, device=dev)

    def at(dr, dc):
        return cep[bi, (row + dr).clamp(0, n - 1), (col + dc).clamp(0, n - 1)]

    def vertex(m, z, p):
        den = m - 2 * z + p
        return torch.where(den.abs() > 1e-12, 0.5 * (m - p) / den, torch.zeros_like(den)).clamp(
            -0.5, 0.5
        )

    z = at(0, 0)
    dcol = vertex(at(0, -1), z, at(0, 1))
    drow = vertex(at(-1, 0), z, at(1, 0))
    px = (col - c).to(dt) + dcol
    py = -((row - c).to(dt) + drow)  # y up
    length = torch.sqrt(px * px + py * py)
    angle = torch.remainder(torch.rad2deg(torch.atan2(py, px)), 180.0)
    return length, angle


def estimate_blur(
    images: torch.Tensor, family: str = "gaussian"
) -> torch.Tensor | dict[str, torch.Tensor]:
    """Estimate the blur parameter of each image from the image alone.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1], at least 32x32
            (128x128 or more for useful accuracy), finite (NaN or inf raise
            :class:`~blurkit.ParameterError`); an empty batch gives empty results.
            Half-precision images are measured in float32; results come in the input's dtype.
        family: ``"gaussian"`` (returns sigma in pixels), ``"defocus"`` (pillbox
            radius in pixels) or ``"motion"`` (returns ``{"length": (B,), "angle": (B,)}``,
            length in pixels, angle in degrees counter-clockwise from the x axis,
            in [0, 180)).

    Returns:
        A ``(B,)`` tensor (0-d for a single image), or for ``"motion"`` a dict of them.

    See the module docstring for the methods and ``docs/measure.md`` for the
    accuracy measured on held-out photographs.

    Example:
        >>> from blurkit.kernels import gaussian_blur
        >>> x = torch.rand(1, 1, 96, 96)
        >>> estimate_blur(gaussian_blur(x, 2.0)).shape
        torch.Size([1])
    """
    check_choice(family, "family", FAMILIES)
    x, single, dt = prepare(images, 32)
    g = to_gray(x)
    if family == "motion":
        if len(g):
            length, angle = _motion(g)
        else:
            length = angle = g.new_zeros(0)
        length, angle = length.to(dt), angle.to(dt)
        if single:
            return {"length": length[0], "angle": angle[0]}
        return {"length": length, "angle": angle}
    if not len(g):
        return g.new_zeros(0).to(dt)
    raw = _edge_sigma(g, family)
    params, table = _table(family)
    gain = _PHOTO_GAIN if family == "gaussian" else _DEFOCUS_GAIN
    est = _interp(raw, table, params).clamp_min(0) * gain
    if family == "defocus":
        r_spec, score = _defocus_spectral(g)
        # the spectral fit is trusted when it fits well and roughly agrees with the edges
        # (for radii below ~1.3 px there is no zero below Nyquist and it fits noise)
        use = (score >= _DISK_MIN_SCORE) & (r_spec >= _DISK_MIN_RADIUS) & (r_spec <= 3 * est + 1.5)
        est = torch.where(use, r_spec, est)
    est = est.to(dt)
    return est[0] if single else est
