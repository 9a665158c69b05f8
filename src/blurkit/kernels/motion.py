"""Motion-blur PSFs: linear motion and random camera shake.

Why: while the shutter is open, the image of every scene point moves across
the sensor, so each pixel integrates the sharp image along the path of the
relative motion between camera and scene. The blur is then a convolution with
a PSF equal to the time spent at each position of that path: a uniform
line segment for constant-velocity linear motion (Gonzalez & Woods, *Digital
Image Processing*, 4th ed., Sec. 5.6), and a random curve for a hand-held
camera (Boracchi & Foi, "Modeling the performance of image restoration from
motion blur", IEEE TIP 21(8), 2012, doi:10.1109/TIP.2012.2192126).

Rasterisation (written here because no library offers it continuous and
differentiable in sub-pixel length, angle and trajectory points; kornia's
``get_motion_kernel2d`` rotates an integer-length line with nearest or
bilinear resampling): the kernel is the path convolved with the linear
B-spline (tent) pixel footprint, i.e. every point of the path is shared among
its four neighbouring pixels with bilinear weights. For a straight segment the
integral is computed exactly (the integrand is piecewise quadratic along the
segment; Simpson's rule on each piece), so the kernel depends on nothing but
length and angle. A trajectory is integrated with the midpoint rule, at least
8 sub-samples per pixel of kernel side, each splatted bilinearly. The tent
weights sum to one and preserve the first moment, so the kernel's mass and
centroid equal those of the path, and the kernel is continuous (piecewise
smooth) in every path coordinate, hence in length and angle.
The footprint adds a variance of 1/6 px^2 along each axis compared with
the ideal segment (a length-3 horizontal streak is ``[1, 7, 8, 7, 1] / 24``
rather than the box ``[1, 1, 1] / 3``).

Conventions: angles in degrees counter-clockwise from the image's x axis, with
y pointing up (:func:`~blurkit.kernels.kernel_grid`), so a streak rising to the
right has a positive angle. Linear motion with uniform exposure is centred
on its centroid.

Tiers: :func:`motion_kernel` builds PSFs, :func:`motion_blur` applies one per
image, :class:`MotionBlur` holds fixed settings; camera shake is sampled by
:func:`sample_shake_trajectory` and rasterised by :func:`trajectory_kernel`
(also usable as a differentiable, parametric kernel), composed in
:func:`camera_shake_kernel`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import (
    DTypeError,
    ParameterError,
    ShapeError,
    as_param,
    check_allocation,
    check_choice,
    check_finite,
    check_images,
    check_int,
    check_scalar,
    check_size,
    common_dtype,
    float_dtype,
)
from .._seeds import check_generators, make_generators
from ..functional import per_image as _per_image
from ..functional.conv import blur
from ._module import FixedBlur
from ._utils import _batch_of, _blur_checked, _reduce_angle, kernel_grid, odd_size
from .family import BlurFamily, Sampler, register_blur_family
from .registry import register_kernel

__all__ = [
    "motion_kernel",
    "motion_blur",
    "MotionBlur",
    "sample_shake_trajectory",
    "trajectory_kernel",
    "camera_shake_kernel",
]

# sub-samples of the path per pixel of kernel side: spacing <= 1/8 px along a straight path
_SAMPLES_PER_PIXEL = 8
_PROFILES = ("uniform", "imagenet-c")
#: the most time steps a shake trajectory may have (the reference uses 2000; each step is
#: one pass of a Python loop, so this also bounds the time a call can take)
MAX_SHAKE_STEPS = 100_000


def _splat(points: torch.Tensor, weights: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear splat of ``(B, N, 2)`` points ``(x, y-up)`` about the centre: ``(B, 1, k, k)``.

    Contributions falling outside the kernel are dropped. Not normalised.
    """
    b, n, _ = points.shape
    c = size // 2
    col = points[..., 0] + c
    row = c - points[..., 1]
    c0 = torch.floor(col.detach())
    r0 = torch.floor(row.detach())
    fc, fr = col - c0, row - r0
    rows = torch.cat([r0, r0, r0 + 1, r0 + 1], 1)
    cols = torch.cat([c0, c0 + 1, c0, c0 + 1], 1)
    w = torch.cat([(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc], 1)
    w = w * weights.repeat(1, 4)
    valid = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
    idx = (rows.clamp(0, size - 1) * size + cols.clamp(0, size - 1)).long()
    w = torch.where(valid, w, torch.zeros((), dtype=w.dtype, device=w.device))
    # the sum runs on the CPU whatever the device: CUDA's scatter_add adds in a varying
    # order (atomics), and thousands of splats per tap would make a kernel, and so a
    # seeded corruption, differ in its last bits from run to run (kernels are small)
    out = torch.zeros(b, size * size, dtype=w.dtype)
    out = out.scatter_add(1, idx.cpu(), w.cpu()).to(w.device)
    return out.reshape(b, 1, size, size)


def _normalise(k: torch.Tensor) -> torch.Tensor:
    return k / k.sum(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(k.dtype).tiny)


def _segment_kernel(length: torch.Tensor, rad: torch.Tensor, size: int) -> torch.Tensor:
    """Exact tent-footprint integral of centred segments, ``(B, 1, size, size)``, summing to 1.

    ``k(x, y) = (1 / L) * integral over t in [-L/2, L/2] of tent(x - t cos) * tent(y - t sin)``.
    Between the breakpoints where either tent argument crosses -1, 0 or 1 the integrand is a
    quadratic in t, so Simpson's rule on each piece is exact. Independent of ``size`` (beyond
    truncation), hence of the rest of the batch.
    """
    x, y = kernel_grid(size, device=length.device, dtype=length.dtype)
    x, y = x[None, ..., None], y[None, ..., None]  # (1, k, k, 1)
    c = torch.cos(rad)[:, None, None, None]
    s = torch.sin(rad)[:, None, None, None]
    h = (0.5 * length)[:, None, None, None]
    q = torch.tensor([-1.0, 0.0, 1.0], device=length.device, dtype=length.dtype)
    tiny = 1e-9

    def crossings(p: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        ok = d.abs() > tiny
        t = (p - q) / torch.where(ok, d, torch.ones_like(d))
        return torch.where(ok, t, h).clamp(-h, h)  # no crossing: a harmless end point

    n = length.shape[0]
    ends = torch.cat([-h, h], -1).expand(n, size, size, 2)
    br = torch.cat([ends, crossings(x, c), crossings(y, s)], -1).sort(-1).values  # (B,k,k,8)
    a, b = br[..., :-1], br[..., 1:]

    def f(t: torch.Tensor) -> torch.Tensor:
        return (1 - (x - t * c).abs()).clamp_min(0) * (1 - (y - t * s).abs()).clamp_min(0)

    integral = ((b - a) / 6 * (f(a) + 4 * f(0.5 * (a + b)) + f(b))).sum(-1)  # (B, k, k)
    point = f(torch.zeros_like(h)).squeeze(-1)  # the L -> 0 limit: tent at the centre
    lb = length[:, None, None]
    k = torch.where(lb > tiny, integral / lb.clamp_min(tiny), point)
    return k[:, None]


@register_kernel("motion")
def motion_kernel(
    length,
    angle,
    size: int | None = None,
    *,
    profile: str = "uniform",
    sigma=None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    r"""Linear-motion PSFs ``(B, 1, size, size)``, anti-aliased, sub-pixel in length and angle.

    Args:
        length: length of the motion path in pixels, scalar or ``(B,)``; ``0`` is
            the identity kernel. Differentiable.
        angle: direction in degrees counter-clockwise from the x axis (y up), scalar
            or ``(B,)``. Differentiable.
        size: odd kernel side; default just holds the longest streak of the batch
            (``2 * ceil(length / 2) + 1`` for ``"uniform"``, ``2 * ceil(length) + 1`` for
            ``"imagenet-c"``). Pass it to get the same kernels whatever the batch.
        profile: exposure along the path. ``"uniform"``: constant velocity, the segment
            ``[-length / 2, length / 2]`` centred on the centre pixel (its centroid).
            ``"imagenet-c"``: the one-sided profile of the ImageNet-C benchmark, point
            masses at distances ``i = 0, 1, ...`` from the centre pixel along ``angle``
            with weights ``exp(-i^2 / (2 sigma^2))``, up to ``i = length`` (the point past
            the last integer fades in linearly, so the kernel stays continuous in
            ``length``). This kernel is NOT centred on its centroid: the heaviest weight
            sits on the centre pixel and the streak trails to one side, as in the
            benchmark. ImageNet-C's ``_motion_blur(x, radius, sigma, angle=a)`` equals
            ``length = 2 * radius`` and ``angle = 180 - a`` here (exactly at multiples of
            90 degrees; elsewhere the benchmark rounds each shift to whole pixels where
            this kernel splats it bilinearly).
        sigma: spread of the ``"imagenet-c"`` profile in pixels, scalar or ``(B,)``;
            required there and rejected for ``"uniform"``.
        device, dtype: of the result when the parameters are Python numbers.

    Returns:
        Non-negative kernels summing to 1.

    Example:
        >>> k = motion_kernel(3.0, 0.0)
        >>> (k[0, 0, 2] * 24).round().tolist()  # horizontal, tent-footprint anti-aliasing
        [1.0, 7.0, 8.0, 7.0, 1.0]
        >>> k = motion_kernel(torch.tensor([4.0, 9.5]), torch.tensor([45.0, 30.0]))
        >>> k.shape
        torch.Size([2, 1, 11, 11])
        >>> bool(k[0, 0, 3, 7] > 0) and bool(k[0, 0, 7, 3] > 0) and float(k[0, 0, 3, 3]) == 0.0
        True
    """
    check_choice(profile, "profile", _PROFILES)
    size = None if size is None else check_size(size)
    if device is None:
        device = next((v.device for v in (length, angle) if isinstance(v, torch.Tensor)), None)
    dtype = common_dtype(length, angle, sigma, dtype=dtype)
    ln = as_param(length, "length", device=device, dtype=dtype, low=0.0)
    th = as_param(angle, "angle", device=ln.device, dtype=ln.dtype)
    b = _batch_of(ln.shape[0], th.shape[0])
    ln, th = as_param(ln, "length", b, dtype=ln.dtype), as_param(th, "angle", b, dtype=ln.dtype)
    rad = torch.deg2rad(_reduce_angle(th))
    direction = torch.stack([torch.cos(rad), torch.sin(rad)], -1)[:, None, :]  # (B, 1, 2)
    lmax = float(ln.detach().max()) if b else 0.0
    if profile == "uniform":
        if sigma is not None:
            raise ParameterError(
                "sigma: only used by profile='imagenet-c'; got a value with 'uniform'"
            )
        if size is None:
            size = odd_size(lmax / 2, "length")
        check_allocation("length", (b, size, size, 8), itemsize=ln.element_size())
        return _normalise(_segment_kernel(ln, rad, size))
    else:
        if sigma is None:
            raise ParameterError(
                "sigma: required for profile='imagenet-c' (e.g. 3.0 at severity 1)"
            )
        sg = as_param(
            sigma, "sigma", b, device=ln.device, dtype=ln.dtype, low=0.0, low_inclusive=False
        ).clamp_min(1e-6)  # below, sigma^2 underflows (0 / 0 at the centre); weights unchanged
        if size is None:
            size = odd_size(lmax, "length")
        # points farther than the kernel's side from its centre all fall outside it (and
        # their weight is dropped by the splat), so the streak is cut there
        m = int(math.ceil(min(lmax, size + 1)))
        check_allocation("length", (b, m + 1, 4), itemsize=ln.element_size())
        i = torch.arange(m + 1, device=ln.device, dtype=ln.dtype)  # (M+1,)
        points = i[None, :, None] * direction
        fade = (ln[:, None] - i[None, :] + 1).clamp(0, 1)
        weights = torch.exp(-(i[None, :] ** 2) / (2 * sg[:, None] ** 2)) * fade
    return _normalise(_splat(points, weights, size))


def motion_blur(
    images: torch.Tensor,
    length,
    angle,
    size: int | None = None,
    *,
    profile: str = "uniform",
    sigma=None,
    boundary: str = "reflect",
    method: str = "auto",
) -> torch.Tensor:
    """Blur each image by linear motion of its own length and angle.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1].
        length: motion length in pixels, scalar or ``(B,)``. Differentiable.
        angle: degrees counter-clockwise from the x axis, scalar or ``(B,)``. Differentiable.
        size, profile, sigma: as in :func:`motion_kernel`.
        boundary, method: as in :func:`blurkit.blur`.

    Example:
        >>> x = torch.zeros(1, 1, 9, 9); x[0, 0, 4, 4] = 1.0
        >>> y = motion_blur(x, 4.0, 90.0)  # a point becomes a vertical streak
        >>> bool(y[0, 0, :, 4].sum() > 0.99)
        True
    """
    x, single = check_images(images)
    k = motion_kernel(
        as_param(length, "length", x.shape[0], device=x.device, dtype=x.dtype, low=0.0),
        as_param(angle, "angle", x.shape[0], device=x.device, dtype=x.dtype),
        size,
        profile=profile,
        sigma=sigma,
    )
    return _blur_checked(x, single, k, boundary, method)


class MotionBlur(FixedBlur):
    """Module form of :func:`motion_blur` with fixed length and angle.

    Example:
        >>> MotionBlur(7.5, 30.0)(torch.rand(2, 3, 16, 16)).shape
        torch.Size([2, 3, 16, 16])
    """

    blur = staticmethod(motion_blur)
    shown = ("length", "angle", "profile", "sigma")

    def __init__(
        self,
        length: float,
        angle: float,
        size: int | None = None,
        *,
        profile: str = "uniform",
        sigma: float | None = None,
        boundary: str = "reflect",
        method: str = "auto",
    ) -> None:
        super().__init__(
            length=check_scalar(length, "length", low=0.0),
            angle=check_scalar(angle, "angle"),
            size=None if size is None else check_size(size),
            profile=check_choice(profile, "profile", _PROFILES),
            sigma=None
            if sigma is None
            else check_scalar(sigma, "sigma", low=0.0, low_inclusive=False),
            boundary=boundary,
            method=method,
        )


# --------------------------------------------------------------------------- camera shake


def _generators(generator, seed, batch: int) -> list[torch.Generator | None]:
    """One generator shared by the batch (``[g]``) or one per image (the seed rule of
    :mod:`blurkit._seeds`)."""
    if generator is not None and seed is not None:
        raise ParameterError("seed: give either generator or seed, not both")
    if seed is not None:
        return make_generators(seed, batch)
    return check_generators(generator, batch)


def _draw(gens, batch: int, fn, *shape: int) -> torch.Tensor:
    """``fn`` (torch.rand / randn), shape ``(batch, *shape)``, float64, drawn on the generators'
    device and returned on the CPU; with one generator per image, image ``i`` draws from
    generator ``i`` alone."""
    if len(gens) == 1:
        g = gens[0]
        dev = g.device if g is not None else None
        return fn((batch, *shape), generator=g, device=dev, dtype=torch.float64).cpu()
    return torch.cat(
        [fn((1, *shape), generator=g, device=g.device, dtype=torch.float64).cpu() for g in gens]
    )


def sample_shake_trajectory(
    batch: int = 1,
    length=15.0,
    *,
    anxiety=None,
    exposure: float = 1.0,
    steps: int = 2000,
    generator=None,
    seed: int | None = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    r"""Random hand-shake trajectories ``(B, T, 2)``, points ``(x, y-up)`` equal time apart.

    The random-walk model of Boracchi & Foi (IEEE TIP 2012, Sec. II, and their
    ``createTrajectory`` code): a particle moves at constant speed
    (``length / (steps - 1)`` per step, so the full path is ``length`` pixels long);
    at each step its velocity receives a Gaussian random acceleration, a
    centripetal pull back towards the start, and with probability
    ``freq_big_shakes * anxiety`` an impulsive jerk that turns it roughly around
    (an abrupt hand movement). Per trajectory, as in the reference code, the
    initial direction is uniform, the centripetal term ``U(0, 0.7)``, the Gaussian
    term ``U(0, 10)`` and the jerk frequency ``U(0, 0.2)``. The random numbers
    come from ``generator`` in a fixed order (not the reference's MATLAB stream).

    Args:
        batch: number of trajectories.
        length: path length over the full exposure in pixels, scalar or ``(B,)``
            (the reference's ``MaxTotalLength``, default 60 there for 64 px PSFs).
        anxiety: in ``[0, 1]``, scalar or ``(B,)``; how shaky the hand is (default:
            ``U(0, 0.1)`` per trajectory, as in the reference).
        exposure: fraction of the trajectory the shutter sees, in ``(0, 1]``
            (the reference's ``T``): the returned path covers times
            ``[0, exposure]``, resampled to equal time steps.
        steps: time steps of the full trajectory (2000 in the reference; the
            trajectory's curliness depends on it).
        generator: a ``torch.Generator`` or one per trajectory (then trajectory
            ``i`` depends on generator ``i`` only). ``None`` uses torch's global RNG.
        seed: an int, shorthand for ``generator=torch.Generator().manual_seed(seed)``, or
            one per trajectory (the seed rule of :mod:`blurkit._seeds`).
        device, dtype: of the result (it is computed in float64 on the CPU).

    Example:
        >>> t = sample_shake_trajectory(2, 20.0, seed=0)
        >>> t.shape, bool(torch.equal(t, sample_shake_trajectory(2, 20.0, seed=0)))
        (torch.Size([2, 2000, 2]), True)
        >>> round(float((t[0, 1:] - t[0, :-1]).norm(dim=-1).sum()), 3)  # path length
        20.0
    """
    batch = check_int(batch, "batch", low=0)
    steps = check_int(steps, "steps", low=2, high=MAX_SHAKE_STEPS)
    check_allocation("batch", (batch, steps, 2), itemsize=8)  # the path, float64
    exposure = check_scalar(exposure, "exposure", low=0.0, high=1.0, low_inclusive=False)
    gens = _generators(generator, seed, batch)
    ln = (
        as_param(length, "length", batch, device="cpu", dtype=torch.float64, low=0.0).numpy().copy()
    )
    n = steps - 1
    # fixed draw order, one block per quantity
    u = _draw(gens, batch, torch.rand, 5).numpy()
    noise = _draw(gens, batch, torch.randn, n, 2).numpy()
    jerk_u = _draw(gens, batch, torch.rand, n).numpy()
    jerk_phi = _draw(gens, batch, torch.rand, n).numpy()
    if anxiety is None:
        anx = 0.1 * u[:, 0]
    else:
        anx = as_param(
            anxiety, "anxiety", batch, device="cpu", dtype=torch.float64, low=0.0, high=1.0
        ).numpy()
    centripetal, gauss_term, freq_big = 0.7 * u[:, 1], 10.0 * u[:, 2], 0.2 * u[:, 3]
    phi0 = 2 * math.pi * u[:, 4]
    step = ln / n
    speed0 = np.where(anx > 0, anx, step)
    vx, vy = np.cos(phi0) * speed0, np.sin(phi0) * speed0
    px, py = np.zeros(batch), np.zeros(batch)
    path = np.zeros((steps, 2, batch))
    turn = math.pi + (jerk_phi - 0.5)
    # jerk: the velocity doubled and turned by ~180 degrees, only where a jerk happens
    jc = np.where((freq_big * anx)[:, None] > jerk_u, 2 * np.cos(turn), 0.0).T.copy()
    js = np.where((freq_big * anx)[:, None] > jerk_u, 2 * np.sin(turn), 0.0).T.copy()
    gx = (anx * gauss_term * step)[None, :] * noise[:, :, 0].T
    gy = (anx * gauss_term * step)[None, :] * noise[:, :, 1].T
    a_centre = anx * centripetal * step
    for t in range(n):
        vx, vy = (
            vx + vx * jc[t] - vy * js[t] + gx[t] - a_centre * px,
            vy + vx * js[t] + vy * jc[t] + gy[t] - a_centre * py,
        )
        norm = np.hypot(vx, vy)
        scale = np.divide(step, norm, out=np.zeros_like(norm), where=norm > 0)
        vx, vy = np.where(norm > 0, vx * scale, step), vy * scale
        px, py = px + vx, py + vy
        path[t + 1, 0], path[t + 1, 1] = px, py
    path = path.transpose(2, 0, 1)
    traj = torch.from_numpy(path)
    if exposure < 1.0:
        end = exposure * n
        m = max(2, math.ceil(end) + 1)
        tt = torch.linspace(0.0, end, m, dtype=torch.float64)
        i0 = tt.floor().long().clamp(max=n - 1)
        f = (tt - i0)[None, :, None]
        traj = traj[:, i0] * (1 - f) + traj[:, i0 + 1] * f
    return traj.to(device=device, dtype=float_dtype(dtype))


def trajectory_kernel(
    trajectory: torch.Tensor,
    size: int | None = None,
    *,
    subsamples: int | None = None,
    center: bool = True,
) -> torch.Tensor:
    """Rasterise motion trajectories into PSFs ``(B, 1, size, size)``.

    The camera is assumed to spend equal time between consecutive points, moving
    in a straight line between them; the PSF is the time integral of the
    piecewise-linear path, bilinearly splatted (module docstring). Differentiable
    with respect to the points, so a trajectory is also a parametric kernel an
    adversary can optimise.

    Args:
        trajectory: ``(B, T, 2)`` or ``(T, 2)`` points ``(x, y-up)`` in pixels, ``T >= 1``.
        size: odd kernel side; default holds the longest centred path of the batch.
        subsamples: sub-samples per segment; default ``ceil(8 * size / (T - 1))``.
        center: translate each path so the PSF's centroid is the centre pixel
            (the tensor contract); ``False`` keeps the origin on the centre pixel.

    Example:
        >>> line = torch.tensor([[-1.5, 0.0], [1.5, 0.0]])
        >>> torch.allclose(trajectory_kernel(line), motion_kernel(3.0, 0.0), atol=1e-3)
        True
    """
    if not isinstance(trajectory, torch.Tensor):
        raise DTypeError(
            f"trajectory: expected a (B, T, 2) tensor, got {type(trajectory).__name__}"
        )
    p = trajectory[None] if trajectory.ndim == 2 else trajectory
    if p.ndim != 3 or p.shape[-1] != 2 or p.shape[1] < 1:
        raise ShapeError(
            "trajectory: expected shape (B, T, 2) or (T, 2) with T >= 1, "
            f"got {tuple(trajectory.shape)}"
        )
    if not p.dtype.is_floating_point:
        p = p.to(torch.float32)
    if p.device.type == "cpu" and not p.requires_grad:  # the parameter rule of as_param
        check_finite(p, "trajectory")
    size = None if size is None else check_size(size)
    b, t = p.shape[:2]
    if center:
        # centroid of a uniform-time piecewise-linear path: mean of the segment midpoints
        c = (
            p.mean(1, keepdim=True)
            if t == 1
            else (0.5 * (p[:, 1:] + p[:, :-1])).mean(1, keepdim=True)
        )
        p = p - c
    if size is None:
        # a sub-sample never lies beyond the farthest vertex; one there exactly puts
        # zero weight on the pixel past it, so ceil is enough
        extent = float(p.detach().abs().max()) if p.numel() else 0.0
        size = odd_size(extent, "trajectory")
    if t == 1:
        mids = p
    else:
        s = (
            subsamples
            if subsamples is not None
            else max(1, math.ceil(_SAMPLES_PER_PIXEL * size / (t - 1)))
        )
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise ParameterError(f"subsamples: expected a positive int, got {subsamples!r}")
        # the four bilinear taps of every sub-sample
        check_allocation("subsamples", (b, (t - 1) * s, 4), itemsize=8)
        f = (torch.arange(s, device=p.device, dtype=p.dtype) + 0.5) / s  # (S,)
        a, d = p[:, :-1, None, :], (p[:, 1:] - p[:, :-1])[:, :, None, :]
        mids = (a + f[None, None, :, None] * d).reshape(b, (t - 1) * s, 2)
    w = torch.ones(mids.shape[:2], device=p.device, dtype=p.dtype)
    return _normalise(_splat(mids, w, size))


@register_kernel("camera_shake")
def camera_shake_kernel(
    batch: int = 1,
    length=15.0,
    *,
    anxiety=None,
    exposure: float = 1.0,
    steps: int = 2000,
    size: int | None = None,
    generator=None,
    seed: int | None = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """Random camera-shake PSFs ``(B, 1, size, size)``, centred on their centroid.

    :func:`sample_shake_trajectory` (Boracchi & Foi 2012 random walk) rasterised by
    :func:`trajectory_kernel`; the same seed gives the same kernels.

    Example:
        >>> k = camera_shake_kernel(2, 12.0, seed=1)
        >>> k.shape[:2], bool(torch.equal(k, camera_shake_kernel(2, 12.0, seed=1)))
        (torch.Size([2, 1]), True)
    """
    traj = sample_shake_trajectory(
        batch,
        length,
        anxiety=anxiety,
        exposure=exposure,
        steps=steps,
        generator=generator,
        seed=seed,
        # rasterised in float32 (as always), or in float64 when that is asked for, so that
        # a float64 kernel sums to 1 to float64 precision
        dtype=torch.float64 if float_dtype(dtype) == torch.float64 else torch.float32,
    )
    return trajectory_kernel(traj, size).to(device=device, dtype=float_dtype(dtype))


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
    if not _per_image.loop_is_faster(images):
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
    return _per_image.each_image(
        images, lambda b, img: _per_image.sparse_conv(img, taps[b], hy[b], hx[b], boundary)
    )


def _prepare_motion(batch, gen, device, dtype) -> dict:
    """Critical blur's per-image angle, uniform in [0, 180) degrees, fixed during a search."""
    angle = torch.rand(batch, generator=gen, dtype=torch.float64) * 180.0
    return {"angle": angle.to(device=device, dtype=dtype)}


def _sampled_motion(images: torch.Tensor, params: dict, boundary: str) -> torch.Tensor:
    return motion_per_image(images, params["length"], params["angle"], boundary=boundary)


register_blur_family(
    BlurFamily(
        "motion",
        lambda x, s, ctx: motion_blur(x, s, ctx["angle"]),
        0.5,
        lambda h, w: min(h, w) / 2,
        "length (px)",
        _prepare_motion,
        description="linear motion blur, strength = streak length in pixels; "
        "one angle per image drawn uniformly in [0, 180) degrees (or given as angle=)",
        strength="length",
        kernel=motion_kernel,
        # an augmentation draws the angle over the full circle
        sampler=Sampler(
            (1.0, 6.0),
            _sampled_motion,
            extra=("angle",),
            draw_extra=lambda uniform: {"angle": -180.0 + 360.0 * uniform()},
        ),
        estimable=True,
        corruption="motion_blur",
        order=2,
    )
)
