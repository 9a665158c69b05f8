"""The embedding task: how far blur moves an encoder's representation.

Registered as ``task="embedding"`` of the evaluation engine, it runs on the same
suites, severities and per-image seeds as classification (every model sees the same
blurred images), with embeddings taken by
:class:`~blurkit.models.features.FeatureEncoder` (the input of a classifier's last
linear layer, a named ``layer``, or an encoder's own ``(B, D)`` output).

Columns of ``cells.csv`` (metrics of :mod:`blurkit.robustness.latent`; blurred cell
against the clean cell of the same images):

- ``cosine`` (mean, 95 % normal interval), ``drift`` (mean relative drift, interval);
- ``retrieval_at_1`` (Wilson interval): the blurred image's nearest clean embedding is
  its own;
- ``knn_accuracy`` (Wilson interval): weighted cosine kNN, blurred queries against the
  clean embeddings of the *other* images (leave-one-out), ``k = min(20, N - 1)``;
- ``probe_accuracy`` (Wilson interval): linear probes cross-fitted on the clean
  embeddings (5 folds), each blurred image scored by the probe that never saw it;
- ``cka``: linear CKA between the clean and blurred embedding matrices.

The clean cell reads 1 / 0 / 1 / clean kNN / clean probe / 1. Label-based columns are
empty (and ``summary.json`` says why) when the data has no labels (negative labels,
e.g. a flat folder) or one image per class, instead of a meaningless zero.

Critical blur for embeddings (:func:`embedding_critical_blur`): per image, the smallest
strength at which its own clean embedding stops being its nearest clean neighbour among
the searched images, or (with ``threshold``) its cosine to it falls below the threshold;
the same bounded-pass scan + ITP search as for predictions
(:func:`~blurkit.robustness.critical.critical_blur`), through a retrieval head whose
"prediction" is the index of the nearest clean embedding.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import ParameterError, check_scalar
from .._json import to_jsonable as jsonable
from ..models.features import FeatureEncoder
from .critical import critical_blur
from .latent import (
    KNN_K,
    CrossFittedProbe,
    knn_predict,
    linear_cka,
    mean_interval,
    undefined_reason,
)
from .metrics import wilson_interval
from .tasks import Task, register_task

__all__ = ["EmbeddingTask", "RetrievalHead", "embedding_critical_blur"]


def _prop(flags: np.ndarray) -> tuple[float, float, float]:
    n = int(flags.shape[0])
    k = int(np.asarray(flags, dtype=bool).sum())
    lo, hi = wilson_interval(k, n)
    return (k / n if n else float("nan")), lo, hi


class RetrievalHead(nn.Module):
    """Scores images by cosine similarity to a gallery of clean embeddings, as "logits".

    ``logits[:, j] = cos(f(x), gallery[j])``, plus one constant column ``threshold``
    when given, so the top-1 "prediction" of image ``i`` (label ``i``) changes exactly
    when another gallery embedding comes closer than its own, or its cosine to its own
    falls below ``threshold``. The margin is the similarity gap.
    """

    def __init__(self, encoder: nn.Module, gallery: torch.Tensor, threshold: float | None = None):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("gallery", F.normalize(gallery.float(), dim=1), persistent=False)
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = F.normalize(self.encoder(x).float(), dim=1)
        sims = q @ self.gallery.T
        if self.threshold is not None:
            sims = torch.cat([sims, sims.new_full((sims.shape[0], 1), self.threshold)], 1)
        return sims


def embedding_critical_blur(
    encoder: nn.Module,
    images: torch.Tensor,
    family: str = "gaussian",
    *,
    threshold: float | None = None,
    layer: str | None = None,
    **kwargs,
):
    """Smallest blur at which each image's embedding loses its own clean neighbour.

    Args:
        encoder: a model (its embeddings by :class:`FeatureEncoder` with ``layer``).
        images: ``(N, C, H, W)`` clean images in ``[0, 1]``; their clean embeddings are
            the gallery, so ``N >= 2``.
        family: blur family (:func:`~blurkit.robustness.critical.list_families`).
        threshold: also count a cosine to the own clean embedding below this as a change.
        **kwargs: :func:`~blurkit.robustness.critical.critical_blur` options.

    Returns:
        A :class:`~blurkit.robustness.critical.CriticalBlurResult` (``correct`` marks
        images that retrieve themselves when clean).

    Example:
        >>> from blurkit.models.cifar import ResNet9
        >>> r = embedding_critical_blur(ResNet9(widths=(4, 8, 8, 8)), torch.rand(4, 3, 16, 16))
        >>> len(r), bool((r.passes <= 12).all())
        (4, True)
    """
    if threshold is not None:
        threshold = check_scalar(threshold, "threshold", low=-1.0, high=1.0)
    enc = encoder if isinstance(encoder, FeatureEncoder) else FeatureEncoder(encoder, layer)
    enc.eval()
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] < 2:
        raise ParameterError(
            "images: expected (N, C, H, W) with N >= 2 (the clean embeddings of the other "
            "images are the gallery)"
        )
    p = next(enc.parameters(), None)
    dev = p.device if p is not None else images.device
    with torch.no_grad():
        bs = int(kwargs.get("batch_size", 256))
        gallery = torch.cat([enc(images[i : i + bs].to(dev)) for i in range(0, len(images), bs)])
    head = RetrievalHead(enc, gallery, threshold).to(dev)
    labels = torch.arange(images.shape[0])
    return critical_blur(head, images, labels, family, **kwargs)


def _projection(
    clean: torch.Tensor,
    blurred: torch.Tensor,
    labels: torch.Tensor | None,
    classes: int = 4,
    per_class: int = 10,
) -> dict:
    """2-D PCA (fitted on the clean embeddings) of a few images of a few classes, clean and
    blurred, for the report's drift arrows. Deterministic: the lowest class indices and
    the first images of each."""
    n = clean.shape[0]
    if labels is None:
        rows = torch.arange(min(n, classes * per_class))
    else:
        keep = [c for c in torch.unique(labels).tolist()[:classes]]
        rows = torch.cat([(labels == c).nonzero()[:per_class, 0] for c in keep])
    if rows.numel() < 3:
        return {}
    c, b = clean[rows].double(), blurred[rows].double()
    mu = c.mean(0)
    _, _, v = torch.linalg.svd(c - mu, full_matrices=False)
    basis = v[:2].T
    return {
        "clean": np.round(((c - mu) @ basis).numpy(), 5).tolist(),
        "blurred": np.round(((b - mu) @ basis).numpy(), 5).tolist(),
        "labels": None if labels is None else labels[rows].tolist(),
    }


@register_task("embedding")
class EmbeddingTask(Task):
    """Representation drift under blur (module docstring).

    Args:
        layer: which features (``FeatureEncoder``'s ``layer``; ``None``: pre-logits).
        k: neighbours of the kNN classifier (lowered to ``N - 1`` on small sets).
        folds: folds of the cross-fitted linear probe.
        threshold: cosine threshold of the embedding critical blur (``None``: the
            nearest-neighbour criterion only).
    """

    columns = (
        "cosine",
        "cosine_low",
        "cosine_high",
        "drift",
        "drift_low",
        "drift_high",
        "retrieval_at_1",
        "retrieval_low",
        "retrieval_high",
        "knn_accuracy",
        "knn_low",
        "knn_high",
        "probe_accuracy",
        "probe_low",
        "probe_high",
        "cka",
    )

    def __init__(
        self,
        layer: str | None = None,
        k: int = KNN_K,
        folds: int = 5,
        threshold: float | None = None,
    ) -> None:
        self.layer = layer
        self.k = int(k)
        self.folds = int(folds)
        self.threshold = threshold
        self._encoders: dict[int, FeatureEncoder] = {}
        self._probe_key = None
        self._probe = None

    @classmethod
    def for_model(cls, model, dataset, config=None, **options) -> EmbeddingTask:
        unknown = set(options) - {"layer", "k", "folds", "threshold"}
        if unknown:
            raise ParameterError(
                f"task_options: embedding takes 'layer', 'k', 'folds', 'threshold', got "
                f"{sorted(unknown)}"
            )
        task = cls(**options)
        task._encoder(model)  # a wrong layer name fails here, before any image is read
        return task

    def config(self) -> dict:
        return {"layer": self.layer, "k": self.k, "folds": self.folds, "threshold": self.threshold}

    @classmethod
    def from_config(cls, config: Mapping) -> EmbeddingTask:
        return cls(
            layer=config.get("layer"),
            k=config.get("k", KNN_K),
            folds=config.get("folds", 5),
            threshold=config.get("threshold"),
        )

    def _encoder(self, model: nn.Module) -> FeatureEncoder:
        if isinstance(model, FeatureEncoder):
            return model
        enc = self._encoders.get(id(model))
        if enc is None:
            enc = self._encoders[id(model)] = FeatureEncoder(model, self.layer)
        return enc

    def outputs(self, model, x):
        return self._encoder(model)(x)

    def records(self, outputs, labels, indices, clean=None):
        emb = outputs.float()
        rec = {"emb": emb.cpu().numpy(), "label": labels.cpu().numpy()}
        if clean is not None:
            c = clean.float()
            rec["cos"] = F.cosine_similarity(emb, c, dim=1, eps=1e-12).cpu().numpy()
            rec["drift"] = ((emb - c).norm(dim=1) / c.norm(dim=1).clamp_min(1e-12)).cpu().numpy()
        return rec

    def _labels(self, records) -> tuple[torch.Tensor | None, str | None]:
        y = torch.from_numpy(np.asarray(records["label"])).long()
        if y.numel() and bool((y < 0).any()):
            return None, "no labels"
        return y, undefined_reason(y)

    def metrics(self, records, corruption, clean=None):
        emb = torch.from_numpy(np.asarray(records["emb"], dtype=np.float32))
        ref = emb if clean is None else torch.from_numpy(np.asarray(clean["emb"], np.float32))
        n = emb.shape[0]
        row = dict.fromkeys(self.columns)
        if clean is None:
            row.update(cosine=1.0, drift=0.0, retrieval_at_1=1.0, cka=1.0)
        else:
            row["cosine"], row["cosine_low"], row["cosine_high"] = mean_interval(
                torch.from_numpy(np.asarray(records["cos"]))
            )
            row["drift"], row["drift_low"], row["drift_high"] = mean_interval(
                torch.from_numpy(np.asarray(records["drift"]))
            )
            q, g = F.normalize(emb, dim=1), F.normalize(ref, dim=1)
            hits = np.empty(n, dtype=bool)
            for s in range(0, n, 1024):  # bounded memory: 1024 x N similarities at a time
                sim = q[s : s + 1024] @ g.T
                own = sim[torch.arange(sim.shape[0]), torch.arange(s, s + sim.shape[0])]
                hits[s : s + 1024] = ((sim > own[:, None]).sum(1) == 0).numpy()
            row["retrieval_at_1"], row["retrieval_low"], row["retrieval_high"] = _prop(hits)
            row["cka"] = linear_cka(ref, emb) if n > 1 else None
        y, why = self._labels(records)
        self._extras = {} if clean is None else {"pca": _projection(ref, emb, y)}
        if why is None:
            kk = min(self.k, n - 1)
            pred = knn_predict(emb, ref, y, k=kk, leave_one_out=True)
            row["knn_accuracy"], row["knn_low"], row["knn_high"] = _prop((pred == y).numpy())
            probe = self._fitted_probe(ref, y)
            hit = (probe.predict(emb) == y).numpy()
            row["probe_accuracy"], row["probe_low"], row["probe_high"] = _prop(hit)
        return row

    def _fitted_probe(self, ref: torch.Tensor, y: torch.Tensor) -> CrossFittedProbe:
        # fitted once on the clean cell, reused for every blurred cell of the model
        key = (ref.shape, float(ref.sum()), float(ref[0].sum()) if len(ref) else 0.0)
        if self._probe_key != key:
            self._probe = CrossFittedProbe(ref, y, folds=min(self.folds, ref.shape[0]))
            self._probe_key = key
        return self._probe

    def cell_extras(self, records):
        extras = {"indices": np.asarray(records["indices"]).tolist()}
        if "cos" in records:
            extras["cosine"] = np.round(np.asarray(records["cos"], dtype=np.float64), 6).tolist()
        extras.update(getattr(self, "_extras", {}))
        self._extras = {}
        return extras

    def summarize(self, store, models, baseline=None):

        out = {"schema": 1, "task": "embedding", "models": {}, "baseline": baseline}
        for m in models:
            rows = [r for r in store.rows([m]) if r["model"] == m]
            clean = next((r for r in rows if r["corruption"] == "clean"), {})
            blur = [r for r in rows if r["corruption"] != "clean"]

            def mean(col, rs):
                vals = [float(r[col]) for r in rs if r.get(col) not in (None, "")]
                return sum(vals) / len(vals) if vals else None

            per = {}
            for r in blur:
                per.setdefault(r["corruption"], []).append(r)
            entry = {
                "clean_knn_accuracy": clean.get("knn_accuracy"),
                "clean_probe_accuracy": clean.get("probe_accuracy"),
                **{f"mean_{c}": mean(c, blur) for c in ("cosine", "drift", "retrieval_at_1",
                                                      "knn_accuracy", "probe_accuracy", "cka")},
                "corruptions": {
                    c: {k: mean(k, rs) for k in ("cosine", "drift", "retrieval_at_1",
                                                 "knn_accuracy", "cka")}
                    for c, rs in per.items()
                },
            }  # fmt: skip
            if clean and clean.get("knn_accuracy") in (None, ""):
                entry["undefined"] = (
                    "kNN and probe accuracy need labels and some class with two or more "
                    "images (e.g. one image per class leaves them undefined)"
                )
            crit = {}
            for rec in store.records(m, "critical"):
                crit[rec.get("family", "")] = rec.get("summary")
            if crit:
                entry["critical"] = crit
            out["models"][m] = jsonable(entry)
        return out

    def critical(self, model, images, labels, family, seed, **kwargs):
        res = embedding_critical_blur(
            self._encoder(model), images, family, threshold=self.threshold, seed=int(seed),
            **kwargs,
        )  # fmt: skip
        return {
            "unit": res.unit,
            "criterion": "nearest clean neighbour"
            + (f" or cosine < {self.threshold}" if self.threshold is not None else ""),
            "summary": jsonable(res.summary()),
            "strength": jsonable(res.strength),
            "ssim": jsonable(res.ssim),
            "correct": jsonable(res.correct),
            "flipped": jsonable(res.flipped),
        }
