"""Critical blur: the smallest blur strength at which a classifier's top-1 prediction changes.

For every correctly classified image and a continuous blur family (Gaussian
sigma, defocus radius, motion length, myopia diopters, or any registered
corruption with a ``continuous`` parameter), :func:`critical_blur` finds the
smallest strength ``s`` at which ``argmax model(blur(x, s)) != label`` and
reports the image quality still left there (SSIM and PSNR between the clean
and the blurred image). The distribution of these strengths, and the curve of
the fraction of images still correct against SSIM, say how much image quality a
model needs, independently of any severity table.

Search. Foolbox's ``GaussianBlurAttack`` scans sigma linearly (1,000 steps by
default, one forward pass per step). Here the search runs in log-strength on a
bracket ``[min_strength, max_strength]`` in two phases. First a coarse scan
upwards through a few strengths ending at ``max_strength`` (:func:`scan_plan`),
each image stopping at the first one that flips its prediction (an image still
correct at ``max_strength`` is reported as never flipped, ``inf``). Then, inside
that scan cell, the ITP method (Interpolate, Truncate, Project; Oliveira and
Takahashi, ACM TOMS 47(1), 2020, doi:10.1145/3423597) on the classification
margin ``logit[label] - max(other logits)``. ITP uses the margin to interpolate
(regula falsi), so a smooth margin converges in a few passes, but it never takes
more steps than bisection of the cell with the passes the image has left. The
scan points are placed so that every cell can still be bisected to ``rel_tol``
within ``max_steps`` passes counting the clean one: an image that flips late has
spent more passes on the scan, so cells shrink towards the top of the bracket.
With the defaults (1 % over a bracket of 80x, 12 passes) that is 6 points, the
lower cells 2.4x wide. On return the bracket satisfies ``strength / lower <= 1 +
rel_tol``: ``strength`` is a strength known to flip the prediction and ``lower``
one known not to (or the bracket's bottom). All images of a batch advance
together, scanning or bisecting: one forward pass per step for the images still
searching, each at its own strength; nothing leaves the device per sample.

What "smallest" means. The flip need not be monotone in strength: a prediction
can change, change back and change again as blur grows (a heavily blurred CIFAR
image tends to a flat colour, which the model may call the true class again).
A plain bracketing search between the clean image and ``max_strength`` then
finds *a* crossing, not always the first; the upward scan confines the
bisection to the first scan cell where the prediction changes, so only a change
and change back *within one cell* can still mislead it. :func:`grid_critical_blur` evaluates a dense grid
and :func:`grid_agreement` counts the images where both agree (the grid's cell
of first change overlaps the search's bracket); the non-monotone images are
flagged and counted as disagreements rather than hidden.

Written here because no library searches a per-sample continuous blur parameter
in a batch: Foolbox's search is linear and one image at a time, and kornia and
torchvision only apply blur.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .._checks import ParameterError, ShapeError, check_image, check_scalar
from .._seeds import check_seed

__all__ = [
    "BlurFamily",
    "register_family",
    "list_families",
    "get_family",
    "CriticalBlurResult",
    "critical_blur",
    "GridResult",
    "grid_critical_blur",
    "grid_agreement",
    "classification_margin",
    "scan_plan",
]

# --------------------------------------------------------------------------- fidelity


def _ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM ``(B,)`` (blurkit.measure when present, else pytorch-msssim directly)."""
    try:
        from ..measure import ssim
    except ImportError:
        ssim = None
    if ssim is not None:
        return ssim(x, y)
    from pytorch_msssim import ssim as _ms

    win = 11 if min(x.shape[-2:]) >= 11 else (min(x.shape[-2:]) // 2) * 2 - 1
    return _ms(x, y, data_range=1.0, size_average=False, win_size=max(win, 3))


def _psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB ``(B,)`` for images in [0, 1]."""
    try:
        from ..measure import psnr
    except ImportError:
        psnr = None
    if psnr is not None:
        return psnr(x, y)
    mse = (x - y).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-20))


# --------------------------------------------------------------------------- families

ApplyFn = Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor]
PrepareFn = Callable[[int, torch.Generator, torch.device, torch.dtype], dict]


@dataclass(frozen=True)
class BlurFamily:
    """A continuous blur family searched by :func:`critical_blur`.

    Attributes:
        name: registry name.
        apply: ``apply(images, strength, context) -> images`` with ``strength`` a ``(B,)``
            tensor (one value per image) and ``context`` the per-image settings drawn by
            ``prepare`` or given by the caller (e.g. ``{"angle": (B,) tensor}``).
        low: the strength below which the blur is numerically negligible (bottom of the
            search bracket; the search runs in log-strength, so it must be positive).
        high: default top of the bracket as a function of the image size ``(H, W)``.
        unit: what the strength measures (for reports).
        prepare: ``prepare(batch, generator, device, dtype) -> dict`` draws the per-image
            settings that stay fixed during the search (the motion angle); ``None`` if none.
    """

    name: str
    apply: ApplyFn
    low: float
    high: Callable[[int, int], float]
    unit: str = ""
    prepare: PrepareFn | None = None
    description: str = ""


_FAMILIES: dict[str, BlurFamily] = {}


def register_family(family: BlurFamily) -> BlurFamily:
    """Add a continuous blur family to the critical-blur registry."""
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family:
        raise ValueError(f"blur family {family.name!r} registered twice")
    _FAMILIES[family.name] = family
    return family


def _gaussian(x, s, ctx):
    from ..kernels.gaussian import gaussian_blur

    return gaussian_blur(x, s)


def _defocus(x, s, ctx):
    from ..kernels.defocus import defocus_blur

    return defocus_blur(x, s)


def _motion(x, s, ctx):
    from ..kernels.motion import motion_blur

    return motion_blur(x, s, ctx["angle"])


def _motion_prepare(batch, gen, device, dtype):
    angle = torch.rand(batch, generator=gen, dtype=torch.float64) * 180.0
    return {"angle": angle.to(device=device, dtype=dtype)}


def _myopia(x, s, ctx):
    from ..kernels.optics import myopia_blur

    return myopia_blur(x, s)


register_family(
    BlurFamily(
        "gaussian",
        _gaussian,
        0.1,
        lambda h, w: min(h, w) / 4,
        "sigma (px)",
        description="isotropic Gaussian blur, strength = sigma in pixels",
    )
)
register_family(
    BlurFamily(
        "defocus",
        _defocus,
        0.25,
        lambda h, w: min(h, w) / 4,
        "radius (px)",
        description="defocus (pillbox) blur, strength = disk radius in pixels",
    )
)
register_family(
    BlurFamily(
        "motion",
        _motion,
        0.5,
        lambda h, w: min(h, w) / 2,
        "length (px)",
        _motion_prepare,
        description="linear motion blur, strength = streak length in pixels; "
        "one angle per image drawn uniformly in [0, 180) degrees (or given as angle=)",
    )
)
register_family(
    BlurFamily(
        "myopia",
        _myopia,
        0.01,
        # at myopia_blur's default 1 arcmin per pixel and 4 mm pupil, 1 D blurs over a
        # disk of about 14 px diameter: the bracket top blurs over about half the image side
        lambda h, w: 0.04 * min(h, w),
        "diopters",
        description="myopic defocus of the eye, strength = refractive error in diopters",
    )
)


def _corruption_family(name: str) -> BlurFamily:
    from ..corruptions import get_corruption

    c = get_corruption(name)
    if c.continuous is None:
        raise ParameterError(
            f"family: corruption {name!r} has no continuous parameter to search; "
            f"known families: {', '.join(list_families())}"
        )
    key = c.continuous

    def apply(x, s, ctx):
        from ..corruptions import corrupt

        params = {k: v for k, v in ctx.items() if k != "seed"}
        return corrupt(x, name, 1, seed=ctx["seed"], **{key: s}, **params)

    def prepare(batch, gen, device, dtype):
        # one seed per image, fixed for the whole search: the same random draw
        # (e.g. a motion angle) at every strength
        return {"seed": torch.randint(0, 2**31 - 1, (batch,), generator=gen).tolist()}

    return BlurFamily(
        name,
        apply,
        1e-2,
        lambda h, w: float("nan"),
        key,
        prepare,
        description=c.description or f"corruption {name!r}, strength = {key}",
    )


def list_families() -> list[str]:
    """Names of the built-in critical-blur families (any corruption with a
    ``continuous`` parameter is also accepted by name).

    >>> list_families()
    ['defocus', 'gaussian', 'motion', 'myopia']
    """
    return sorted(_FAMILIES)


def get_family(name: str | BlurFamily) -> BlurFamily:
    """The family registered under ``name``, or the corruption of that name with a
    ``continuous`` parameter."""
    if isinstance(name, BlurFamily):
        return name
    if not isinstance(name, str):
        raise ParameterError(f"family: expected a family name, got {type(name).__name__}")
    if name in _FAMILIES:
        return _FAMILIES[name]
    try:
        return _corruption_family(name)
    except ParameterError as e:
        if "unknown name" in str(e):
            raise ParameterError(
                f"family: unknown blur family {name!r}; known: {', '.join(list_families())} "
                "or a corruption with a continuous parameter"
            ) from None
        raise


# --------------------------------------------------------------------------- helpers


def classification_margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``logit[label] - max(other logits)`` per sample ``(B,)``: positive iff correct (ties aside).

    >>> classification_margin(torch.tensor([[2.0, 0.5, 1.0]]), torch.tensor([0]))
    tensor([1.])
    """
    true = logits.gather(1, labels[:, None])[:, 0]
    other = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    return true - other


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


class _EvalMode:
    """Put a model in eval mode for the duration, restoring its training flag."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.was = model, model.training

    def __enter__(self):
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        self.model.train(self.was)


def _check_labels(labels, n: int, device) -> torch.Tensor | None:
    if labels is None:
        return None
    t = torch.as_tensor(labels, device=device)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1 or t.shape[0] != n:
        raise ShapeError(
            f"labels: expected {n} integer labels (one per image), got shape {tuple(t.shape)}"
        )
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise ParameterError(f"labels: expected integer class indices, got dtype {t.dtype}")
    return t.long()


def _context(family: BlurFamily, n: int, seed: int, device, dtype, params: dict | None) -> dict:
    ctx: dict = {}
    if family.prepare is not None:
        ctx = family.prepare(n, torch.Generator().manual_seed(check_seed(seed)), device, dtype)
    for k, v in (params or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = torch.full((n,), float(v), device=device, dtype=dtype)
        elif isinstance(v, torch.Tensor):
            v = v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype)
            if v.ndim == 0:
                v = v.expand(n)
            if v.shape[0] != n:
                raise ShapeError(
                    f"{k}: expected a scalar or {n} values (one per image), got {tuple(v.shape)}"
                )
        ctx[k] = v
    return ctx


def _slice_ctx(ctx: dict, idx: torch.Tensor) -> dict:
    out = {}
    for k, v in ctx.items():
        if isinstance(v, torch.Tensor) and v.ndim >= 1:
            out[k] = v[idx.to(v.device)]
        elif isinstance(v, list):
            il = idx.tolist()
            out[k] = [v[i] for i in il]
        else:
            out[k] = v
    return out


def _bounds(family: BlurFamily, hw, min_strength, max_strength) -> tuple[float, float]:
    lo = (
        family.low
        if min_strength is None
        else check_scalar(min_strength, "min_strength", low=0.0, low_inclusive=False)
    )
    if max_strength is None:
        hi = family.high(*hw)
        if not math.isfinite(hi):
            raise ParameterError(
                f"max_strength: family {family.name!r} has no default upper bound; pass one"
            )
    else:
        hi = check_scalar(max_strength, "max_strength", low=0.0, low_inclusive=False)
    if not hi > lo:
        raise ParameterError(
            f"max_strength: expected a value above min_strength {lo:g}, got {hi:g}"
        )
    return float(lo), float(hi)


def _batches(n: int, batch_size: int):
    for i in range(0, n, batch_size):
        yield slice(i, min(i + batch_size, n))


# --------------------------------------------------------------------------- result


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


# --------------------------------------------------------------------------- search


def _steps_needed(lo: float, hi: float, rel_tol: float) -> int:
    width = math.log(hi) - math.log(lo)
    return max(0, math.ceil(math.log2(width / math.log1p(rel_tol)) - 1e-12))


def scan_plan(lo: float, hi: float, rel_tol: float, max_steps: int) -> list[float]:
    """The coarse scan's strengths (increasing, the last one ``hi``) for a pass budget.

    An image whose prediction first changes at scan point ``j`` has spent ``j + 2``
    passes (clean + ``j + 1`` scan points) and bisects the cell below that point with
    the ``max_steps - j - 2`` passes left, so that cell may be at most
    ``log1p(rel_tol) * 2 ** (max_steps - j - 2)`` wide in log-strength. Among all
    point counts, the plan with the narrowest widest cell is taken (points are added
    while each narrows it by at least 5 %): equal cells ``d`` from the bottom, then
    cells shrinking to their caps near the top. With
    the defaults (a bracket of 80x, 1 %, 12 passes) that is 6 points, the lower
    four cells 0.86 wide in log (2.4x), the top two 0.64 and 0.32.
    When even one point leaves too few passes to bisect the whole bracket, the
    plan is ``[hi]`` and the achieved precision is coarser (a warning says so).

    Example:
        >>> [round(v, 2) for v in scan_plan(0.1, 8.0, 0.01, 12)]
        [0.24, 0.55, 1.31, 3.08, 5.82, 8.0]
    """
    width = math.log(hi) - math.log(lo)
    unit = math.log1p(rel_tol)
    best, best_d = [width], math.inf
    for n in range(1, max_steps):
        caps = [unit * 2.0 ** (max_steps - j - 2) for j in range(n)]
        if sum(caps) < width * (1 - 1e-12):
            continue
        # the equal width d of the unconstrained cells: sum(min(cap, d)) == width
        lo_d, hi_d = 0.0, max(caps)
        for _ in range(100):
            d = (lo_d + hi_d) / 2
            lo_d, hi_d = (d, hi_d) if sum(min(c, d) for c in caps) < width else (lo_d, d)
        d = hi_d
        if d > best_d * 0.95:
            break  # one more point narrows the cells by under 5 %: not worth its pass
        best, best_d = [min(c, d) for c in caps], d
    pos, acc = [], math.log(lo)
    for w in best:
        acc += w
        pos.append(math.exp(acc))
    pos[-1] = hi
    return pos


def _forward(model, family, x, s, ctx, labels):
    logits = model(family.apply(x, s, ctx))
    return logits.argmax(1), classification_margin(logits.float(), labels)


@torch.no_grad()
def _search_batch(model, family, x, labels, lo, hi, rel_tol, max_steps, method, ctx):
    b = x.shape[0]
    dev = x.device
    logits = model(x)
    pred0 = logits.argmax(1)
    if labels is None:
        labels = pred0
    m0 = classification_margin(logits.float(), labels)
    correct = pred0 == labels
    passes = torch.ones(b, dtype=torch.long, device=dev)

    f64 = torch.float64
    a = torch.full((b,), math.log(lo), dtype=f64, device=dev)
    bb = torch.full((b,), math.log(hi), dtype=f64, device=dev)
    fa = m0.to(f64).clamp_min(1e-12)
    fb = torch.full((b,), -1.0, dtype=f64, device=dev)
    pred_flip = pred0.clone()
    flipped = torch.zeros(b, dtype=torch.bool, device=dev)

    # Each image first scans upwards through the plan's strengths and stops at the first
    # that flips its prediction, so the bisection starts in the cell of the FIRST change
    # (a prediction that changes back at larger strengths cannot pull it past that
    # change); then ITP (or bisection) inside that cell with the passes it has left.
    # Images scan and bisect side by side: one forward pass per step for all.
    plan = torch.tensor([math.log(v) for v in scan_plan(lo, hi, rel_tol, max_steps)], dtype=f64)
    plan = plan.to(dev)
    eps = math.log1p(rel_tol) / 2
    if math.log(hi) - math.log(lo) > 2 * eps * 2.0 ** (max_steps - 2):
        warnings.warn(
            f"critical_blur: relative precision {rel_tol:g} over [{lo:g}, {hi:g}] needs "
            f"{_steps_needed(lo, hi, rel_tol)} bisection steps but max_steps={max_steps} "
            f"leaves {max_steps - 2}; the bracket will be wider (see CriticalBlurResult.precision)",
            stacklevel=3,
        )
    scanning = correct.clone()
    bisecting = torch.zeros(b, dtype=torch.bool, device=dev)
    next_pt = torch.zeros(b, dtype=torch.long, device=dev)
    budget = torch.zeros(b, dtype=torch.long, device=dev)  # bisection passes left
    w0 = torch.ones(b, dtype=f64, device=dev)  # cell width when the bisection began
    for _ in range(max_steps - 1):
        bisecting &= ((bb - a) > 2 * eps * (1 - 1e-9)) & (budget > 0)
        idx = (scanning | bisecting).nonzero()[:, 0]
        if idx.numel() == 0:
            break
        sc = scanning[idx]
        ai, bi, fai, fbi = a[idx], bb[idx], fa[idx], fb[idx]
        half = (ai + bi) / 2
        if method == "bisect":
            xt = half
        else:  # ITP (Oliveira and Takahashi): interpolate, truncate, project
            w = bi - ai
            # the projection radius of ITP's step j: eps 2^(n_max - j) - w / 2
            r = (eps * 2.0 ** budget[idx].to(f64) - w / 2).clamp_min(0)
            delta = (0.2 / w0[idx]) * w**2
            xf = (bi * fai - ai * fbi) / (fai - fbi)
            sig = torch.sign(half - xf)
            xtr = torch.where(delta <= (half - xf).abs(), xf + sig * delta, half)
            xt = torch.where((xtr - half).abs() <= r, xtr, half - sig * r)
        xt = torch.where(sc, plan[next_pt[idx].clamp_max(len(plan) - 1)], xt)
        s = xt.exp().to(x.dtype)
        p, m = _forward(model, family, x[idx], s, _slice_ctx(ctx, idx), labels[idx])
        passes[idx] += 1
        fl = p != labels[idx]
        m = m.to(f64)
        # the strength actually applied (rounded to the image dtype) is what we report
        xs = s.to(f64).log()
        a[idx] = torch.where(fl, ai, xs)
        fa[idx] = torch.where(fl, fai, m.clamp_min(1e-12))
        bb[idx] = torch.where(fl, xs, bi)
        fb[idx] = torch.where(fl, m.clamp_max(-1e-12), fbi)
        pred_flip[idx] = torch.where(fl, p, pred_flip[idx])
        # scanning images: a flip starts the bisection of the cell below; otherwise
        # move to the next point, and past the last one the image never flips
        start = sc & fl
        flipped[idx] |= fl
        bisecting[idx] = (bisecting[idx] & ~sc) | start
        budget[idx] = torch.where(start, max_steps - passes[idx], budget[idx] - (~sc).long())
        w0[idx] = torch.where(start, bb[idx] - a[idx], w0[idx])
        nxt = next_pt[idx] + (sc & ~fl).long()
        next_pt[idx] = nxt
        scanning[idx] = sc & ~fl & (nxt < len(plan))

    strength = torch.where(flipped, bb.exp(), torch.full_like(bb, math.inf))
    lower = torch.where(flipped, a.exp(), torch.full_like(a, hi))
    nan = torch.full_like(strength, math.nan)
    strength = torch.where(correct, strength, nan)
    lower = torch.where(correct, lower, nan)
    below_min = flipped & (a <= math.log(lo) + 1e-12)

    ssim = torch.full((b,), math.nan, dtype=f64, device=dev)
    psnr = ssim.clone()
    idx = flipped.nonzero()[:, 0]
    if idx.numel():
        xb = family.apply(x[idx], strength[idx].to(x.dtype), _slice_ctx(ctx, idx))
        ssim[idx] = _ssim(x[idx], xb).to(f64)
        psnr[idx] = _psnr(x[idx], xb).to(f64)
    return dict(
        strength=strength,
        lower=lower,
        ssim=ssim,
        psnr=psnr,
        passes=passes,
        correct=correct,
        flipped=flipped,
        below_min=below_min,
        labels=labels,
        pred_clean=pred0,
        pred_flip=pred_flip,
    )


def critical_blur(
    model: nn.Module,
    images: torch.Tensor,
    labels=None,
    family: str | BlurFamily = "gaussian",
    *,
    min_strength: float | None = None,
    max_strength: float | None = None,
    rel_tol: float = 0.01,
    max_steps: int = 12,
    batch_size: int = 256,
    method: str = "itp",
    seed: int = 0,
    **params,
) -> CriticalBlurResult:
    """Smallest blur strength that changes each image's top-1 prediction.

    Args:
        model: classifier taking images in [0, 1] and returning logits ``(B, K)``.
        images: ``(N, C, H, W)`` (or one ``(C, H, W)``) in [0, 1]; moved to the model's
            device batch by batch.
        labels: ``(N,)`` class indices; ``None`` uses the clean predictions (then the
            strength is where the prediction first changes, for every image).
        family: a name from :func:`list_families`, a corruption name with a ``continuous``
            parameter, or a :class:`BlurFamily`.
        min_strength, max_strength: the search bracket (family defaults; the upper one
            scales with the image size).
        rel_tol: relative precision of the returned strength (``strength / lower <= 1 +
            rel_tol``).
        max_steps: the most forward passes per image, the clean pass included. When the
            bracket is too wide for ``rel_tol`` within it, a warning is issued and the
            achieved precision is reported.
        batch_size: images per forward pass.
        method: ``"itp"`` (margin interpolation with a bisection guarantee) or ``"bisect"``.
        seed: seeds the per-image settings a family draws (the motion angle); image ``i``
            gets the same draw whatever the batch size.
        **params: per-image settings given explicitly instead (e.g. ``angle=30.0`` or an
            ``(N,)`` tensor for ``family="motion"``).

    Returns:
        :class:`CriticalBlurResult` with per-image strength, SSIM, PSNR, passes and flags.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4))
        >>> r = critical_blur(model, torch.rand(3, 3, 16, 16), family="gaussian")
        >>> bool((r.passes <= 12).all()), len(r)
        (True, 3)
    """
    x_all, single = check_image(images)
    fam = get_family(family)
    if method not in ("itp", "bisect"):
        raise ParameterError(f"method: expected one of ['bisect', 'itp'], got {method!r}")
    rel_tol = check_scalar(rel_tol, "rel_tol", low=0.0, low_inclusive=False)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 3:
        raise ParameterError(f"max_steps: expected an integer >= 3, got {max_steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size: expected a positive integer, got {batch_size!r}")
    lo, hi = _bounds(fam, tuple(x_all.shape[-2:]), min_strength, max_strength)
    n = x_all.shape[0]
    dev = _model_device(model)
    y_all = _check_labels(labels, n, dev)
    # per-image settings drawn once for all N images, so they do not depend on batching
    ctx_all = _context(fam, n, seed, dev, x_all.dtype, params)
    parts = []
    with _EvalMode(model):
        for sl in _batches(n, batch_size):
            ids = torch.arange(sl.start, sl.stop, device=dev)
            x = x_all[sl].to(dev)
            y = None if y_all is None else y_all[sl]
            parts.append(
                _search_batch(
                    model, fam, x, y, lo, hi, rel_tol, max_steps, method, _slice_ctx(ctx_all, ids)
                )
            )
    cat = {k: torch.cat([p[k] for p in parts]).cpu() for k in parts[0]}
    ctx_cpu = {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in ctx_all.items()}
    return CriticalBlurResult(
        family=fam.name,
        unit=fam.unit,
        **{k: cat[k] for k in cat},
        min_strength=lo,
        max_strength=hi,
        rel_tol=rel_tol,
        context=ctx_cpu,
    )


# --------------------------------------------------------------------------- dense grid


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


@torch.no_grad()
def grid_critical_blur(
    model: nn.Module,
    images: torch.Tensor,
    labels=None,
    family: str | BlurFamily = "gaussian",
    *,
    strengths: torch.Tensor | Sequence[float] | None = None,
    points: int = 400,
    min_strength: float | None = None,
    max_strength: float | None = None,
    batch_size: int = 1024,
    seed: int = 0,
    **params,
) -> GridResult:
    """Where the prediction first changes on a dense strength grid (the reference check).

    The grid defaults to ``points`` strengths spaced evenly in log between the family's
    bracket ends (the same bracket :func:`critical_blur` uses). Costs ``points`` forward
    passes per image: a test oracle, not a search.
    """
    x_all, _ = check_image(images)
    fam = get_family(family)
    lo, hi = _bounds(fam, tuple(x_all.shape[-2:]), min_strength, max_strength)
    if strengths is None:
        grid = torch.logspace(math.log10(lo), math.log10(hi), points, dtype=torch.float64)
    else:
        grid = torch.as_tensor(strengths, dtype=torch.float64).flatten().sort().values
    n, g = x_all.shape[0], grid.shape[0]
    dev = _model_device(model)
    y_all = _check_labels(labels, n, dev)
    ctx_all = _context(fam, n, seed, dev, x_all.dtype, params)
    flips = torch.zeros(n, g, dtype=torch.bool)
    correct = torch.zeros(n, dtype=torch.bool)
    with _EvalMode(model):
        per = max(1, batch_size // max(g, 1))
        for sl in _batches(n, per):
            x = x_all[sl].to(dev)
            b = x.shape[0]
            p0 = model(x).argmax(1)
            y = p0 if y_all is None else y_all[sl]
            correct[sl] = (p0 == y).cpu()
            ids = torch.arange(sl.start, sl.stop, device=dev)
            # every (image, strength) pair, in chunks of about batch_size images
            pairs_img = ids.repeat_interleave(g)
            pairs_s = grid.to(dev, x.dtype).repeat(b)
            out = torch.empty(b * g, dtype=torch.bool, device=dev)
            for c in _batches(b * g, batch_size):
                ii = pairs_img[c]
                xb = fam.apply(x_all[ii.cpu()].to(dev), pairs_s[c], _slice_ctx(ctx_all, ii))
                out[c] = model(xb).argmax(1) != y[ii - sl.start]
            flips[sl] = out.reshape(b, g).cpu()
    any_flip = flips.any(1)
    first = torch.where(any_flip, flips.float().argmax(1), torch.full((n,), g))
    inf = torch.full((n,), math.inf, dtype=torch.float64)
    gpad = torch.cat(
        [torch.zeros(1, dtype=torch.float64), grid, torch.tensor([math.inf], dtype=torch.float64)]
    )
    cell_low = torch.where(any_flip, gpad[first], inf)
    cell_high = torch.where(any_flip, gpad[first + 1], inf)
    after = torch.arange(g)[None, :] > first[:, None]
    nonmono = any_flip & (after & ~flips).any(1)
    return GridResult(grid, cell_low, cell_high, correct, nonmono)


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
