"""Adversarial blur: the worst blur kernel an adversary can find under a fidelity budget.

The adversary picks, for each image, a blur kernel that maximises the
classifier's loss while the blurred image stays close to the clean one:
``SSIM(clean, blurred) >= tau`` (the fidelity budget) and the kernel lives in a
disk of ``support_radius`` pixels. Three kernel spaces:

- ``"freeform"``: any PSF on the probability simplex (non-negative, summing to
  one) inside the disk, the most powerful blur of that support;
- ``"motion"``: a camera-shake trajectory of ``points`` vertices rasterised by
  :func:`blurkit.kernels.trajectory_kernel` (ABBA, Guo et al., NeurIPS 2020,
  attacks with motion blur the same way);
- ``"zernike"``: the PSF of a pupil with Zernike aberrations
  (:func:`blurkit.kernels.zernike_psf`), i.e. the blur of a real, imperfect lens or eye.

Optimisation. Projected gradient ascent on the margin loss ``max(other logits) -
logit[label]`` (or cross-entropy). Each step moves the kernel parameters along
their per-sample normalised gradient, projects them onto their set (for the
free-form kernel the exact Euclidean projection onto the simplex restricted to
the support, Duchi et al., ICML 2008, doi:10.1145/1390156.1390191), then
*retracts* every sample onto the SSIM budget: it bisects on ``alpha`` in
``[0, 1]`` for the largest blend ``(1 - alpha) * identity + alpha * kernel`` (for
the parametric spaces: parameters scaled by ``alpha`` toward the identity
blur) whose SSIM is at least ``tau``. The retraction costs blurs and SSIMs, no
model passes, and keeps every iterate feasible, so there is no penalty weight
to tune and every flip seen during the search is a valid success. A final
check re-blurs with the kept kernel and re-classifies: success is reported
only when the prediction differs from the label *and* the SSIM budget holds.

The baseline the attack is compared with, :func:`fixed_family_at_budget`, blurs
each image with one fixed family (Gaussian, defocus, motion) at strengths up to
the one that reaches the same SSIM, searched per image.

Written here because no library optimises blur kernels under an SSIM budget:
Foolbox's blur attack searches a Gaussian sigma only, and torchattacks and
ART perturb pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import ParameterError, check_choice, check_image, check_scalar
from .._seeds import make_generator
from ..functional.conv import blur
from ..kernels.family import blur_families
from ..kernels.motion import trajectory_kernel
from ..kernels.optics import zernike_psf
from ..measure.full_reference import psnr as _psnr
from ..measure.full_reference import ssim as _ssim
from ._per_image import (
    _batches,
    _check_labels,
    _context,
    _EvalMode,
    _model_device,
    _slice_ctx,
    classification_margin,
)
from .families import get_family

__all__ = [
    "AttackResult",
    "blur_attack",
    "project_simplex",
    "fixed_family_at_budget",
    "attack_success_curve",
    "KERNEL_SPACES",
]

KERNEL_SPACES = ("freeform", "motion", "zernike")


def project_simplex(v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Euclidean projection of each row of ``v`` ``(B, N)`` onto the probability simplex.

    With a boolean ``mask`` ``(N,)`` or ``(B, N)``, entries outside it are held at 0 and
    the rest projected onto the simplex (the projection onto that face). Sort-based
    algorithm of Duchi et al. (ICML 2008), ``O(N log N)`` per row, exact.

    Example:
        >>> project_simplex(torch.tensor([[0.5, 0.5, 0.5], [2.0, 0.0, -1.0]]))
        tensor([[0.3333, 0.3333, 0.3333],
                [1.0000, 0.0000, 0.0000]])
    """
    if v.ndim != 2:
        raise ParameterError(f"v: expected shape (B, N), got {tuple(v.shape)}")
    w = v
    if mask is not None:
        w = v.masked_fill(~mask.expand_as(v), -1e30)
    u = w.sort(dim=1, descending=True).values
    css = u.cumsum(1) - 1
    j = torch.arange(1, v.shape[1] + 1, device=v.device, dtype=v.dtype)
    cond = (u - css / j) > 0
    rho = cond.to(v.dtype).cumsum(1).argmax(1, keepdim=True)  # last True (cond is monotone)
    theta = css.gather(1, rho) / (rho + 1).to(v.dtype)
    out = (w - theta).clamp_min(0)
    return out


# --------------------------------------------------------------------------- kernel spaces


class _Space:
    """A kernel parameterisation: init, kernel, projection, shrink toward the identity."""

    def __init__(self, b, radius, device, dtype, gen):
        self.b, self.r, self.k = b, radius, 2 * radius + 1
        self.device, self.dtype = device, dtype

    def identity(self) -> torch.Tensor:
        d = torch.zeros(self.b, 1, self.k, self.k, device=self.device, dtype=self.dtype)
        d[:, :, self.r, self.r] = 1
        return d


class _Freeform(_Space):
    def __init__(self, b, radius, device, dtype, gen, **kw):
        super().__init__(b, radius, device, dtype, gen)
        ys, xs = torch.meshgrid(
            torch.arange(self.k, device=device) - radius,
            torch.arange(self.k, device=device) - radius,
            indexing="ij",
        )
        self.mask = ((xs**2 + ys**2) <= radius**2 + 1e-9).flatten()

    def init(self):
        # the uniform disk: the blurriest kernel of the support; the retraction then
        # blends it with the identity down to the budget, so the search starts on it
        m = self.mask.to(self.dtype)
        return (m / m.sum()).expand(self.b, -1).clone()

    def kernel(self, p):
        return p.reshape(-1, 1, self.k, self.k)

    def project(self, p):
        return project_simplex(p, self.mask)

    def shrink(self, p, alpha):
        d = self.identity().reshape(self.b, -1)[: p.shape[0]]
        return (1 - alpha[:, None]) * d + alpha[:, None] * p


class _Motion(_Space):
    def __init__(self, b, radius, device, dtype, gen, points=8, **kw):
        super().__init__(b, radius, device, dtype, gen)
        self.t = points
        # a straight path across the support at a random angle; the retraction
        # shortens it to the budget
        ang = torch.rand(b, generator=gen, dtype=torch.float64) * math.pi
        d = torch.stack([ang.cos(), ang.sin()], -1).to(device=device, dtype=dtype)
        s = torch.linspace(-1.0, 1.0, points, device=device, dtype=dtype) * (radius - 0.5)
        self.p0 = s[None, :, None] * d[:, None, :]

    def init(self):
        return self.p0.clone()

    def kernel(self, p):
        return trajectory_kernel(p, self.k, center=True)

    def project(self, p):
        c = p.mean(1, keepdim=True)
        q = p - c
        n = q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return q * (self.r - 0.5 - 1e-3) / n.clamp_min(self.r - 0.5 - 1e-3)

    def shrink(self, p, alpha):
        return p * alpha[:, None, None]


class _Zernike(_Space):
    # ANSI / OSA indices: astigmatism, defocus, astigmatism, trefoil, coma, coma, trefoil
    # and the fourth order (spherical at 12); piston and tilts are left out (a tilt only
    # translates the image)
    MODES = (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)

    def __init__(self, b, radius, device, dtype, gen, modes=None, options=None, **kw):
        super().__init__(b, radius, device, dtype, gen)
        self.modes = tuple(int(m) for m in (modes if modes is not None else self.MODES))
        self.options = dict(options or {})
        self.j = max(self.modes) + 1
        c0 = torch.randn(b, len(self.modes), generator=gen, dtype=torch.float64)
        # 0.5 micrometre RMS of aberration: far beyond any budget, the retraction scales it
        self.c0 = (0.5 * c0 / c0.norm(dim=1, keepdim=True)).to(device=device, dtype=dtype)

    def init(self):
        return self.c0.clone()

    def kernel(self, c):
        full = torch.zeros(c.shape[0], self.j, device=c.device, dtype=c.dtype)
        full = full.index_copy(1, torch.tensor(self.modes, device=c.device), c)
        return zernike_psf(full, size=self.k, **self.options)

    def project(self, c):
        return c

    def shrink(self, c, alpha):
        return c * alpha[:, None]


_SPACES = {"freeform": _Freeform, "motion": _Motion, "zernike": _Zernike}

# --------------------------------------------------------------------------- result


@dataclass
class AttackResult:
    """Per-image outcome of :func:`blur_attack` (tensors on the CPU).

    Attributes:
        kernel_space, ssim_budget, support_radius: the attack's settings.
        kernels: ``(N, 1, k, k)`` the kept kernel (the first feasible flipping one, or
            the last iterate when none flipped).
        success: the final check passed: prediction differs from the label and
            ``ssim >= ssim_budget``. Always ``False`` for images misclassified when clean.
        correct: the clean prediction equals the label.
        ssim, psnr: fidelity of the blurred image kept (``(N,)``).
        pred: prediction on it; ``labels``: the labels attacked.
        steps: gradient steps until success (``steps`` budget + 1 when never).
    """

    kernel_space: str
    ssim_budget: float | None
    support_radius: int
    kernels: torch.Tensor
    success: torch.Tensor
    correct: torch.Tensor
    ssim: torch.Tensor
    psnr: torch.Tensor
    pred: torch.Tensor
    labels: torch.Tensor
    steps: torch.Tensor

    def __len__(self) -> int:
        return int(self.success.shape[0])

    @property
    def success_rate(self) -> float:
        """Fraction of the correctly classified images whose prediction the attack flipped."""
        nc = int(self.correct.sum())
        return float(self.success[self.correct].sum()) / nc if nc else math.nan

    def summary(self) -> dict:
        c = self.correct
        ok = self.success
        return {
            "kernel": self.kernel_space,
            "ssim_budget": self.ssim_budget,
            "support_radius": self.support_radius,
            "images": len(self),
            "correct": int(c.sum()),
            "success": int(ok.sum()),
            "success_rate": self.success_rate,
            "ssim_median_success": float(self.ssim[ok].median()) if bool(ok.any()) else math.nan,
            "psnr_median_success": float(self.psnr[ok].median()) if bool(ok.any()) else math.nan,
        }

    def rows(self) -> list[dict]:
        cols = {
            "label": self.labels, "correct": self.correct, "success": self.success,
            "pred": self.pred, "ssim": self.ssim, "psnr": self.psnr, "steps": self.steps,
        }  # fmt: skip
        lists = {k: v.tolist() for k, v in cols.items()}
        return [
            {"index": i, "kernel": self.kernel_space, "ssim_budget": self.ssim_budget}
            | {k: lists[k][i] for k in cols}
            for i in range(len(self))
        ]


# --------------------------------------------------------------------------- attack


def _loss(logits, labels, kind):
    if kind == "ce":
        return F.cross_entropy(logits, labels, reduction="none")
    return -classification_margin(logits, labels)


def _retract(space, x, p, tau, iters, boundary):
    """Per sample, the largest alpha in [0, 1] (to 2^-iters) with SSIM(x, blur(shrink(p, alpha))) >= tau."""
    b = x.shape[0]
    with torch.no_grad():
        s1 = _ssim(x, blur(x, space.kernel(p), boundary))
        ok = s1 >= tau
        lo = torch.zeros(b, device=x.device, dtype=x.dtype)
        hi = torch.ones(b, device=x.device, dtype=x.dtype)
        idx = (~ok).nonzero()[:, 0]
        if idx.numel():
            xi, pi = x[idx], p[idx]
            l, h = lo[idx], hi[idx]
            for _ in range(iters):
                m = (l + h) / 2
                sm = _ssim(xi, blur(xi, space.kernel(space.shrink(pi, m)), boundary))
                good = sm >= tau
                l, h = torch.where(good, m, l), torch.where(good, h, m)
            alpha = torch.ones(b, device=x.device, dtype=x.dtype)
            alpha[idx] = l
            p = torch.where(ok.reshape(-1, *([1] * (p.ndim - 1))), p, space.shrink(p, alpha))
    return p


def _attack_batch(model, x, y, space, tau, steps, lr, loss_kind, retract_iters, boundary):
    b = x.shape[0]
    with torch.no_grad():
        pred0 = model(x).argmax(1)
    correct = pred0 == y
    p = space.init()
    if tau is not None:
        p = _retract(space, x, space.project(p), tau, retract_iters, boundary)
    kept = space.kernel(p).detach().clone()
    success = torch.zeros(b, dtype=torch.bool, device=x.device)
    steps_to = torch.full((b,), steps + 1, dtype=torch.long, device=x.device)
    shape1 = (-1,) + (1,) * (p.ndim - 1)
    for step in range(steps + 1):
        live = correct & ~success
        idx = live.nonzero()[:, 0]
        if idx.numel() == 0:
            break
        pi = p[idx].detach().requires_grad_(True)
        k = space.kernel(pi)
        xb = blur(x[idx], k, boundary)
        logits = model(xb)
        fl = logits.argmax(1) != y[idx]
        # iterates are feasible by construction (retraction); the final check re-verifies
        newly = fl
        if bool(newly.any()):
            nid = idx[newly]
            kept[nid] = k.detach()[newly]
            success[nid] = True
            steps_to[nid] = step
        if step == steps:
            kept[idx[~fl]] = k.detach()[~fl]
            break
        loss = _loss(logits, y[idx], loss_kind)
        (g,) = torch.autograd.grad(loss.sum(), pi)
        g = g / g.flatten(1).norm(dim=1).clamp_min(1e-20).reshape(shape1)
        # cosine-decayed step, from lr to lr / 10
        lr_t = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1))))
        pn = space.project(pi.detach() + lr_t * g)
        if tau is not None:
            pn = _retract(space, x[idx], pn, tau, retract_iters, boundary)
        p = p.detach().clone()
        p[idx] = pn.to(p.dtype)
    # final check with the kept kernels
    with torch.no_grad():
        xb = blur(x, kept, boundary)
        pred = model(xb).argmax(1)
        ss = _ssim(x, xb)
        ps = _psnr(x, xb)
    feasible = torch.ones_like(success) if tau is None else ss >= tau
    success = correct & (pred != y) & feasible
    steps_to = torch.where(success, steps_to, torch.full_like(steps_to, steps + 1))
    return dict(kernels=kept, success=success, correct=correct, ssim=ss, psnr=ps, pred=pred,
                labels=y, steps=steps_to)  # fmt: skip


def _check_support_radius(support_radius: object) -> int:
    """The kernel support radius rule of :func:`blur_attack` and the training adversary: a
    positive Python int (pixels; the kernel side is ``2 r + 1``)."""
    if (
        isinstance(support_radius, bool)
        or not isinstance(support_radius, int)
        or support_radius < 1
    ):
        raise ParameterError(
            f"support_radius: expected a positive integer (pixels), got {support_radius!r}"
        )
    return support_radius


def blur_attack(
    model: nn.Module,
    images: torch.Tensor,
    labels=None,
    *,
    kernel: str = "freeform",
    ssim_budget: float | None = 0.9,
    support_radius: int | None = None,
    steps: int = 40,
    lr: float | None = None,
    loss: str = "margin",
    points: int = 8,
    modes: Sequence[int] | None = None,
    kernel_options: dict | None = None,
    retract_iters: int = 10,
    batch_size: int = 128,
    boundary: str = "reflect",
    seed: int = 0,
) -> AttackResult:
    """Find, per image, a blur kernel that flips the prediction within a fidelity budget.

    Args:
        model: classifier on images in [0, 1] returning logits.
        images: ``(N, C, H, W)`` (or one ``(C, H, W)``) in [0, 1].
        labels: ``(N,)`` class indices; ``None`` attacks the clean predictions.
        kernel: ``"freeform"`` (simplex within the support disk), ``"motion"``
            (trajectory of ``points`` vertices) or ``"zernike"`` (pupil aberration
            coefficients of the Zernike ``modes``, ANSI / OSA indices, in micrometres RMS;
            ``kernel_options`` go to :func:`blurkit.kernels.zernike_psf`, e.g.
            ``pupil_diameter_mm`` and ``pixel_scale_arcmin``).
        ssim_budget: ``tau``; the blurred image must keep ``SSIM >= tau`` to the clean
            one. ``None`` leaves only the support budget.
        support_radius: kernel support radius in pixels (kernel side ``2 r + 1``);
            default ``max(2, min(H, W) // 8)``.
        steps: projected gradient steps.
        lr: step length (per-sample normalised gradient): default 0.1 for the free-form
            kernel (a fraction of its unit mass), 1 pixel for a trajectory, 0.05 micrometre for
            Zernike coefficients.
        loss: ``"margin"`` (``max other logit - label logit``) or ``"ce"``.
        retract_iters: bisection steps of the SSIM retraction.
        batch_size, boundary, seed: batching, blur boundary, seed of the initial kernels.

    Returns:
        :class:`AttackResult`; ``.success_rate`` over the correctly classified images.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3))
        >>> r = blur_attack(model, torch.rand(4, 3, 16, 16), ssim_budget=0.8, steps=3)
        >>> bool((r.ssim[r.success] >= 0.8).all()), r.kernels.shape
        (True, torch.Size([4, 1, 5, 5]))
    """
    x_all, _ = check_image(images)
    check_choice(kernel, "kernel", KERNEL_SPACES)
    check_choice(loss, "loss", ("margin", "ce"))
    tau = (
        None
        if ssim_budget is None
        else check_scalar(ssim_budget, "ssim_budget", low=-1.0, high=1.0)
    )
    h, w = x_all.shape[-2:]
    if support_radius is None:
        support_radius = max(2, min(h, w) // 8)
    support_radius = _check_support_radius(support_radius)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ParameterError(f"steps: expected a non-negative integer, got {steps!r}")
    if lr is None:
        lr = {"freeform": 0.1, "motion": 1.0, "zernike": 0.05}[kernel]
    lr = check_scalar(lr, "lr", low=0.0, low_inclusive=False)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size: expected a positive integer, got {batch_size!r}")
    n = x_all.shape[0]
    dev = _model_device(model)
    y_all = _check_labels(labels, n, dev)
    gen = make_generator(seed)
    parts = []
    with _EvalMode(model):
        for sl in _batches(n, batch_size):
            x = x_all[sl].to(dev)
            if y_all is None:
                with torch.no_grad():
                    y = model(x).argmax(1)
            else:
                y = y_all[sl]
            space = _SPACES[kernel](
                x.shape[0],
                support_radius,
                dev,
                x.dtype,
                gen,
                points=points,
                modes=modes,
                options=kernel_options,
            )
            parts.append(
                _attack_batch(model, x, y, space, tau, steps, lr, loss, retract_iters, boundary)
            )
    cat = {k: torch.cat([p[k] for p in parts]).cpu() for k in parts[0]}
    return AttackResult(kernel, tau, support_radius, **cat)


# --------------------------------------------------------------------------- baseline


@torch.no_grad()
def _strength_at_ssim(fam, x, ctx, tau, lo, hi, iters=14):
    """Per image, the largest strength in [lo, hi] (log-bisection) whose SSIM is >= tau."""
    b = x.shape[0]
    a = torch.full((b,), math.log(lo), dtype=torch.float64, device=x.device)
    c = torch.full((b,), math.log(hi), dtype=torch.float64, device=x.device)
    s_hi = _ssim(x, fam.apply(x, torch.full((b,), hi, device=x.device, dtype=x.dtype), ctx))
    top = s_hi >= tau
    for _ in range(iters):
        m = (a + c) / 2
        sm = _ssim(x, fam.apply(x, m.exp().to(x.dtype), ctx))
        good = sm >= tau
        a, c = torch.where(good, m, a), torch.where(good, c, m)
    return torch.where(top, c, a).exp()


@torch.no_grad()
def fixed_family_at_budget(
    model: nn.Module,
    images: torch.Tensor,
    labels=None,
    family: str = "gaussian",
    *,
    ssim_budget: float = 0.9,
    points: int = 6,
    max_strength: float | None = None,
    batch_size: int = 256,
    seed: int = 0,
    **params,
) -> dict:
    """How often one fixed blur family flips the prediction within the same SSIM budget.

    Per image, the strength ``s_tau`` where the family's SSIM to the clean image falls to
    ``ssim_budget`` is found by bisection (no model pass); the model is then run at
    ``points`` strengths spaced in log up to ``s_tau`` (the last one ``s_tau`` itself),
    and the image counts as flipped when any of them changes the prediction. This is
    the baseline the adversarial kernel must beat at matched SSIM.

    Returns:
        ``{"family", "ssim_budget", "success" (N,) bool, "correct" (N,), "strength" (N,)
        (s_tau), "success_rate"}``.
    """
    x_all, _ = check_image(images)
    fam = get_family(family)
    tau = check_scalar(ssim_budget, "ssim_budget", low=-1.0, high=1.0)
    n = x_all.shape[0]
    dev = _model_device(model)
    y_all = _check_labels(labels, n, dev)
    lo = fam.low
    hi = fam.high(*x_all.shape[-2:]) if max_strength is None else float(max_strength)
    ctx_all = _context(fam, n, seed, dev, x_all.dtype, params)
    succ, corr, stren = [], [], []
    with _EvalMode(model):
        for sl in _batches(n, batch_size):
            x = x_all[sl].to(dev)
            ids = torch.arange(sl.start, sl.stop, device=dev)
            ctx = _slice_ctx(ctx_all, ids)
            p0 = model(x).argmax(1)
            y = p0 if y_all is None else y_all[sl]
            s_tau = _strength_at_ssim(fam, x, ctx, tau, lo, hi)
            flipped = torch.zeros_like(y, dtype=torch.bool)
            for f in torch.logspace(-math.log10(4.0), 0.0, points, dtype=torch.float64).tolist():
                s = (s_tau * f).clamp_min(lo).to(x.dtype)
                flipped |= model(fam.apply(x, s, ctx)).argmax(1) != y
            c = p0 == y
            succ.append((flipped & c).cpu())
            corr.append(c.cpu())
            stren.append(s_tau.cpu())
    success, correct = torch.cat(succ), torch.cat(corr)
    nc = int(correct.sum())
    return {
        "family": fam.name,
        "ssim_budget": tau,
        "success": success,
        "correct": correct,
        "strength": torch.cat(stren),
        "success_rate": float(success.sum()) / nc if nc else math.nan,
    }


def attack_success_curve(
    model: nn.Module,
    images: torch.Tensor,
    labels=None,
    budgets: Sequence[float] = (0.95, 0.9, 0.8, 0.7),
    *,
    kernel: str = "freeform",
    families: Sequence[str] = blur_families(twinned=True),
    **attack_kwargs,
) -> list[dict]:
    """Attack success rate against the SSIM budget, beside the fixed families at each budget.

    Returns one dict per budget: ``ssim_budget``, ``attack_success_rate``,
    ``families`` (name -> success rate of :func:`fixed_family_at_budget`),
    ``best_family`` and ``best_family_success_rate`` (the strongest single family),
    ``any_family_success_rate`` (an image flipped by at least one family) and ``result``
    (the :class:`AttackResult`).
    """
    out = []
    for tau in budgets:
        res = blur_attack(model, images, labels, kernel=kernel, ssim_budget=tau, **attack_kwargs)
        fams = {}
        anyf = torch.zeros(len(res), dtype=torch.bool)
        for f in families:
            r = fixed_family_at_budget(model, images, labels, f, ssim_budget=tau)
            fams[f] = r["success_rate"]
            anyf |= r["success"]
        best = max(fams, key=lambda k: fams[k]) if fams else None
        nc = int(res.correct.sum())
        out.append(
            {
                "ssim_budget": tau,
                "attack_success_rate": res.success_rate,
                "families": fams,
                "best_family": best,
                "best_family_success_rate": fams[best] if best else math.nan,
                "any_family_success_rate": float(anyf.sum()) / nc if nc else math.nan,
                "result": res,
            }
        )
    return out
