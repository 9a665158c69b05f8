"""Free-form blind kernel estimation: coarse-to-fine MAP with a sparse-gradient prior.

Real camera shake is no Gaussian, disk or straight streak: its kernel is a
curved, uneven path (Levin et al., CVPR 2009). This module estimates a
non-negative kernel of unit sum and free shape from the blurred image alone, in
the line of Cho & Lee 2009, Xu, Zheng & Jia, "Unnatural L0 sparse representation
for natural image deblurring", CVPR 2013, and Pan, Hu, Su & Yang, "Deblurring
text images via L0-regularized intensity and gradient prior", CVPR 2014 /
"Blind image deblurring using dark channel prior", CVPR 2016:

1. **Pyramid.** The grayscale image (BT.709 luma for RGB) is estimated from a
   coarse scale (kernel about 9 px) to full resolution in steps of ``sqrt(2)``; each
   scale starts from the previous kernel, upsampled.
2. **Latent image** (per iteration): an intermediate sharp image ``s`` with sparse
   gradients, ``min_s ||k * s - y||^2 + lam ||grad s||_0``, by half-quadratic
   splitting (Xu et al. 2011): auxiliary gradients hard-thresholded at
   ``sqrt(lam / beta)``, ``beta`` doubled from ``2 lam`` to ``1e5``, each ``s`` step
   an FFT solve. Optionally (``prior="dark"``) the dark channel (the minimum over a
   patch) is also made sparse (Pan et al. 2016), which favours sharp latents over
   blurred ones where gradients alone are ambiguous. The L0 latent keeps only the
   strong edges, the part of the image that determines the kernel, and drops the
   fine texture that misleads it.
3. **Kernel** (per iteration): least squares in the gradient domain,
   ``min_k ||grad s * k - grad y||^2 + reg ||k||^2`` on the image region (the
   latent extends past the border, so no wrap-around enters), by conjugate
   gradients on the kernel's box; then the projection: values below
   ``threshold * max`` and negative values set to 0, connected components (8-
   neighbourhood) holding less than ``min_component`` of the mass removed (the
   largest always stays), unit sum. ``lam`` decreases by 1.1 per iteration, so
   more and finer edges join the estimate as the kernel improves.
4. After each scale the kernel's centroid is moved to the centre pixel (integer
   shift) so the estimate cannot drift out of its box. At the finest scale
   values below ``final_threshold * max`` are cut.

The non-blind deconvolution with the estimated kernel is the caller's
(:func:`blurkit.defenses.deblur.blind_deblur` runs :func:`~.nonblind.tv_deconv`),
on every colour channel with the one grayscale kernel.

Batched over images (each its own kernel) on the input's device. The estimate is
not differentiable (thresholds and component selection); it runs under
``torch.no_grad``.

Limitations (measured): on Levin's 16 dev captures the estimate gives 30.0 dB mean
after TV (true kernel 32.5), error ratio <= 2.6 on 15 and 5.2 on the longest shake
(``benchmarks/RESULTS.md``); with ``coarsest=(5, 7, 9)`` (three pyramids, the
sparsest result kept per image) 30.4 dB and every error ratio <= 2.5 there, at three
times the time, but worse on synthetic shakes (see ``coarsest``). On nearly sharp images (a 3-5 px shake) the estimate is
too wide and the deconvolution *loses* PSNR against the input (synthetic 128 px:
23-31 dB from 32-35 dB); the estimate is biased towards wider kernels because the
L0 latent is sharper than any real image. Do not put it in front of a model on
images that may be sharp without checking.

Kernel size: ``kernel_size=None`` takes an odd box of about an eighth of the
shorter image side (31 px for 255 px images, 9-63 px in all), which covers the
shakes of Levin's set (13-27 px); a larger box costs time and a little accuracy,
a smaller one than the blur truncates it. The returned kernel is cropped to its
support (plus one pixel), centred, odd-sized.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..._checks import (
    ParameterError,
    ShapeError,
    check_allocation,
    check_choice,
    check_finite,
    check_image,
    check_int,
    check_scalar,
    check_size,
)
from ...functional.fourier import forward_differences as _grad
from ...functional.fourier import kernel_least_squares as _kernel_ls
from . import _fft
from .nonblind import tv_deconv

__all__ = ["estimate_freeform_kernel", "FREEFORM_PRIORS"]

FREEFORM_PRIORS = ("l0", "dark")

_RATIO = math.sqrt(0.5)
_BETA_MAX = 1e5


def _auto_size(h: int, w: int) -> int:
    s = int(round(min(h, w) / 8))
    s = min(max(s, 9), 63)
    return s + 1 - s % 2


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    if x.shape[1] == 3:
        w = torch.tensor([0.2126, 0.7152, 0.0722], device=x.device, dtype=x.dtype)
        return (x * w[None, :, None, None]).sum(1, keepdim=True)
    return x.mean(1, keepdim=True)


def _div(h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`_grad` (circular): ``D_x^T h + D_y^T v``."""
    return (torch.roll(h, 1, -1) - h) + (torch.roll(v, 1, -2) - v)


def _maxpool(s: torch.Tensor, patch: int) -> torch.Tensor:
    """Max over a ``patch`` square, separably (rows then columns)."""
    r = patch // 2
    s = F.max_pool2d(s, (1, patch), stride=1, padding=(0, r))
    return F.max_pool2d(s, (patch, 1), stride=1, padding=(r, 0))


def _dark_channel(s: torch.Tensor, patch: int) -> torch.Tensor:
    return -_maxpool(-s, patch)


def _latent(
    pad: _fft.Padded,
    lam_grad: float,
    lam_dark: float,
    patch: int,
    kappa: float = 2.0,
) -> torch.Tensor:
    """L0-gradient (and dark-channel) latent image on the padded grid (Pan et al.)."""
    shape = pad.shape
    K = pad.K
    Dx, Dy = _fft.grad_otfs(shape, pad.data.device, pad.data.dtype)
    D2 = Dx.abs().square() + Dy.abs().square()
    K2 = K.abs().square()
    KtY = K.conj() * torch.fft.rfft2(pad.data)
    s = pad.data
    if lam_dark > 0:
        mu = 2 * lam_dark
        mu_max = 8.0
    else:
        mu, mu_max = 0.0, 0.0
    while True:
        if mu > 0:
            # pixel sub-problem: a sparse dark channel, put back at the patch minima
            # pixel sub-problem: a sparse dark channel put back at the patch minima. A
            # pixel is the minimum of some patch iff it is <= the max of the dark channel
            # over its own patch (it is >= every dark value there).
            dark = _dark_channel(s, patch)
            at_min = s <= _maxpool(dark, patch)
            cut = at_min & (s.square() < lam_dark / mu)
            target = torch.where(cut, torch.zeros_like(s), s)
            U = torch.fft.rfft2(target)
        beta = 2 * lam_grad
        while beta < _BETA_MAX:
            h, v = _grad(s)
            t = (h.square() + v.square()) < lam_grad / beta
            h = torch.where(t, torch.zeros_like(h), h)
            v = torch.where(t, torch.zeros_like(v), v)
            num = KtY + beta * torch.fft.rfft2(_div(h, v))
            den = K2 + beta * D2
            if mu > 0:
                num = num + mu * U
                den = den + mu
            s = torch.fft.irfft2(num / den, s=shape)
            beta *= kappa
        if mu <= 0:
            break
        mu *= kappa
        if mu >= mu_max:
            break
    return s


def _components(mask: torch.Tensor) -> torch.Tensor:
    """8-connected component labels of a ``(B, 1, h, w)`` boolean mask (0 = background)."""
    b, _, h, w = mask.shape
    idx = torch.arange(1, h * w + 1, device=mask.device, dtype=torch.float32).view(1, 1, h, w)
    lab = torch.where(mask, idx.expand(b, 1, h, w), torch.zeros((), device=mask.device))
    for _ in range(h * w):
        new = F.max_pool2d(lab, 3, stride=1, padding=1) * mask
        if torch.equal(new, lab):
            break
        lab = new
    return lab.long()


def _project(k: torch.Tensor, threshold: float, min_component: float) -> torch.Tensor:
    """Non-negative, small values cut, weak components removed, unit sum."""
    k = k.clamp_min(0)
    kmax = k.flatten(1).amax(1)[:, None, None, None]
    k = torch.where(k < threshold * kmax, torch.zeros_like(k), k)
    if min_component > 0:
        lab = _components(k > 0)
        b = k.shape[0]
        n = lab.shape[-2] * lab.shape[-1] + 1
        mass = torch.zeros(b, n, device=k.device, dtype=k.dtype)
        mass.scatter_add_(1, lab.flatten(1), k.flatten(1))
        total = mass[:, 1:].sum(1, keepdim=True).clamp_min(torch.finfo(k.dtype).tiny)
        frac = mass / total
        frac[:, 0] = 0
        keep_lab = (frac >= min_component) | (frac == frac.amax(1, keepdim=True))
        keep_lab[:, 0] = False
        keep = keep_lab.gather(1, lab.flatten(1)).view_as(k)
        k = torch.where(keep, k, torch.zeros_like(k))
    return _normalise(k)


def _normalise(k: torch.Tensor) -> torch.Tensor:
    s = k.flatten(1).sum(1)[:, None, None, None]
    delta = torch.zeros_like(k)
    delta[..., k.shape[-2] // 2, k.shape[-1] // 2] = 1.0
    return torch.where(s > 0, k / s.clamp_min(torch.finfo(k.dtype).tiny), delta)


def _shift(k: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Translate each kernel by integer ``(dy, dx)``, zero fill."""
    b, _, kh, kw = k.shape
    out = torch.zeros_like(k)
    for i in range(b):
        y, x = int(dy[i]), int(dx[i])
        ys, yd = (slice(0, kh - y), slice(y, kh)) if y >= 0 else (slice(-y, kh), slice(0, kh + y))
        xs, xd = (slice(0, kw - x), slice(x, kw)) if x >= 0 else (slice(-x, kw), slice(0, kw + x))
        out[i, :, yd, xd] = k[i, :, ys, xs]
    return out


def _center(k: torch.Tensor) -> torch.Tensor:
    """Move each kernel's centroid to the centre pixel (nearest integer shift)."""
    kh, kw = k.shape[-2:]
    iy = torch.arange(kh, device=k.device, dtype=k.dtype)
    ix = torch.arange(kw, device=k.device, dtype=k.dtype)
    m = k.flatten(1).sum(1).clamp_min(torch.finfo(k.dtype).tiny)
    cy = (k.sum(-1)[:, 0] * iy).sum(-1) / m
    cx = (k.sum(-2)[:, 0] * ix).sum(-1) / m
    dy = torch.round(kh // 2 - cy).long()
    dx = torch.round(kw // 2 - cx).long()
    if bool((dy == 0).all() and (dx == 0).all()):
        return k
    return _normalise(_shift(k, dy, dx))


def _resize_kernel(k: torch.Tensor, factor: float, size: int) -> torch.Tensor:
    """Scale a kernel by ``factor`` (bilinear) into a ``size`` box, centred."""
    kh = k.shape[-1]
    n = max(1, int(round(kh * factor)))
    n += 1 - n % 2
    r = F.interpolate(k, size=(n, n), mode="bilinear", align_corners=False).clamp_min(0)
    if n > size:
        o = (n - size) // 2
        r = r[..., o : o + size, o : o + size]
    elif n < size:
        o = (size - n) // 2
        r = F.pad(r, (o, size - n - o, o, size - n - o))
    return _normalise(r)


def _crop_support(k: torch.Tensor, margin: int = 1) -> torch.Tensor:
    """Crop a batch of centred kernels to the smallest odd centred box holding all supports."""
    kh, kw = k.shape[-2:]
    nz = k.flatten(0, 1).sum(0) > 0
    if not bool(nz.any()):
        return k
    ys = torch.nonzero(nz.any(1)).flatten()
    xs = torch.nonzero(nz.any(0)).flatten()
    cy, cx = kh // 2, kw // 2
    ry = max(cy - int(ys.min()), int(ys.max()) - cy) + margin
    rx = max(cx - int(xs.min()), int(xs.max()) - cx) + margin
    r = min(max(ry, rx), cy, cx)
    return k[..., cy - r : cy + r + 1, cx - r : cx + r + 1].contiguous()


def estimate_freeform_kernel(
    images: torch.Tensor,
    kernel_size: int | None = None,
    *,
    prior: str = "l0",
    lam_grad: float = 4e-3,
    lam_dark: float = 4e-3,
    dark_patch: int = 35,
    iterations: int = 5,
    reg: float = 2.0,
    cg_iters: int = 20,
    threshold: float = 0.05,
    min_component: float = 0.1,
    final_threshold: float = 0.05,
    crop: bool = True,
    lam_min: float = 1e-4,
    coarsest: int | tuple[int, ...] = 9,
) -> torch.Tensor:
    """Estimate one free-form blur kernel per image (module docstring).

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` blurred images in [0, 1], at least
            32x32 and at least three times the kernel size; RGB is estimated on its
            luma.
        kernel_size: odd side of the kernel box (at most a third of the shorter
            image side); ``None`` chooses about an eighth of the shorter side.
        prior: ``"l0"`` (sparse gradients) or ``"dark"`` (sparse gradients and a
            sparse dark channel, Pan et al. 2016).
        lam_grad: initial L0 gradient weight (decreased by 1.1 per iteration, to 1e-4).
        lam_dark: initial dark-channel weight (``prior="dark"``).
        dark_patch: odd dark-channel patch side in pixels at full resolution.
        iterations: latent/kernel alternations per scale.
        reg: Tikhonov weight of the kernel least squares (in units of summed
            squared gradients, as Pan et al.'s code).
        cg_iters: conjugate-gradient steps per kernel update.
        threshold: kernel values below ``threshold * max`` are cut at every update.
        min_component: connected components with less than this fraction of the
            mass are removed (the largest is always kept); 0 keeps all.
        final_threshold: the cut at the end, relative to the maximum.
        crop: crop the kernels to their joint support (plus one pixel), centred.
        lam_min: the floor of the decreasing weights.
        coarsest: the kernel side at the coarsest scale (the pyramid's depth), or
            several: each runs as its own estimate and every image keeps the kernel whose
            TV deconvolution is sparsest (:func:`normalized_sparsity`), at the cost of
            one estimate per depth. 9 by default rather than Pan et al.'s 5: the deeper
            pyramid spreads the kernels of short synthetic shakes (blind PSNR 3-4 dB
            lower). ``(5, 7, 9)`` is best on Levin's real captures (16 dev captures: 30.41
            dB mean and every error ratio <= 2.49, against 29.98 dB and a worst 5.18 for
            9 alone, where the longest shake lost part of its path;
            ``benchmarks/RESULTS.md``) but not on synthetic 128 px shakes, where the
            sparsity prefers the deeper pyramids and loses 0.6-5 dB on 7 of 12 shakes
            against 9 alone (``benchmarks/freeform_depths.py``); hence an option, not the
            default.

    Returns:
        ``(B, 1, k, k)`` non-negative kernels of unit sum, centre at ``k // 2``, in
        the convention of :func:`blurkit.blur` (convolution).

    Example:
        >>> from blurkit.kernels import motion_kernel
        >>> from blurkit import blur
        >>> from skimage.data import camera
        >>> x = torch.from_numpy(camera()[150:278, 150:278]).float()[None, None] / 255
        >>> k = estimate_freeform_kernel(blur(x, motion_kernel(9.0, 30.0)), 15, iterations=3)
        >>> k.shape[:2], round(float(k.sum()), 4), bool((k >= 0).all())
        (torch.Size([1, 1]), 1.0, True)
    """
    x, _ = check_image(images)
    check_choice(prior, "prior", FREEFORM_PRIORS)
    b, _, h, w = x.shape
    if min(h, w) < 32:
        raise ShapeError(f"images: free-form kernel estimation needs at least 32x32, got {h}x{w}")
    ks = _auto_size(h, w) if kernel_size is None else check_size(kernel_size, "kernel_size")
    if 3 * ks > min(h, w):
        raise ParameterError(
            f"kernel_size: expected at most a third of the shorter image side "
            f"({min(h, w) // 3}), got {ks}"
        )
    lam_grad = check_scalar(lam_grad, "lam_grad", low=0.0, low_inclusive=False)
    lam_dark = check_scalar(lam_dark, "lam_dark", low=0.0)
    lam_min = check_scalar(lam_min, "lam_min", low=0.0, low_inclusive=False)
    depths = coarsest if isinstance(coarsest, (tuple, list)) else (coarsest,)
    if not depths:
        raise ParameterError("coarsest: expected an int or a non-empty tuple of ints, got ()")
    depths = [check_int(c, "coarsest", low=3) for c in depths]
    # depths that give the same pyramid run once
    depths = list({_n_scales(ks, c): c for c in reversed(depths)}.values())[::-1]
    patch = check_size(dark_patch, "dark_patch")
    n_iter = check_int(iterations, "iterations", low=1)
    reg = check_scalar(reg, "reg", low=0.0)
    n_cg = check_int(cg_iters, "cg_iters", low=1)
    threshold = check_scalar(threshold, "threshold", low=0.0, high=1.0, high_inclusive=False)
    min_component = check_scalar(min_component, "min_component", low=0.0, high=1.0)
    final_threshold = check_scalar(
        final_threshold, "final_threshold", low=0.0, high=1.0, high_inclusive=False
    )
    if b == 0:  # the empty-batch rule: an empty result of the right shape
        return x.new_zeros(0, 1, ks, ks)
    check_finite(x)
    m = _fft.margin((ks, ks), (h, w))
    check_allocation("images", (b, 8, h + 2 * m[0], w + 2 * m[1]), itemsize=8)
    if prior == "l0":
        lam_dark = 0.0
    work = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    with torch.no_grad():
        y = _gray(x.detach().to(work))
        settings = (lam_grad, lam_dark, patch, n_iter, reg, n_cg, threshold, min_component)
        kernels = [_pyramid(y, ks, c, settings, lam_min, final_threshold) for c in depths]
        k = kernels[0] if len(kernels) == 1 else _sparsest(y, kernels)
        if crop:
            k = _crop_support(k)
    return k


def _n_scales(ks: int, coarsest: int) -> int:
    """Scales with kernel sides ``ceil(ks * r^s)`` down to about ``coarsest`` px."""
    return max(int(math.floor(math.log(coarsest / ks) / math.log(_RATIO))), 0) + 1


def _pyramid(y, ks, coarsest, settings, lam_min, final_threshold):
    """One coarse-to-fine estimate from a ``coarsest``-pixel kernel to the ``ks`` box."""
    lam_grad, lam_dark, patch, n_iter, reg, n_cg, threshold, min_component = settings
    b, _, h, w = y.shape
    n_scales = _n_scales(ks, coarsest)
    sizes = []
    for s in range(n_scales):
        v = int(math.ceil(ks * _RATIO**s))
        sizes.append(v + 1 - v % 2)
    k = None
    lg, ld = lam_grad, lam_dark
    for s in range(n_scales - 1, -1, -1):
        size = sizes[s]
        if k is None:
            k = torch.zeros(b, 1, size, size, device=y.device, dtype=y.dtype)
            c = size // 2
            k[..., c, c - 1 : c + 1] = 0.5
        else:
            k = _resize_kernel(k, 1.0 / _RATIO, size)
        k = _center(_project(k, 0.0, 0.0))
        scale = _RATIO**s
        if s == 0:
            ys = y
        else:
            hs, ws = max(8, round(h * scale)), max(8, round(w * scale))
            ys = F.interpolate(y, size=(hs, ws), mode="bilinear", antialias=True)
        p = max(3, int(round(patch * scale)))
        p += 1 - p % 2
        k, lg, ld = _scale_step(
            ys, k, lg, ld, p, n_iter, reg, n_cg, threshold, min_component, lam_min
        )
        k = _center(k)
    k = k.clamp_min(0)
    kmax = k.flatten(1).amax(1)[:, None, None, None]
    return _normalise(torch.where(k < final_threshold * kmax, torch.zeros_like(k), k))


def normalized_sparsity(images: torch.Tensor) -> torch.Tensor:
    """``||grad x||_1 / ||grad x||_2`` per image (Krishnan, Tay & Fergus, "Blind
    deconvolution using a normalized sparsity measure", CVPR 2011), forward differences
    over the image's own region: lower for a sharper image, higher for a blurred one
    and for the ringing and ghost edges a wrong kernel leaves after deconvolution."""
    gx = images[..., :, 1:] - images[..., :, :-1]
    gy = images[..., 1:, :] - images[..., :-1, :]
    g = torch.cat([gx.flatten(1), gy.flatten(1)], 1)
    return g.abs().sum(1) / g.norm(dim=1).clamp_min(torch.finfo(g.dtype).tiny)


def _sparsest(y: torch.Tensor, kernels: list[torch.Tensor]) -> torch.Tensor:
    """Per image, the kernel whose TV deconvolution of ``y`` is sparsest (lowest
    :func:`normalized_sparsity`); ties keep the earlier kernel."""
    scores = torch.stack([normalized_sparsity(tv_deconv(y, k)) for k in kernels])  # (S, B)
    best = scores.argmin(0)
    stacked = torch.stack(kernels)  # (S, B, 1, k, k)
    return stacked[best, torch.arange(y.shape[0], device=y.device)]


def _masks_and_gradients(y, pad):
    h, w = y.shape[-2:]
    shape, top, left = pad.shape, pad.top, pad.left
    yp = torch.zeros(y.shape[0], 1, *shape, device=y.device, dtype=y.dtype)
    yp[..., top : top + h, left : left + w] = y
    bx, by = _grad(yp)
    mx = torch.zeros(1, 1, *shape, device=y.device, dtype=y.dtype)
    my = torch.zeros_like(mx)
    mx[..., top : top + h, left : left + w - 1] = 1
    my[..., top : top + h - 1, left : left + w] = 1
    return bx, by, mx, my


def _scale_step(
    y, k, lam_grad, lam_dark, patch, n_iter, reg, n_cg, threshold, min_component, lam_min
):
    # gradients of the observed image on its own region, masks where they are defined
    bx, by, mx, my = _masks_and_gradients(y, _fft.Padded(y, k, "replicate"))
    for _ in range(n_iter):
        pad = _fft.Padded(y, k, "replicate")
        s = _latent(pad, lam_grad, lam_dark, patch)
        sx, sy = _grad(s)
        k = _kernel_ls(sx, sy, bx, by, mx, my, k, reg, n_cg)
        k = _project(k, threshold, min_component)
        lam_grad = max(lam_grad / 1.1, lam_min)
        if lam_dark > 0:
            lam_dark = max(lam_dark / 1.1, lam_min)
    return k, lam_grad, lam_dark
