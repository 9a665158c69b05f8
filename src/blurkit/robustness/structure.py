"""Latent structure of models on clean images: what robustness training did to the features.

Robust training can cost "predictive performance and latent space structures"; this
module measures the second on clean images, without blur, so models can be put side by
side: clean kNN accuracy (leave-one-out), a cross-fitted linear probe, class separation,
and linear CKA to a reference model (by default the first one given). The metrics are
those of :mod:`blurkit.robustness.latent`; label-based ones are reported as undefined,
with the reason, where the data cannot support them (e.g. one image per class).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .._checks import DTypeError, ParameterError, check_int
from ..models.features import FeatureEncoder
from .latent import (
    KNN_K,
    CrossFittedProbe,
    class_separation,
    knn_predict,
    linear_cka,
    undefined_reason,
)
from .seeds import spread_positions

__all__ = ["embed_dataset", "latent_structure"]


def _batches(data, batch_size: int):
    """``(images, labels | None)`` batches from a DataLoader or a map-style dataset of
    ``(image, label[, index])`` items (``None`` items, undecodable files, are skipped)."""
    from torch.utils.data import DataLoader

    if isinstance(data, DataLoader):
        yield from (_split(b) for b in data if b is not None)
        return
    if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        raise DTypeError(
            f"data: expected a map-style dataset or a DataLoader, got {type(data).__name__}"
        )
    buf: list = []
    for i in range(len(data)):
        item = data[i]
        if item is None:
            continue
        buf.append(item)
        if len(buf) == batch_size:
            yield _split(_stack(buf))
            buf = []
    if buf:
        yield _split(_stack(buf))


def _stack(items):
    xs = torch.stack([it[0] if isinstance(it, (tuple, list)) else it for it in items])
    if isinstance(items[0], (tuple, list)) and len(items[0]) > 1:
        return xs, torch.tensor([int(it[1]) for it in items], dtype=torch.long)
    return xs, None


def _split(batch):
    if isinstance(batch, torch.Tensor):
        return batch, None
    return batch[0], (batch[1] if len(batch) > 1 else None)


@torch.no_grad()
def embed_dataset(
    model: nn.Module,
    data,
    *,
    layer: str | None = None,
    batch_size: int = 100,
    limit: int | None = None,
    device: str | torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Clean embeddings of a dataset: ``(N, D)`` float32 on the CPU, and ``(N,)`` labels.

    Args:
        model: a classifier or encoder (see :class:`~blurkit.models.features.FeatureEncoder`).
        data: a map-style dataset of ``(image, label[, index])`` (images as the model
            takes them) or a DataLoader of such batches.
        layer: which features (``FeatureEncoder``'s ``layer``).
        batch_size: images per forward pass (map-style datasets).
        limit: embed at most this many images, spread evenly over a map-style dataset (as
            the evaluation's ``limit``: a class-sorted folder keeps every class).
        device: where the model runs (default: its parameters' device).
    """
    batch_size = check_int(batch_size, "batch_size", low=1)
    if limit is not None:
        limit = check_int(limit, "limit", low=1)
    from torch.utils.data import DataLoader, Subset

    if limit is not None and not isinstance(data, DataLoader) and hasattr(data, "__len__"):
        if limit < len(data):
            data = Subset(data, spread_positions(len(data), limit))
    enc = model if isinstance(model, FeatureEncoder) else FeatureEncoder(model, layer)
    enc.eval()
    if device is None:
        p = next(enc.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    enc.to(device)
    feats, labels, n = [], [], 0
    for x, y in _batches(data, batch_size):
        if limit is not None and n >= limit:
            break
        if limit is not None:
            x = x[: limit - n]
            y = None if y is None else y[: limit - n]
        feats.append(enc(x.to(device)).float().cpu())
        if y is not None:
            labels.append(y.long().cpu())
        n += x.shape[0]
    if not feats:
        raise ParameterError("data: no images to embed")
    lab = torch.cat(labels) if len(labels) == len(feats) else None
    return torch.cat(feats), lab


def latent_structure(
    models: Mapping[str, nn.Module] | Sequence[nn.Module],
    data,
    *,
    reference: str | None = None,
    layer: str | None = None,
    k: int = KNN_K,
    folds: int = 5,
    batch_size: int = 100,
    limit: int | None = None,
    device: str | torch.device | None = None,
) -> list[dict]:
    """Clean latent structure of each model, one row per model.

    Columns: ``model``, ``dim``, ``images``, ``knn_accuracy`` (leave-one-out weighted
    cosine kNN; ``k`` is lowered to ``N - 1`` on a small set and reported as
    ``knn_k``), ``probe_accuracy`` (linear probe cross-fitted over ``folds``),
    ``separation`` (between/within-class scatter), ``cka_to_reference`` (linear CKA to
    the ``reference`` model's embeddings of the same images; 1 for the reference
    itself), and ``undefined`` (why the label-based columns are ``None``, if they are).

    Example:
        >>> from blurkit.models.cifar import ResNet9
        >>> nets = {"a": ResNet9(widths=(4, 8, 8, 8)), "b": ResNet9(widths=(4, 8, 8, 16))}
        >>> data = [(torch.rand(3, 32, 32), i % 2) for i in range(12)]
        >>> rows = latent_structure(nets, data, folds=3)
        >>> [r["model"] for r in rows], round(rows[0]["cka_to_reference"], 6)
        (['a', 'b'], 1.0)
    """
    if not isinstance(models, Mapping):
        models = {getattr(m, "name", "") or f"model{i}": m for i, m in enumerate(models)}
    if not models:
        raise ParameterError("models: expected at least one model")
    names = list(models)
    reference = names[0] if reference is None else reference
    if reference not in models:
        raise ParameterError(f"reference: expected one of {names}, got {reference!r}")
    k = check_int(k, "k", low=1)
    embedded = {
        n: embed_dataset(m, data, layer=layer, batch_size=batch_size, limit=limit, device=device)
        for n, m in models.items()
    }
    ref = embedded[reference][0]
    rows = []
    for name, (feats, labels) in embedded.items():
        why = undefined_reason(labels)
        row = {
            "model": name,
            "dim": int(feats.shape[1]),
            "images": int(feats.shape[0]),
            "knn_k": None,
            "knn_accuracy": None,
            "probe_accuracy": None,
            "separation": None,
            "cka_to_reference": linear_cka(feats, ref) if feats.shape[0] > 1 else None,
            "reference": reference,
            "undefined": why,
        }
        if why is None:
            kk = min(k, feats.shape[0] - 1)
            pred = knn_predict(feats, feats, labels, k=kk, leave_one_out=True)
            row["knn_k"] = kk
            row["knn_accuracy"] = float((pred == labels).float().mean())
            f = min(folds, feats.shape[0])
            row["probe_accuracy"] = float(
                (CrossFittedProbe(feats, labels, folds=f).predict(feats) == labels).float().mean()
            )
            row["separation"] = class_separation(feats, labels)
        rows.append(row)
    return rows
