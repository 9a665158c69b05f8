"""Per-image plumbing shared by the critical-blur search and the blur attacks.

Labels checked against a batch, the per-image settings a family draws (or the caller
gives), their slicing to a sub-batch, the search bracket's defaults, the model's device
and eval mode, and the classification margin the searches use.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from .._checks import ParameterError, ShapeError, check_scalar
from .._seeds import check_seed

if TYPE_CHECKING:
    from .families import BlurFamily

__all__ = ["classification_margin"]


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
