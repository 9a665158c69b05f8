"""What critical blur reports: the per-image result, its summary and SSIM curve, and the
dense-grid reference with its agreement count."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

__all__ = ["CriticalBlurResult", "GridResult", "grid_agreement"]

_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass
class CriticalBlurResult:
    """Per-image critical blur (all tensors ``(N,)`` on the CPU).

    Attributes:
        family: the family searched; ``unit`` what its strength measures.
        strength: smallest strength found that flips the prediction; ``inf`` when the
            prediction holds up to ``max_strength``; ``nan`` when the image was not
            correctly classified to begin with.
        lower: a strength at which the prediction still holds, ``lower < strength <=
            lower * (1 + rel_tol)`` on success (``min_strength`` at the bracket's bottom).
        ssim, psnr: fidelity between the clean image and the image blurred at ``strength``
            (``nan`` where ``strength`` is not finite).
        passes: forward passes spent on each image (clean pass included).
        correct: clean prediction equals the label. ``flipped``: a flip was found.
        below_min: the flip already happens at ``min_strength`` (strength is an upper bound).
        labels, pred_clean, pred_flip: label, clean prediction and prediction at ``strength``.
    """

    family: str
    unit: str
    strength: torch.Tensor
    lower: torch.Tensor
    ssim: torch.Tensor
    psnr: torch.Tensor
    passes: torch.Tensor
    correct: torch.Tensor
    flipped: torch.Tensor
    below_min: torch.Tensor
    labels: torch.Tensor
    pred_clean: torch.Tensor
    pred_flip: torch.Tensor
    min_strength: float
    max_strength: float
    rel_tol: float
    context: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.strength.shape[0])

    @property
    def precision(self) -> torch.Tensor:
        """Relative width ``strength / lower - 1`` of the final bracket (``nan`` if not flipped)."""
        return torch.where(
            self.flipped, self.strength / self.lower - 1, torch.full_like(self.strength, math.nan)
        )

    def summary(self, quantiles: Sequence[float] = _QUANTILES) -> dict:
        """Medians and quantiles over the correctly classified images.

        Strength quantiles include the never-flipped images as ``inf`` (so a median
        is ``inf`` when fewer than half flip); SSIM and PSNR quantiles are over the
        flipped images.
        """
        q = torch.tensor(list(quantiles), dtype=torch.float64)
        c = self.correct
        n, nc = len(self), int(c.sum())
        s = self.strength[c].double()
        fl = self.flipped
        out = {
            "family": self.family,
            "unit": self.unit,
            "images": n,
            "correct": nc,
            "clean_accuracy": nc / max(n, 1),
            "flipped": int(fl.sum()),
            "fraction_flipped": float(fl.sum()) / max(nc, 1),
            "min_strength": self.min_strength,
            "max_strength": self.max_strength,
            "passes_mean": float(self.passes[c].double().mean()) if nc else math.nan,
            "passes_max": int(self.passes.max()) if n else 0,
            "precision_max": float(self.precision[fl].max()) if bool(fl.any()) else math.nan,
            "below_min": int(self.below_min.sum()),
        }

        def qs(v: torch.Tensor) -> dict:
            if v.numel() == 0:
                return {f"q{round(float(p) * 100):02d}": math.nan for p in q}
            # nanquantile on a copy where inf is kept: torch.quantile handles inf
            vals = torch.quantile(v, q).tolist()
            return {
                f"q{round(float(p) * 100):02d}": x for p, x in zip(q.tolist(), vals, strict=True)
            }

        out["strength"] = (
            {"median": float(s.median()) if nc else math.nan, **qs(s)} if nc else qs(s)
        )
        out["ssim"] = qs(self.ssim[fl].double())
        out["psnr"] = qs(self.psnr[fl].double())
        if fl.any():
            out["ssim"]["median"] = float(self.ssim[fl].double().median())
            out["psnr"]["median"] = float(self.psnr[fl].double().median())
        return out

    def ssim_curve(self, thresholds: Sequence[float] | torch.Tensor | None = None) -> dict:
        """Fraction of the correctly classified images still correct against an SSIM floor.

        An image counts as still correct at floor ``t`` when no blur of this family with
        SSIM ``>= t`` (to the clean image) flips it, i.e. its critical SSIM is below ``t``
        or it never flips. At ``t = 1`` every image is still correct; the curve falls as
        ``t`` decreases. ``accuracy`` multiplies by the clean accuracy.

        Returns ``{"ssim": (T,), "fraction_correct": (T,), "accuracy": (T,)}`` tensors.
        """
        t = (
            torch.linspace(0, 1, 101, dtype=torch.float64)
            if thresholds is None
            else torch.as_tensor(thresholds, dtype=torch.float64).flatten()
        )
        c = self.correct
        crit = torch.where(
            self.flipped,
            self.ssim.double(),
            torch.full_like(self.ssim, -math.inf, dtype=torch.float64),
        )[c]
        if crit.numel() == 0:
            frac = torch.full_like(t, math.nan)
        else:
            frac = (crit[None, :] < t[:, None]).double().mean(1)
        acc = frac * (float(c.sum()) / max(len(self), 1))
        return {"ssim": t, "fraction_correct": frac, "accuracy": acc}

    def rows(self) -> list[dict]:
        """One dict per image (for CSV output)."""
        cols = {
            "label": self.labels,
            "pred_clean": self.pred_clean,
            "correct": self.correct,
            "flipped": self.flipped,
            "strength": self.strength,
            "lower": self.lower,
            "ssim": self.ssim,
            "psnr": self.psnr,
            "pred_flip": self.pred_flip,
            "passes": self.passes,
            "below_min": self.below_min,
        }
        lists = {k: v.tolist() for k, v in cols.items()}
        return [
            {"index": i, "family": self.family, **{k: lists[k][i] for k in cols}}
            for i in range(len(self))
        ]


@dataclass
class GridResult:
    """Dense-grid reference for :func:`critical_blur` (tensors ``(N,)``, CPU).

    ``cell_low < first-flip <= cell_high``: the grid cell where the prediction first
    changes (``cell_low`` is 0 when it changes at the first grid point; both ``inf`` when
    it never changes on the grid). ``nonmonotone``: after the first change, the prediction
    comes back to the label at a larger grid strength.
    """

    strengths: torch.Tensor
    cell_low: torch.Tensor
    cell_high: torch.Tensor
    correct: torch.Tensor
    nonmonotone: torch.Tensor


def grid_agreement(result: CriticalBlurResult, grid: GridResult) -> dict:
    """Fraction of correctly classified images where the search and the grid agree.

    They agree when both say "never flips" within the bracket, or when the search's
    final bracket ``[lower, strength]`` overlaps the grid's first-change cell
    ``(cell_low, cell_high]`` (the grid's resolution defines agreement).
    """
    c = result.correct & grid.correct
    never = ~result.flipped & torch.isinf(grid.cell_high)
    overlap = result.flipped & (result.lower <= grid.cell_high) & (result.strength >= grid.cell_low)
    agree = (never | overlap) & c
    nc = int(c.sum())
    return {
        "images": nc,
        "agree": int(agree.sum()),
        "agreement": float(agree.sum()) / max(nc, 1),
        "nonmonotone": int((grid.nonmonotone & c).sum()),
        "disagree_nonmonotone": int((grid.nonmonotone & c & ~agree).sum()),
        "disagree": (c & ~agree).nonzero()[:, 0].tolist(),
    }
