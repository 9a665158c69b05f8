"""Fourier-domain operators on kernels: transfer functions, the kernel window of a
correlation, and least-squares kernel solvers.

The blur engine (:mod:`blurkit.functional.conv`) convolves; these are the pieces that
go the other way, from images to a kernel: the non-blind deconvolutions and the
free-form blind estimator (:mod:`blurkit.defenses.deblur`) and the PSF fit
(:func:`blurkit.measure.fit_psf`) all solve for kernels with them, which is why they
live below both. All are circular (FFT) operators on ``(..., H, W)`` grids with kernels
centred at ``k // 2``; written here because neither torch nor kornia has a kernel
least-squares solver.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._checks import ShapeError

__all__ = [
    "otf",
    "psf_window",
    "forward_differences",
    "kernel_least_squares",
    "nonnegative_kernel_least_squares",
]


def otf(k: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Transfer function (``rfft2``) of kernels centred at ``k // 2`` on a ``shape`` grid."""
    kh, kw = k.shape[-2:]
    nh, nw = shape
    if kh > nh or kw > nw:
        raise ShapeError(f"kernels: {kh}x{kw} is larger than the padded image {nh}x{nw}")
    kp = F.pad(k, (0, nw - kw, 0, nh - kh))
    kp = torch.roll(kp, shifts=(-(kh // 2), -(kw // 2)), dims=(-2, -1))
    return torch.fft.rfft2(kp)


def psf_window(G: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """The ``kh x kw`` kernel-box window of a full-grid correlation, centre at ``k // 2``."""
    G = torch.roll(G, shifts=(kh // 2, kw // 2), dims=(-2, -1))
    return G[..., :kh, :kw]


def forward_differences(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Circular forward differences ``s[i+1] - s[i]`` along x and along y."""
    return torch.roll(s, -1, -1) - s, torch.roll(s, -1, -2) - s


def kernel_least_squares(
    sx: torch.Tensor,
    sy: torch.Tensor,
    bx: torch.Tensor,
    by: torch.Tensor,
    mx: torch.Tensor,
    my: torch.Tensor,
    k0: torch.Tensor,
    reg: float,
    iters: int,
) -> torch.Tensor:
    """Conjugate gradients on ``sum_d ||M_d (s_d * k - b_d)||^2 + reg ||k||^2`` over the
    kernel box of ``k0`` (the start), ``d`` over the two gradient directions."""
    shape = tuple(sx.shape[-2:])
    kh, kw = k0.shape[-2:]
    Sx, Sy = torch.fft.rfft2(sx), torch.fft.rfft2(sy)

    def adjoint(rx: torch.Tensor, ry: torch.Tensor) -> torch.Tensor:
        G = Sx.conj() * torch.fft.rfft2(rx) + Sy.conj() * torch.fft.rfft2(ry)
        return psf_window(torch.fft.irfft2(G, s=shape), kh, kw)

    def apply(k: torch.Tensor) -> torch.Tensor:
        Kf = otf(k, shape)
        rx = mx * torch.fft.irfft2(Sx * Kf, s=shape)
        ry = my * torch.fft.irfft2(Sy * Kf, s=shape)
        return adjoint(rx, ry) + reg * k

    def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).flatten(1).sum(1)[:, None, None, None]

    rhs = adjoint(mx * bx, my * by)
    k = k0.clone()
    r = rhs - apply(k)
    p = r.clone()
    rr = dot(r, r)
    tiny = torch.finfo(k.dtype).tiny
    for _ in range(iters):
        ap = apply(p)
        alpha = rr / dot(p, ap).clamp_min(tiny)
        k = k + alpha * p
        r = r - alpha * ap
        rr_new = dot(r, r)
        p = r + (rr_new / rr.clamp_min(tiny)) * p
        rr = rr_new
    return k


def nonnegative_kernel_least_squares(
    sx: torch.Tensor,
    sy: torch.Tensor,
    bx: torch.Tensor,
    by: torch.Tensor,
    mask: torch.Tensor,
    k0: torch.Tensor,
    reg: float,
    iters: int = 400,
    tol: float = 1e-7,
) -> torch.Tensor:
    """The problem of :func:`kernel_least_squares` (one mask for both directions) with
    ``k >= 0`` as a constraint, by accelerated projected gradients (FISTA) from ``k0``
    clipped at 0.

    The unconstrained solution explains a real capture almost exactly but oscillates
    around zero; clipping it afterwards throws most of that away (on Levin's
    im01_ker01: 49.7 dB unclipped, 29.2 dB clipped, 47.7 dB by this solve). The step is
    ``1 / L`` with ``L`` the largest eigenvalue of the normal operator, bounded by the
    largest ``|S_x|^2 + |S_y|^2`` over frequencies (the mask only shrinks it). Stops when
    a step moves the kernel by less than ``tol`` of its norm.
    """
    shape = tuple(sx.shape[-2:])
    kh, kw = k0.shape[-2:]
    Sx, Sy = torch.fft.rfft2(sx), torch.fft.rfft2(sy)
    lip = float((Sx.abs().square() + Sy.abs().square()).max()) + reg

    def grad(k: torch.Tensor) -> torch.Tensor:
        Kf = otf(k, shape)
        rx = mask * (torch.fft.irfft2(Sx * Kf, s=shape) - bx)
        ry = mask * (torch.fft.irfft2(Sy * Kf, s=shape) - by)
        G = Sx.conj() * torch.fft.rfft2(rx) + Sy.conj() * torch.fft.rfft2(ry)
        return psf_window(torch.fft.irfft2(G, s=shape), kh, kw) + reg * k

    k = k0.clamp_min(0)
    z, t = k.clone(), 1.0
    for _ in range(iters):
        k_next = (z - grad(z) / lip).clamp_min(0)
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        step = k_next - k
        z = k_next + ((t - 1.0) / t_next) * step
        k, t = k_next, t_next
        if float(step.norm()) <= tol * float(k.norm()):
            break
    return k
