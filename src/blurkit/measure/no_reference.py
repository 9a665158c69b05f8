"""No-reference sharpness and blur measures: how blurry is this image, with nothing to compare to.

Each measure takes ``(B, C, H, W)`` images in [0, 1] (or one ``(C, H, W)``),
converts colour to luma with the one rule of :func:`blurkit.measure.to_gray`
(BT.709, as ``skimage.color.rgb2gray``), and returns one value per image.

| measure | direction | reference |
|---|---|---|
| :func:`laplacian_variance` | higher = sharper | Pech-Pacheco et al., ICPR 2000 |
| :func:`tenengrad` | higher = sharper | Krotkov 1987; Pech-Pacheco et al. 2000 |
| :func:`blur_effect` | higher = blurrier, [0, 1] | Crete-Roffet et al., SPIE 6492, 2007 |
| :func:`edge_width` | higher = blurrier (pixels) | Marziliano et al., ICIP 2002 |
| :func:`cpbd` | higher = sharper, [0, 1] | Narvekar & Karam, IEEE TIP 2011 |
| :func:`spectral_slope` | higher = sharper | Field 1987; Liu, Li & Jia, CVPR 2008 |
| :func:`hf_energy_ratio` | higher = sharper, [0, 1] | high-frequency energy share |

Common weakness of all of them: a no-reference score mixes blur with scene
content. A photo of fog, sky or a smooth wall scores "blurry" though it is
sharp, and noise or JPEG blocking scores "sharp". They rank blur levels of one
scene reliably; across different scenes much less so (``docs/measure.md``
gives the measured within-image and across-image agreement).

Why written here: scikit-image's ``blur_effect`` and the ``cpbd`` package run
on one grayscale NumPy image at a time in Python loops (``cpbd`` also no
longer imports on current SciPy); these versions are batched tensor code on any
device. They are pinned against those implementations in the tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._checks import ParameterError, check_allocation, check_int, check_scalar, check_size
from ..functional.conv import convolve
from ..kernels.gaussian import gaussian_kernel1d
from ._inputs import finish, prepare, to_gray
from .registry import register_metric

__all__ = [
    "laplacian_variance",
    "tenengrad",
    "blur_effect",
    "edge_width",
    "cpbd",
    "spectral_slope",
    "hf_energy_ratio",
    "radial_power_spectrum",
]

_SOBEL_SMOOTH = (0.25, 0.5, 0.25)


def _gray(images: torch.Tensor, min_size: int = 3) -> tuple[torch.Tensor, bool, torch.dtype]:
    """The input rule of :func:`blurkit.measure._inputs.prepare`, then luma: returns
    ``(gray (B, 1, H, W) in the work dtype, single, input dtype)``."""
    x, single, dt = prepare(images, min_size)
    return to_gray(x), single, dt


def _empty(g: torch.Tensor, reduction: str, single: bool, dt: torch.dtype) -> torch.Tensor:
    """The result for an empty batch: ``(0,)`` (or the reduction of nothing)."""
    return finish(g.new_zeros(0), reduction, single, dt)


def _windowed_power(g: torch.Tensor, onesided: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Power spectrum of ``g`` ``(B, H, W)`` under a separable Hann window, after the
    windowed mean is taken out: returns ``(power (B, H, W'), radial frequency (H, W'))`` in
    cycles per pixel, with ``W' = W // 2 + 1`` when ``onesided`` (an ``rfft2``) and ``W``
    otherwise. The window removes the spectral cross the image's borders would add."""
    h, w = g.shape[-2:]
    win = (
        torch.hann_window(h, periodic=False, dtype=g.dtype, device=g.device)[:, None]
        * torch.hann_window(w, periodic=False, dtype=g.dtype, device=g.device)[None, :]
    )
    gm = g - (g * win).sum((-2, -1), keepdim=True) / win.sum()
    spec = (torch.fft.rfft2 if onesided else torch.fft.fft2)(gm * win)
    pw = spec.real**2 + spec.imag**2
    fy = torch.fft.fftfreq(h, device=g.device, dtype=g.dtype)[:, None]
    fx = (torch.fft.rfftfreq if onesided else torch.fft.fftfreq)(w, device=g.device, dtype=g.dtype)[
        None, :
    ]
    return pw, torch.sqrt(fy * fy + fx * fx)


def _sobel(g: torch.Tensor, axis: int, boundary: str = "symmetric") -> torch.Tensor:
    """scikit-image's ``sobel(image, axis)``: [1, 0, -1] along ``axis`` (-2 rows, -1 cols),
    [1/4, 1/2, 1/4] across it, true convolution (as ``scipy.ndimage.convolve``)."""
    d = g.new_tensor([1.0, 0.0, -1.0])
    s = g.new_tensor(_SOBEL_SMOOTH)
    k = d[:, None] * s[None, :] if axis == -2 else s[:, None] * d[None, :]
    return convolve(g, k, boundary=boundary, method="direct")


@register_metric(
    "laplacian_variance",
    higher_is="sharper",
    reference="Pech-Pacheco et al., ICPR 2000",
    weakness="unbounded; grows with contrast, texture and noise",
)
def laplacian_variance(images: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Variance of the Laplacian (Pech-Pacheco et al., "Diatom autofocusing in
    brightfield microscopy: a comparative study", ICPR 2000, doi:10.1109/ICPR.2000.903548).

    The 4-neighbour Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` (OpenCV's
    ``Laplacian`` with ``ksize=1``, reflect-101 border) of the luma in [0, 1],
    then its variance over all pixels. Blur removes the second derivative's energy.

    Direction: higher = sharper. Weakness: unbounded and scales with the scene's
    contrast and texture; noise raises it strongly.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> laplacian_variance(x).shape
        torch.Size([2])
    """
    g, single, dt = _gray(images)
    if not len(g):
        return _empty(g, reduction, single, dt)
    k = g.new_tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    lap = convolve(g, k, boundary="reflect", method="direct")
    val = lap.flatten(1).var(1, unbiased=False)
    return finish(val, reduction, single, dt)


@register_metric(
    "tenengrad",
    higher_is="sharper",
    reference="Krotkov, IJCV 1987",
    weakness="unbounded; grows with contrast, texture and noise",
)
def tenengrad(
    images: torch.Tensor, threshold: float = 0.0, reduction: str = "none"
) -> torch.Tensor:
    """Tenengrad: mean squared Sobel gradient magnitude (Krotkov, "Focusing", IJCV 1(3),
    1987, doi:10.1007/BF00127822; the variant of Pech-Pacheco et al. 2000).

    Uses OpenCV's unnormalised 3x3 Sobel (``cv2.Sobel(g, CV_64F, 1, 0)``, reflect-101
    border) on the luma in [0, 1]; pixels whose squared magnitude is at most
    ``threshold`` count as zero.

    Direction: higher = sharper. Weakness: as the Laplacian, it grows with contrast,
    texture and noise.

    Example:
        >>> x = torch.rand(1, 1, 16, 16)
        >>> bool(tenengrad(x) > tenengrad(torch.full_like(x, 0.5)))
        True
    """
    g, single, dt = _gray(images)
    thr = check_scalar(threshold, "threshold", low=0.0)
    if not len(g):
        return _empty(g, reduction, single, dt)
    gx = _sobel(g, -1, "reflect") * 4
    gy = _sobel(g, -2, "reflect") * 4
    m2 = gx * gx + gy * gy
    if thr > 0:
        m2 = torch.where(m2 > thr, m2, torch.zeros_like(m2))
    return finish(m2.flatten(1).mean(1), reduction, single, dt)


@register_metric(
    "blur_effect",
    higher_is="blurrier",
    reference="Crete-Roffet et al., SPIE 6492, 2007",
    weakness="saturates beyond the 11-px re-blur; flat scenes read as blurry",
    min_size=4,
)
def blur_effect(images: torch.Tensor, h_size: int = 11, reduction: str = "none") -> torch.Tensor:
    """The blur effect of Crete-Roffet et al. ("The blur effect: perception and estimation
    with a new no-reference perceptual blur metric", SPIE 6492, 2007, doi:10.1117/12.702790).

    Re-blur the luma with an ``h_size`` box along each axis and measure how much
    of the gradient energy is lost: an already blurry image loses little.
    Per axis ``B = |M1 - M2| / M1`` with ``M1`` the summed absolute Sobel
    derivative and ``M2`` the summed loss; the result is the maximum over the two
    axes. Same computation as ``skimage.measure.blur_effect`` (its RGB path uses
    the same BT.709 luma), pinned to it within 1e-6 in the tests.

    Direction: higher = blurrier, in [0, 1]. Weakness: saturates towards 1 for
    blur wider than ``h_size``; flat scenes read as blurry.

    Example:
        >>> x = torch.rand(1, 3, 32, 32)
        >>> bool(blur_effect(x) < 0.5)
        True
    """
    g, single, dt = _gray(images, 4)
    size = check_size(h_size, "h_size", odd=False)
    if not len(g):
        return _empty(g, reduction, single, dt)
    h, w = g.shape[-2:]
    out = []
    for axis in (-2, -1):
        box = g.new_full((size,), 1.0 / size)
        k = box[:, None] if axis == -2 else box[None, :]
        filt = convolve(g, k, boundary="symmetric", method="direct")
        sharp = _sobel(g, axis).abs().clamp_min(1e-10)
        blurred = _sobel(filt, axis).abs().clamp_min(1e-10)
        t = (sharp - blurred).clamp_min(0)
        m1 = sharp[..., 2 : h - 1, 2 : w - 1].flatten(1).sum(1)
        m2 = t[..., 2 : h - 1, 2 : w - 1].flatten(1).sum(1)
        out.append((m1 - m2).abs() / m1)
    return finish(torch.maximum(out[0], out[1]), reduction, single, dt)


# --- Marziliano edge width and CPBD -------------------------------------------------------


def _runs_left(pos: torch.Tensor) -> torch.Tensor:
    """For a boolean ``(..., W)`` tensor, the number of consecutive True values ending at
    each index (counting leftwards, the index included)."""
    w = pos.shape[-1]
    idx = torch.arange(w, device=pos.device).expand_as(pos)
    last_false = torch.where(pos, torch.full_like(idx, -1), idx).cummax(-1).values
    return idx - last_false


def _runs_right(pos: torch.Tensor) -> torch.Tensor:
    return _runs_left(pos.flip(-1)).flip(-1)


def _marziliano_widths(img: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Edge widths of the ``cpbd`` package's ``marziliano_method``, vectorised.

    ``img`` ``(B, H, W)``, ``edges`` boolean ``(B, H, W)``. Only edges whose gradient
    points along the row (angle quantised to 0 or 180 degrees) get a width: the
    number of pixels of monotonic intensity on each side (each side at least 1,
    at most 101). Other pixels get 0.
    """
    b, h, w = img.shape
    # np.gradient: central differences inside, one-sided at the borders
    gx = torch.empty_like(img)
    gy = torch.empty_like(img)
    gx[..., 1:-1] = (img[..., 2:] - img[..., :-2]) / 2
    gx[..., 0] = img[..., 1] - img[..., 0]
    gx[..., -1] = img[..., -1] - img[..., -2]
    gy[..., 1:-1, :] = (img[..., 2:, :] - img[..., :-2, :]) / 2
    gy[..., 0, :] = img[..., 1, :] - img[..., 0, :]
    gy[..., -1, :] = img[..., -1, :] - img[..., -2, :]
    angle = torch.where(gx != 0, torch.rad2deg(torch.atan2(gy, gx)), torch.zeros_like(gx))
    q = 45 * torch.round(angle / 45)
    rising = q == 0
    falling = q.abs() == 180

    d = img[..., 1:] - img[..., :-1]  # d[j] = img[j+1] - img[j], (B, H, W-1)
    pad = torch.zeros(b, h, 1, dtype=torch.long, device=img.device)
    # run of rising steps ending at j-2 (leftwards) and starting at j+1 (rightwards)
    up_l = torch.cat(
        [pad, pad, _runs_left(d > 0)[..., :-1]], -1
    )  # index j -> runs ending at d[j-2]
    up_r = torch.cat([_runs_right(d > 0)[..., 1:], pad, pad], -1)  # index j -> runs from d[j+1]
    dn_l = torch.cat([pad, pad, _runs_left(d < 0)[..., :-1]], -1)
    dn_r = torch.cat([_runs_right(d < 0)[..., 1:], pad, pad], -1)
    cap = 100
    w_rise = up_l.clamp(max=cap) + up_r.clamp(max=cap) + 2
    w_fall = dn_l.clamp(max=cap) + dn_r.clamp(max=cap) + 2
    width = torch.where(rising, w_rise, torch.where(falling, w_fall, torch.zeros_like(w_rise)))
    inner = torch.zeros_like(edges)
    inner[..., 1:-1, 1:-1] = True
    return torch.where(edges & inner, width, torch.zeros_like(width)).to(img.dtype)


def _octave_sobel_edges(img: torch.Tensor) -> torch.Tensor:
    """The ``cpbd`` package's Octave-style vertical-edge detector on 0-255 images ``(B, H, W)``:
    squared normalised Sobel x-derivative, threshold ``2 sqrt(mean)``, then a thinning
    that keeps strict local maxima along rows or columns."""
    k = img.new_tensor([[0.125, 0.0, -0.125], [0.25, 0.0, -0.25], [0.125, 0.0, -0.125]])
    s2 = convolve(img[:, None], k, boundary="symmetric", method="direct")[:, 0] ** 2
    thr = 2 * torch.sqrt(s2.flatten(1).mean(1))[:, None, None]
    s2 = torch.where(s2 <= thr, torch.zeros_like(s2), s2)
    zc = torch.zeros_like(s2[..., :1])
    zr = torch.zeros_like(s2[..., :1, :])
    x = (s2 > torch.cat([zc, s2[..., :-1]], -1)) & (s2 > torch.cat([s2[..., 1:], zc], -1))
    y = (s2 > torch.cat([zr, s2[..., :-1, :]], -2)) & (s2 > torch.cat([s2[..., 1:, :], zr], -2))
    return x | y


def _canny_like(img: torch.Tensor) -> torch.Tensor:
    """Edge pixels as ``skimage.feature.canny(img)`` finds them with its default (float)
    thresholds on a 0-255 image: Gaussian (sigma 1) smoothing, Sobel magnitude,
    non-maximum suppression along the quantised gradient direction, magnitude > 0.1.
    Hysteresis is not needed: with these thresholds every maximum above 0.1 on the
    0-255 scale is kept. The outer 1-pixel ring is dropped (as canny's eroded mask)."""

    g1 = gaussian_kernel1d(img.new_tensor(1.0))[0]
    sm = convolve(img[:, None], g1[:, None] * g1[None, :], boundary="zeros", method="direct")
    norm = convolve(torch.ones_like(img[:1, None]), g1[:, None] * g1[None, :], boundary="zeros")
    sm = sm / norm
    gy = _sobel(sm, -2)[:, 0]
    gx = _sobel(sm, -1)[:, 0]
    mag = torch.sqrt(gx * gx + gy * gy)
    ang = torch.remainder(torch.rad2deg(torch.atan2(gy, gx)), 180.0)
    sector = torch.remainder(
        torch.round(ang / 45), 4
    ).long()  # 0: horiz grad, 1: 45, 2: vert, 3: 135
    p = F.pad(mag[:, None], (1, 1, 1, 1))[:, 0]
    h, w = mag.shape[-2:]

    def sh(dy, dx):
        return p[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    n1 = torch.stack([sh(0, 1), sh(-1, 1), sh(1, 0), sh(-1, -1)], 0)
    n2 = torch.stack([sh(0, -1), sh(1, -1), sh(-1, 0), sh(1, 1)], 0)
    a = torch.gather(n1, 0, sector[None])[0]
    c = torch.gather(n2, 0, sector[None])[0]
    keep = (mag >= a) & (mag >= c) & (mag > 0.1)
    keep[..., 0, :] = False
    keep[..., -1, :] = False
    keep[..., :, 0] = False
    keep[..., :, -1] = False
    return keep


@register_metric(
    "edge_width",
    higher_is="blurrier",
    reference="Marziliano et al., ICIP 2002",
    weakness="vertical edges only; texture shortens widths",
    min_size=4,
)
def edge_width(images: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Mean edge width in pixels (Marziliano, Dufaux, Winkler & Ebrahimi, "A no-reference
    perceptual blur metric", ICIP 2002, doi:10.1109/ICIP.2002.1038902).

    At vertical-edge pixels (Sobel detector, thinned), the width is the distance
    between the intensity extrema on either side along the row; the measure is
    its mean over all such edges. Thinning keeps only strict maxima of the
    edge strength, so a perfectly symmetric edge (two equal strongest pixels) is
    not detected, as in ``cpbd``. Same edge detector and width rule as the ``cpbd``
    package (which implements Marziliano's method as its first stage). An image
    with no detected edge gets 0.

    Direction: higher = blurrier. Weakness: only vertical edges count; texture
    and neighbouring edges shorten the widths; flat images have no edges.

    Example:
        >>> x = torch.zeros(1, 1, 16, 16); x[..., 8] = 0.5; x[..., 9:] = 1.0
        >>> float(edge_width(x))  # a one-pixel ramp spans 2 pixels between its extrema
        2.0
    """
    g, single, dt = _gray(images, 4)
    if not len(g):
        return _empty(g, reduction, single, dt)
    img = g[:, 0] * 255.0
    widths = _marziliano_widths(img, _octave_sobel_edges(img))
    n = (widths > 0).flatten(1).sum(1)
    val = widths.flatten(1).sum(1) / n.clamp_min(1)
    return finish(val, reduction, single, dt)


@register_metric(
    "cpbd",
    higher_is="sharper",
    reference="Narvekar & Karam, IEEE TIP 2011",
    weakness="coarse; near 0 past moderate blur; needs 64x64 blocks",
    min_size=64,
)
def cpbd(images: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Cumulative probability of blur detection (Narvekar & Karam, "A no-reference image
    blur metric based on the cumulative probability of blur detection (CPBD)",
    IEEE TIP 20(9), 2011, doi:10.1109/TIP.2011.2131660).

    Edge widths (Marziliano) in 64x64 blocks that hold edges are turned into a
    probability of detecting blur ``1 - exp(-(w / w_JNB) ** 3.6)`` with the
    just-noticeable width ``w_JNB = 5`` for block contrast <= 50 (of 255), else 3;
    CPBD is the fraction of edges whose probability is below 0.635 (``round(100 p)
    <= 63``). Follows the PyPI ``cpbd`` package (1.0.7) step by step on the
    image scaled to 0-255: its Octave-style Sobel detector, its width rule, its
    blocks (only whole 64x64 blocks count, so images need at least 64x64 pixels).
    The one difference is the edge-block test: ``cpbd`` uses scikit-image's Canny
    detector, replaced here by an equivalent batched non-maximum suppression
    (:func:`_canny_like`); the tests measure the agreement (within 0.02).

    Direction: higher = sharper, in [0, 1]. Weakness: coarse (widths are whole
    pixels, so it saturates near 0 beyond moderate blur), and scene-dependent.

    Example:
        >>> x = torch.rand(1, 1, 64, 64)
        >>> 0.0 <= float(cpbd(x)) <= 1.0
        True
    """
    g, single, dt = _gray(images, 64)
    if not len(g):
        return _empty(g, reduction, single, dt)
    img = g[:, 0] * 255.0
    widths = _marziliano_widths(img, _octave_sobel_edges(img))
    canny = _canny_like(img)
    b, h, w = img.shape
    nh, nw = h // 64, w // 64
    hh, ww = nh * 64, nw * 64

    def blocks(t):
        return (
            t[:, :hh, :ww].reshape(b, nh, 64, nw, 64).transpose(2, 3).reshape(b, nh * nw, 64 * 64)
        )

    is_edge_block = blocks(canny).sum(-1) > 64 * 64 * 0.002
    bi = blocks(img)
    contrast = torch.floor(bi.amax(-1) - bi.amin(-1))
    jnb = torch.where(
        contrast <= 50, torch.full_like(contrast, 5.0), torch.full_like(contrast, 3.0)
    )
    bw = blocks(widths)
    valid = (bw > 0) & is_edge_block[..., None]
    p = 1 - torch.exp(-((bw / jnb[..., None]).abs() ** 3.6))
    sharp_enough = torch.round(p * 100) <= 63
    total = valid.flatten(1).sum(1)
    hits = (valid & sharp_enough).flatten(1).sum(1)
    val = torch.where(
        total > 0, hits.to(img.dtype) / total.clamp_min(1), torch.zeros_like(img[:, 0, 0])
    )
    return finish(val, reduction, single, dt)


# --- spectral measures -----------------------------------------------------------------


def radial_power_spectrum(
    images: torch.Tensor, bins: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Radially averaged power spectrum of the (Hann-windowed, mean-removed) luma.

    Returns ``(freqs, power)``: ``freqs`` ``(n,)`` in cycles per pixel (bin centres,
    0 < f <= 0.5) and ``power`` ``(B, n)``. The Hann window removes the spectral
    cross that the image's borders would otherwise add.
    """
    g, _, _ = _gray(images, 8)
    g = g[:, 0]
    b, h, w = g.shape
    n = min(h, w) // 2
    if bins is not None:
        n = check_int(bins, "bins", low=1, high=max(h, w))
    check_allocation("bins", (max(b, 1), n + 1), itemsize=g.element_size())
    freqs = (torch.arange(n, dtype=g.dtype, device=g.device) + 0.5) / n * 0.5
    if b == 0:
        return freqs, g.new_zeros(0, n)
    pw, r = _windowed_power(g, onesided=True)
    edges_idx = torch.clamp(
        (r / 0.5 * n).ceil().long() - 1, min=-1, max=n
    )  # bin k holds (k/n, (k+1)/n]*0.5
    ok = (edges_idx >= 0) & (edges_idx < n)
    idx = torch.where(ok, edges_idx, torch.full_like(edges_idx, n)).flatten()
    # summed on the CPU whatever the device: CUDA's index_add_ adds in a varying order
    # (atomics), so the same image would give a slope differing in its last bits
    sums = torch.zeros(b, n + 1, dtype=g.dtype).index_add_(1, idx.cpu(), pw.flatten(1).cpu())
    sums = sums.to(g.device)
    counts = torch.zeros(n + 1, dtype=g.dtype, device=g.device).index_add_(
        0, idx, torch.ones_like(r).flatten()
    )
    return freqs, sums[:, :n] / counts[:n].clamp_min(1)


@register_metric(
    "spectral_slope",
    higher_is="sharper",
    reference="Field, JOSA A 1987; Liu et al., CVPR 2008",
    weakness="noise/JPEG flatten it; scene statistics vary",
    min_size=8,
)
def spectral_slope(
    images: torch.Tensor, f_low: float = 0.02, f_high: float = 0.35, reduction: str = "none"
) -> torch.Tensor:
    """Slope of the log radially averaged power spectrum against log frequency.

    Natural images have power falling roughly as ``f ** -2`` (Field, "Relations
    between the statistics of natural images and the response properties of
    cortical cells", JOSA A 4(12), 1987, doi:10.1364/JOSAA.4.002379); blur removes
    high frequencies and makes the fall steeper (Liu, Li & Jia, "Image partial
    blur detection and classification", CVPR 2008). The slope is the least-squares
    fit over ``[f_low, f_high]`` cycles per pixel.

    Direction: higher (less negative) = sharper; about -2 for a sharp photo.
    Weakness: noise and JPEG flatten the high end; scene statistics vary (foliage
    is flatter than sky) by about as much as mild blur changes the slope.

    Example:
        >>> x = torch.rand(1, 1, 64, 64)
        >>> bool(spectral_slope(x) > -1.0)  # white noise is flat
        True
    """
    x, single, dt = prepare(images, 8)
    lo = check_scalar(f_low, "f_low", low=0.0, high=0.5, low_inclusive=False)
    hi = check_scalar(f_high, "f_high", low=lo, high=0.5, low_inclusive=False)
    f, p = radial_power_spectrum(x)
    sel = (f >= lo) & (f <= hi)
    if int(sel.sum()) < 2:
        raise ParameterError(
            f"f_low, f_high: [{lo:g}, {hi:g}] cycles/pixel holds {int(sel.sum())} of the "
            f"{len(f)} frequency bins of a {tuple(x.shape[-2:])} image; a slope needs 2"
        )
    if not len(x):
        return finish(x.new_zeros(0), reduction, single, dt)
    lf = torch.log(f[sel])
    lp = torch.log(p[:, sel].clamp_min(1e-30))
    lfc = lf - lf.mean()
    slope = (lp * lfc).sum(1) / (lfc * lfc).sum()
    return finish(slope, reduction, single, dt)


@register_metric(
    "hf_energy_ratio",
    higher_is="sharper",
    reference="high-frequency energy share",
    weakness="noise/JPEG raise it; smooth scenes score low",
    min_size=8,
)
def hf_energy_ratio(
    images: torch.Tensor, cutoff: float = 0.15, reduction: str = "none"
) -> torch.Tensor:
    """Share of the spectral energy (mean removed, Hann-windowed) above ``cutoff`` cycles/pixel.

    Blur is a low-pass filter, so it lowers this share. Direction: higher = sharper,
    in [0, 1]. Weakness: noise and JPEG artefacts add high-frequency energy; smooth
    scenes have little regardless of focus.

    Example:
        >>> x = torch.rand(1, 1, 64, 64)
        >>> ramp = torch.linspace(0, 1, 64).expand(1, 1, 64, 64)
        >>> bool(hf_energy_ratio(x) > hf_energy_ratio(ramp))
        True
    """
    g, single, dt = _gray(images, 8)
    c = check_scalar(cutoff, "cutoff", low=0.0, high=0.5, low_inclusive=False, high_inclusive=False)
    if not len(g):
        return _empty(g, reduction, single, dt)
    g = g[:, 0]
    pw, r = _windowed_power(g, onesided=False)
    total = pw.flatten(1).sum(1).clamp_min(1e-30)
    high = (pw * (r > c)).flatten(1).sum(1)
    return finish(high / total, reduction, single, dt)
