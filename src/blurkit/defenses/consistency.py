"""Jensen-Shannon consistency between the predictions on clean and blurred views.

Why: a classifier robust to blur should predict the same distribution for an
image and its blurred copies. AugMix (Hendrycks et al., ICLR 2020,
arXiv:1912.02781) adds to the clean cross-entropy ``lambda * JS(p_clean, p_aug1,
p_aug2)``, the Jensen-Shannon divergence among the views' softmax outputs,
``JS = 1/n sum_i KL(p_i || M)`` with ``M`` the mean distribution; it is
symmetric in the views, zero when they agree and at most ``log n``. AugMix uses
``lambda = 12`` with two augmented views.

Written here (a few lines) because it is not in PyTorch; the formula and the
clamping of ``M`` follow AugMix's reference training script.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._checks import ParameterError, ShapeError, check_scalar

__all__ = ["js_divergence", "consistency_loss", "AUGMIX_WEIGHT"]

#: the consistency weight AugMix uses
AUGMIX_WEIGHT = 12.0


def js_divergence(*logits: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Generalised Jensen-Shannon divergence among the softmax distributions of ``logits``.

    Args:
        *logits: two or more ``(B, K)`` logit tensors (one per view of the same images).
        reduction: ``"mean"`` over the batch, ``"sum"`` or ``"none"`` (``(B,)``).

    Returns:
        ``1/n sum_i KL(p_i || M)``, ``M = 1/n sum_i p_i``, in nats; in ``[0, log n]``.

    Example:
        >>> a = torch.tensor([[2.0, 0.0]])
        >>> float(js_divergence(a, a))
        0.0
        >>> big = torch.tensor([[50.0, -50.0]])
        >>> round(float(js_divergence(big, -big)), 4) == round(math.log(2), 4)
        True
    """
    if len(logits) < 2:
        raise ParameterError(f"logits: expected at least two views, got {len(logits)}")
    shape = logits[0].shape
    for i, z in enumerate(logits):
        if z.ndim != 2 or z.shape != shape:
            raise ShapeError(
                f"logits[{i}]: expected shape {tuple(shape)} (B, K) like logits[0], "
                f"got {tuple(z.shape)}"
            )
    if reduction not in ("mean", "sum", "none"):
        raise ParameterError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")
    logp = [F.log_softmax(z.float() if z.dtype in (torch.float16, torch.bfloat16) else z, 1)
            for z in logits]  # fmt: skip
    n = len(logp)
    # log M by log-sum-exp (exact where the AugMix script clamps M at 1e-7)
    log_m = torch.logsumexp(torch.stack(logp), 0) - math.log(n)
    per = sum((lp.exp() * (lp - log_m)).sum(1) for lp in logp) / n
    per = per.clamp_min(0.0)
    if reduction == "mean":
        return per.mean()
    if reduction == "sum":
        return per.sum()
    return per


def consistency_loss(
    clean_logits: torch.Tensor,
    *view_logits: torch.Tensor,
    labels: torch.Tensor,
    weight: float = AUGMIX_WEIGHT,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """AugMix's objective: cross-entropy on the clean view plus ``weight`` times the JS term.

    Args:
        clean_logits: ``(B, K)`` logits of the clean images.
        *view_logits: one or more ``(B, K)`` logits of blurred views of the same images.
        labels: ``(B,)`` class indices.
        weight: the consistency weight ``lambda`` (0 gives plain cross-entropy).
        label_smoothing: of the cross-entropy term.

    Example:
        >>> z = torch.randn(4, 3)
        >>> y = torch.tensor([0, 1, 2, 0])
        >>> torch.allclose(consistency_loss(z, z, labels=y), F.cross_entropy(z, y))
        True
    """
    w = check_scalar(weight, "weight", low=0.0)
    ce = F.cross_entropy(clean_logits, labels, label_smoothing=label_smoothing)
    if not view_logits or w == 0:
        return ce
    return ce + w * js_divergence(clean_logits, *view_logits)
