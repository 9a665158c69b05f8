"""Adversarial blur training: a kernel adversary against the classifier, kept natural by fidelity.

Two players. The classifier ``f_theta`` minimises the cross-entropy; for each
attacked image the adversary picks the blur kernel ``k`` that most hurts it:

.. math::

    \\min_\\theta \\; \\mathbb{E}_{(x, y)} \\Big[ \\max_{k \\in \\mathcal{K}_r}
        \\mathrm{CE}\\big(f_\\theta(k * x), y\\big) - \\lambda\\,
        \\big[\\tau - \\mathrm{SSIM}(x, k * x)\\big]_+ \\Big]

``K_r`` is the kernel space: ``"freeform"`` (any PSF on the probability simplex
inside a disk of radius ``r``), ``"motion"`` (a camera-shake trajectory) or
``"zernike"`` (pupil aberration coefficients), the spaces of
:func:`blurkit.robustness.blur_attack`. The fidelity term keeps the adversary
from the trivial answer: without it the blurriest kernel of the support always
raises the loss and the "attack" is just destroying the image (the test
``tests/defenses/test_adversarial.py`` shows the SSIM collapse). Two forms:

- ``fidelity="constraint"`` (default): ``SSIM(x, k * x) >= tau`` exactly, by the
  attack's retraction (per image, bisect the largest blend of ``k`` with the
  identity kernel that meets the budget; no model pass, no weight to tune);
- ``fidelity="penalty"``: the hinge ``lambda * [tau - SSIM]_+`` above, a
  differentiable soft constraint (cheaper, may overshoot the budget a little);
- ``fidelity=None``: no fidelity term (for comparison only).

The inner maximisation is ``steps`` steps of projected gradient ascent with a
per-sample normalised gradient (the attack's optimiser); each image keeps the
iterate with the highest objective seen (projected ascent is not monotone). Cost knobs:
``steps`` (inner steps; each costs a forward and a backward of the model),
``fraction`` (share of the batch attacked; the rest trains clean), and
``warm_start`` (start each image from the kernel the adversary found for it the
last time it was seen, kept in a bank indexed by dataset index, in the spirit of
"free" adversarial training, Shafahi et al., NeurIPS 2019). The inner loop runs
the model in eval mode (BatchNorm running statistics, no update), as PGD
training commonly does, and takes gradients with respect to the kernels only.

Written here because no library trains against a blur-kernel adversary; the
kernel spaces, the simplex projection and the SSIM retraction are reused from
:mod:`blurkit.robustness.attack`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import DTypeError, ParameterError, check_choice, check_scalar
from ..functional.conv import blur
from ..measure import ssim
from ..robustness.attack import _SPACES, KERNEL_SPACES, _check_support_radius, _retract

__all__ = ["KernelAdversary", "FIDELITY_MODES"]

FIDELITY_MODES = ("constraint", "penalty", None)


def _ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ssim(x, y)


class _EvalMode:
    def __init__(self, model: nn.Module, on: bool) -> None:
        self.model, self.on = model, on

    def __enter__(self):
        self.was = self.model.training
        if self.on:
            self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was)


class KernelAdversary:
    """Finds, per image, a blur kernel that raises a classifier's loss under a fidelity budget.

    Args:
        kernel: ``"freeform"``, ``"motion"`` or ``"zernike"`` (see the module docstring).
        support_radius: kernel support radius in pixels (side ``2 r + 1``).
        steps: inner gradient steps.
        lr: step length (per-sample normalised gradient); default 0.1 for the free-form
            kernel (a fraction of its unit mass), 1 px for a trajectory, 0.05 um for Zernike.
        fidelity: ``"constraint"``, ``"penalty"`` or ``None``.
        ssim_budget: ``tau``.
        penalty_weight: ``lambda`` of the penalty form.
        fraction: share of each batch attacked, in [0, 1].
        warm_start: start from the kernel last found for the same dataset index.
        init_blend: the free-form search starts at ``(1 - a) * identity + a * disk``
            (and the parametric ones at their random start scaled by ``a``).
        retract_iters: bisection steps of the constraint's retraction.
        eval_mode: run the model in eval mode during the inner loop.
        boundary: blur boundary rule.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3))
        >>> adv = KernelAdversary(support_radius=2, steps=2, ssim_budget=0.8)
        >>> x_adv, info = adv.perturb(model, torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 2, 0]))
        >>> x_adv.shape, bool((info["ssim"] >= 0.8 - 1e-4).all())
        (torch.Size([4, 3, 16, 16]), True)
    """

    def __init__(
        self,
        kernel: str = "freeform",
        support_radius: int = 2,
        steps: int = 3,
        lr: float | None = None,
        *,
        fidelity: str | None = "constraint",
        ssim_budget: float = 0.85,
        penalty_weight: float = 10.0,
        fraction: float = 1.0,
        warm_start: bool = False,
        init_blend: float = 0.5,
        retract_iters: int = 8,
        eval_mode: bool = True,
        boundary: str = "reflect",
    ) -> None:
        self.kernel = check_choice(kernel, "kernel", KERNEL_SPACES)
        self.support_radius = _check_support_radius(support_radius)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ParameterError(f"steps: expected a non-negative int, got {steps!r}")
        self.steps = steps
        if lr is None:
            lr = {"freeform": 0.1, "motion": 1.0, "zernike": 0.05}[kernel]
        self.lr = check_scalar(lr, "lr", low=0.0, low_inclusive=False)
        if fidelity not in FIDELITY_MODES:
            raise ParameterError(f"fidelity: expected one of {FIDELITY_MODES}, got {fidelity!r}")
        self.fidelity = fidelity
        self.ssim_budget = check_scalar(ssim_budget, "ssim_budget", low=-1.0, high=1.0)
        self.penalty_weight = check_scalar(penalty_weight, "penalty_weight", low=0.0)
        self.fraction = check_scalar(fraction, "fraction", low=0.0, high=1.0)
        self.warm_start = bool(warm_start)
        self.init_blend = check_scalar(init_blend, "init_blend", low=0.0, high=1.0)
        self.retract_iters = int(check_scalar(retract_iters, "retract_iters", low=1))
        self.eval_mode = bool(eval_mode)
        self.boundary = boundary
        self._bank: torch.Tensor | None = None
        self._valid: torch.Tensor | None = None

    # ------------------------------------------------------------------ warm-start bank
    def state_dict(self) -> dict:
        """The warm-start bank (saved in training checkpoints)."""
        return {"bank": self._bank, "valid": self._valid}

    def load_state_dict(self, state: dict) -> None:
        self._bank, self._valid = state.get("bank"), state.get("valid")

    def _bank_get(self, p: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        if self._bank is None or self._bank.shape[1:] != p.shape[1:]:
            return p
        idx = indices.cpu()
        inside = idx < self._bank.shape[0]
        ok = torch.zeros_like(inside)
        ok[inside] = self._valid[idx[inside]]
        if not bool(ok.any()):
            return p
        p = p.clone()
        p[ok.to(p.device)] = self._bank[idx[ok]].to(p.device, p.dtype)
        return p

    def _bank_put(self, p: torch.Tensor, indices: torch.Tensor) -> None:
        idx = indices.cpu()
        need = int(idx.max()) + 1 if idx.numel() else 0
        if self._bank is None or self._bank.shape[1:] != p.shape[1:]:
            self._bank = torch.zeros(0, *p.shape[1:])
            self._valid = torch.zeros(0, dtype=torch.bool)
        if need > self._bank.shape[0]:
            n = max(need, 2 * self._bank.shape[0])
            grow = n - self._bank.shape[0]
            self._bank = torch.cat([self._bank, torch.zeros(grow, *p.shape[1:])])
            self._valid = torch.cat([self._valid, torch.zeros(grow, dtype=torch.bool)])
        self._bank[idx] = p.detach().float().cpu()
        self._valid[idx] = True

    # ------------------------------------------------------------------ the game
    def _objective(self, space, model, x, y, p):
        k = space.kernel(p)
        xb = blur(x, k, self.boundary)
        logits = model(xb)
        obj = F.cross_entropy(logits, y, reduction="none")
        if self.fidelity == "penalty":
            obj = obj - self.penalty_weight * (self.ssim_budget - _ssim(x, xb)).clamp_min(0)
        return obj, logits

    def attack(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        indices: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict]:
        """Blur every image of ``x`` with its adversarial kernel.

        Returns ``(blurred, info)`` with ``info``: ``kernels`` ``(B, 1, k, k)``,
        ``ssim`` ``(B,)``, ``loss`` ``(B,)`` (cross-entropy on the blurred images) and
        ``flipped`` ``(B,)`` (prediction differs from the label).
        """
        if not isinstance(model, nn.Module):
            raise DTypeError(f"model: expected an nn.Module, got {type(model).__name__}")
        b = x.shape[0]
        x = x.detach()
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        space = _SPACES[self.kernel](b, self.support_radius, x.device, x.dtype, gen)
        a = torch.full((b,), self.init_blend, device=x.device, dtype=x.dtype)
        p = space.shrink(space.init(), a)
        if self.warm_start and indices is not None:
            p = self._bank_get(p, indices)
        p = space.project(p)
        constraint = self.fidelity == "constraint"
        if constraint:
            p = _retract(space, x, p, self.ssim_budget, self.retract_iters, self.boundary)
        shape1 = (-1,) + (1,) * (p.ndim - 1)
        best_p, best = p.detach().clone(), None

        def keep(obj, cand):
            nonlocal best, best_p
            if best is None:
                best, best_p = obj.detach(), cand.detach().clone()
                return
            up = obj.detach() > best
            best = torch.where(up, obj.detach(), best)
            best_p = torch.where(up.reshape(shape1), cand.detach(), best_p)

        with _EvalMode(model, self.eval_mode):
            for step in range(self.steps):
                pi = p.detach().requires_grad_(True)
                obj, _ = self._objective(space, model, x, y, pi)
                keep(obj, pi)
                (g,) = torch.autograd.grad(obj.sum(), pi)
                g = g / g.flatten(1).norm(dim=1).clamp_min(1e-20).reshape(shape1)
                lr_t = self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / self.steps)))
                p = space.project(pi.detach() + lr_t * g)
                if constraint:
                    p = _retract(space, x, p, self.ssim_budget, self.retract_iters, self.boundary)
            with torch.no_grad():
                if self.steps:  # the last iterate competes too; the best one is kept
                    keep(self._objective(space, model, x, y, p)[0], p)
                    p = best_p
                k = space.kernel(p)
                xb = blur(x, k, self.boundary)
                logits = model(xb)
        if self.warm_start and indices is not None:
            self._bank_put(p, indices)
        with torch.no_grad():
            info = {
                "kernels": k.detach(),
                "ssim": _ssim(x, xb),
                "loss": F.cross_entropy(logits, y, reduction="none"),
                "flipped": logits.argmax(1) != y,
            }
        return xb.detach(), info

    def perturb(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        indices: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict]:
        """Attack the share ``fraction`` of the batch (or the images where ``mask``), keep the rest.

        Returns ``(images, info)``: the batch with the attacked images replaced by their
        blurred copies, and :meth:`attack`'s info for the attacked ones plus ``mask``.
        """
        b = x.shape[0]
        if mask is None:
            m = round(self.fraction * b)
            order = torch.randperm(b, generator=generator)
            mask = torch.zeros(b, dtype=torch.bool)
            mask[order[:m]] = True
        mask = mask.to(x.device)
        idx = mask.nonzero().squeeze(1)
        if idx.numel() == 0:
            return x, {"mask": mask, "ssim": x.new_zeros(0), "flipped": mask[:0]}
        sub_idx = indices[idx.to(indices.device)] if indices is not None else None
        xb, info = self.attack(model, x[idx], y[idx], generator=generator, indices=sub_idx)
        out = x.index_copy(0, idx, xb.to(x.dtype))
        info["mask"] = mask
        return out, info

    def __repr__(self) -> str:
        return (
            f"KernelAdversary(kernel={self.kernel!r}, support_radius={self.support_radius}, "
            f"steps={self.steps}, fidelity={self.fidelity!r}, ssim_budget={self.ssim_budget}, "
            f"fraction={self.fraction}, warm_start={self.warm_start})"
        )
