"""How far blur moves a representation: metrics between clean and blurred embeddings.

An encoder maps each image to a feature vector; these functions compare the
``(N, D)`` matrix of clean embeddings with the matrix of the same images blurred,
and describe the structure of one embedding space. Each returns per-image values
where one exists (so an evaluation cell can report a mean with a 95 % interval)
and a single number where the statistic is a property of the whole set.

Directions and references:

- :func:`cosine_similarity` (higher is better, 1 for identical embeddings) and
  :func:`relative_drift` ``||f(blurred) - f(clean)|| / ||f(clean)||`` (lower is
  better, 0 for identical): the two plain readings of representation stability
  (e.g. Zheng et al., "Improving the Robustness of Deep Neural Networks via
  Stability Training", CVPR 2016, doi:10.1109/CVPR.2016.485).
- :func:`retrieval_at_1` (higher is better): whether the nearest clean embedding
  of a blurred image, by cosine, is its own; instance retrieval under
  corruption.
- :func:`knn_predict` / :func:`knn_correct` (higher is better): the weighted
  k-nearest-neighbour classifier used to evaluate self-supervised features
  (Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance
  Discrimination", CVPR 2018, doi:10.1109/CVPR.2018.00393; Caron et al., DINO,
  ICCV 2021): cosine similarity, the ``k = 20`` nearest gallery items vote with
  weight ``exp(s / T)``, ``T = 0.07``.
- :class:`LinearProbe` (higher is better): multinomial logistic regression fitted
  on clean embeddings and tested on blurred ones (the linear evaluation
  protocol; Kolesnikov et al., CVPR 2019, doi:10.1109/CVPR.2019.00202).
- :func:`linear_cka` (in [0, 1], 1 when the two spaces are the same up to an
  orthogonal transform and isotropic scaling): centred kernel alignment with a
  linear kernel (Kornblith et al., "Similarity of Neural Network Representations
  Revisited", ICML 2019, arXiv:1905.00414).
- :func:`class_separation` (higher is better): the ratio of between-class to
  within-class scatter, ``tr(S_b) / tr(S_w)`` (Fisher's criterion, the trace form).

Written by hand: each is a few lines of tensor algebra on the encoder's device,
run once per evaluation cell; scikit-learn (which has kNN and logistic
regression, and pins them in the tests) is not a core dependency and works on
NumPy arrays on the CPU only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._checks import DTypeError, ParameterError, ShapeError, check_int, check_scalar
from .._seeds import make_generator

__all__ = [
    "KNN_K",
    "KNN_TEMPERATURE",
    "cosine_similarity",
    "relative_drift",
    "retrieval_at_1",
    "knn_predict",
    "knn_correct",
    "LinearProbe",
    "CrossFittedProbe",
    "undefined_reason",
    "linear_cka",
    "class_separation",
    "mean_interval",
]

#: neighbours and temperature of the weighted kNN classifier (Wu et al. 2018; DINO)
KNN_K = 20
KNN_TEMPERATURE = 0.07


def _check_embeddings(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise DTypeError(f"{name}: expected a (N, D) tensor of embeddings, got {type(x).__name__}")
    if x.ndim != 2:
        raise ShapeError(
            f"{name}: expected embeddings of shape (N, D), got shape {tuple(x.shape)}; "
            "an encoder must return one feature vector per image"
        )
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    return x


def _check_pair(clean: object, blurred: object) -> tuple[torch.Tensor, torch.Tensor]:
    clean = _check_embeddings(clean, "clean")
    blurred = _check_embeddings(blurred, "blurred")
    if clean.shape != blurred.shape:
        raise ShapeError(
            f"blurred: expected the shape of clean {tuple(clean.shape)} (the same images), "
            f"got {tuple(blurred.shape)}"
        )
    return clean, blurred


def _check_labels(labels: object, n: int, name: str = "labels") -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.shape[0] != n:
        got = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ShapeError(f"{name}: expected a ({n},) tensor of class indices, got {got}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise DTypeError(f"{name}: expected integer class indices, got dtype {labels.dtype}")
    return labels.long()


def cosine_similarity(clean: torch.Tensor, blurred: torch.Tensor) -> torch.Tensor:
    """Per-image cosine similarity between clean and blurred embeddings, ``(N,)``.

    Example:
        >>> x = torch.randn(4, 8)
        >>> torch.allclose(cosine_similarity(x, x), torch.ones(4))
        True
    """
    clean, blurred = _check_pair(clean, blurred)
    return F.cosine_similarity(clean, blurred, dim=1, eps=1e-12)


def relative_drift(clean: torch.Tensor, blurred: torch.Tensor) -> torch.Tensor:
    """Per-image relative drift ``||blurred - clean|| / ||clean||``, ``(N,)`` (0: unchanged).

    Example:
        >>> relative_drift(torch.tensor([[3.0, 4.0]]), torch.tensor([[3.0, 9.0]]))
        tensor([1.])
    """
    clean, blurred = _check_pair(clean, blurred)
    return (blurred - clean).norm(dim=1) / clean.norm(dim=1).clamp_min(1e-12)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=1, eps=1e-12)


def retrieval_at_1(clean: torch.Tensor, blurred: torch.Tensor) -> torch.Tensor:
    """Whether each blurred image's nearest clean embedding (cosine) is its own: ``(N,)`` bool.

    Ties go to the image itself (an identical pair always retrieves itself).

    Example:
        >>> x = torch.eye(3)
        >>> retrieval_at_1(x, x).tolist()
        [True, True, True]
    """
    clean, blurred = _check_pair(clean, blurred)
    sim = _unit(blurred) @ _unit(clean).T
    own = sim.diagonal()
    return (sim > own[:, None]).sum(1) == 0


def knn_predict(
    queries: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    *,
    k: int = KNN_K,
    temperature: float = KNN_TEMPERATURE,
    num_classes: int | None = None,
    leave_one_out: bool = False,
    chunk: int = 1024,
) -> torch.Tensor:
    """Weighted kNN labels of ``queries`` against a labelled gallery (cosine; module docstring).

    Args:
        queries: ``(Q, D)`` embeddings to classify (e.g. blurred images).
        gallery: ``(G, D)`` labelled embeddings (e.g. clean images).
        gallery_labels: ``(G,)`` class indices.
        k: neighbours that vote; at most ``G`` (``G - 1`` with ``leave_one_out``).
        temperature: the vote of a neighbour at similarity ``s`` is ``exp(s / T)``.
        num_classes: number of classes (default: ``max(label) + 1``).
        leave_one_out: query ``i`` is gallery item ``i`` seen another way (the clean
            version of a blurred image): it is left out of its own vote.
        chunk: queries per similarity block (bounds memory at ``chunk x G``).

    Returns:
        ``(Q,)`` predicted class indices.

    Raises:
        ParameterError: fewer gallery items than ``k`` (+1 with ``leave_one_out``).
    """
    queries = _check_embeddings(queries, "queries")
    gallery = _check_embeddings(gallery, "gallery")
    if queries.shape[1] != gallery.shape[1]:
        raise ShapeError(
            f"queries: expected dimension {gallery.shape[1]} (the gallery's), got {queries.shape[1]}"
        )
    labels = _check_labels(gallery_labels, gallery.shape[0], "gallery_labels")
    k = check_int(k, "k", low=1)
    t = check_scalar(temperature, "temperature", low=0.0, low_inclusive=False)
    if leave_one_out and queries.shape[0] != gallery.shape[0]:
        raise ShapeError("leave_one_out: expected as many queries as gallery items")
    avail = gallery.shape[0] - int(leave_one_out)
    if avail < k:
        raise ParameterError(
            f"k: the kNN vote needs at least k = {k} gallery images"
            f"{' besides the query itself' if leave_one_out else ''}, got {avail}; "
            "pass a smaller k or a larger gallery"
        )
    c = (
        int(labels.max()) + 1
        if num_classes is None
        else check_int(num_classes, "num_classes", low=1)
    )
    g = _unit(gallery)
    out = torch.empty(queries.shape[0], dtype=torch.long, device=queries.device)
    for s in range(0, queries.shape[0], chunk):
        q = _unit(queries[s : s + chunk])
        sim = q @ g.T
        if leave_one_out:
            rows = torch.arange(q.shape[0], device=sim.device)
            sim[rows, rows + s] = -math.inf
        top, idx = sim.topk(k, dim=1)
        w = torch.exp(top / t)
        votes = torch.zeros(q.shape[0], c, dtype=w.dtype, device=w.device)
        votes.scatter_add_(1, labels[idx], w)
        out[s : s + chunk] = votes.argmax(1)
    return out


def knn_correct(
    queries: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    query_labels: torch.Tensor,
    **kwargs,
) -> torch.Tensor:
    """``(Q,)`` bool: whether :func:`knn_predict` gives each query its label."""
    ql = _check_labels(query_labels, queries.shape[0] if isinstance(queries, torch.Tensor) else -1)
    return knn_predict(queries, gallery, gallery_labels, **kwargs) == ql


class LinearProbe:
    """Multinomial logistic regression on standardised embeddings (the linear probe).

    Minimises ``sum_i CE(W z_i + b, y_i) + ||W||^2 / (2 C)`` (the intercept is not
    penalised), with ``z`` the embeddings standardised by the training set's mean and
    standard deviation, by L-BFGS in float64: the objective of scikit-learn's
    ``LogisticRegression(C=C)`` on standardised input, which the tests pin.

    Args:
        C: inverse regularisation strength (scikit-learn's default 1.0).
        max_iter: L-BFGS iterations.

    Example:
        >>> x = torch.cat([torch.randn(20, 3) + 3, torch.randn(20, 3) - 3])
        >>> y = torch.tensor([0] * 20 + [1] * 20)
        >>> float((LinearProbe().fit(x, y).predict(x) == y).float().mean())
        1.0
    """

    def __init__(self, C: float = 1.0, max_iter: int = 100) -> None:
        self.C = check_scalar(C, "C", low=0.0, low_inclusive=False)
        self.max_iter = check_int(max_iter, "max_iter", low=1, high=100_000)
        self.weight: torch.Tensor | None = None

    def fit(self, x: torch.Tensor, y: torch.Tensor, num_classes: int | None = None) -> LinearProbe:
        x = _check_embeddings(x, "embeddings")
        y = _check_labels(y, x.shape[0])
        classes = torch.unique(y)
        if classes.numel() < 2:
            raise ParameterError(
                f"labels: a linear probe needs at least 2 classes, got {classes.numel()}"
            )
        c = (
            int(y.max()) + 1
            if num_classes is None
            else check_int(num_classes, "num_classes", low=2)
        )
        x64 = x.detach().to(torch.float64)
        self.mean = x64.mean(0)
        self.scale = x64.std(0, unbiased=False).clamp_min(1e-12)
        z = (x64 - self.mean) / self.scale
        w = torch.zeros(c, z.shape[1], dtype=torch.float64, device=z.device, requires_grad=True)
        b = torch.zeros(c, dtype=torch.float64, device=z.device, requires_grad=True)
        opt = torch.optim.LBFGS(
            [w, b], max_iter=self.max_iter, tolerance_grad=1e-6, tolerance_change=1e-9,
            history_size=20, line_search_fn="strong_wolfe",
        )  # fmt: skip
        yd = y.to(z.device)

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(z @ w.T + b, yd, reduction="sum") + (w * w).sum() / (2 * self.C)
            loss.backward()
            return loss

        opt.step(closure)
        self.weight, self.bias = w.detach(), b.detach()
        return self

    def decision_function(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, classes)`` logits of the fitted probe."""
        if self.weight is None:
            raise ParameterError("LinearProbe: call fit() before predict()")
        x = _check_embeddings(x, "embeddings")
        if x.shape[1] != self.weight.shape[1]:
            raise ShapeError(
                f"embeddings: expected dimension {self.weight.shape[1]} (the fitted probe's), "
                f"got {x.shape[1]}"
            )
        z = (x.detach().to(torch.float64) - self.mean) / self.scale
        return z @ self.weight.T + self.bias

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``(N,)`` predicted class indices."""
        return self.decision_function(x).argmax(1)


class CrossFittedProbe:
    """Linear probes cross-fitted over folds of one labelled set, so every image is scored by
    a probe that never saw it.

    The images are dealt into ``folds`` folds by a seeded permutation; probe ``f`` is
    fitted on the clean embeddings outside fold ``f``. :meth:`predict` scores image ``i``
    (clean or blurred) with the probe of its own fold. Fitted once on the clean cell and
    reused for every blurred cell, so all cells are scored by the same probes.

    Args:
        clean: ``(N, D)`` clean embeddings.
        labels: ``(N,)`` class indices.
        folds: number of folds (at least 2, at most ``N``).
        seed: seed of the fold assignment.
        C: the probes' inverse regularisation strength (as :class:`LinearProbe`).
        max_iter: L-BFGS iterations of the joint fit.

    Example:
        >>> x = torch.cat([torch.randn(20, 3) + 3, torch.randn(20, 3) - 3])
        >>> y = torch.tensor([0] * 20 + [1] * 20)
        >>> float((CrossFittedProbe(x, y).predict(x) == y).float().mean())
        1.0
    """

    def __init__(
        self,
        clean: torch.Tensor,
        labels: torch.Tensor,
        folds: int = 5,
        seed: int = 0,
        C: float = 1.0,
        max_iter: int = 100,
    ) -> None:
        clean = _check_embeddings(clean, "clean")
        labels = _check_labels(labels, clean.shape[0])
        n = clean.shape[0]
        folds = check_int(folds, "folds", low=2)
        if folds > n:
            raise ParameterError(f"folds: expected at most {n} (one image per fold), got {folds}")
        g = make_generator(seed)
        self.fold = torch.empty(n, dtype=torch.long)
        self.fold[torch.randperm(n, generator=g)] = torch.arange(n) % folds
        c = int(labels.max()) + 1
        if torch.unique(labels).numel() < 2:
            raise ParameterError("labels: a linear probe needs at least 2 classes, got 1")
        # one standardisation for all folds (label-free statistics of the clean set), and
        # the folds' objectives summed into one L-BFGS problem: it is separable, so each
        # fold's block reaches that fold's own optimum, at one solver's overhead
        x64 = clean.detach().to(torch.float64)
        self.mean = x64.mean(0)
        self.scale = x64.std(0, unbiased=False).clamp_min(1e-12)
        z = (x64 - self.mean) / self.scale
        dev = z.device
        train = (self.fold[None, :] != torch.arange(folds)[:, None]).to(dev, torch.float64)
        y = labels.to(dev)
        w = torch.zeros(folds, c, z.shape[1], dtype=torch.float64, device=dev, requires_grad=True)
        b = torch.zeros(folds, c, dtype=torch.float64, device=dev, requires_grad=True)
        opt = torch.optim.LBFGS(
            [w, b], max_iter=max_iter, tolerance_grad=1e-6, tolerance_change=1e-9,
            history_size=20, line_search_fn="strong_wolfe",
        )  # fmt: skip

        def closure():
            opt.zero_grad()
            logits = torch.einsum("nd,fcd->fnc", z, w) + b[:, None, :]  # (F, N, C)
            ce = F.cross_entropy(logits.reshape(-1, c), y.repeat(folds), reduction="none")
            loss = (ce.view(folds, -1) * train).sum() + (w * w).sum() / (2 * C)
            loss.backward()
            return loss

        opt.step(closure)
        self.weight, self.bias = w.detach(), b.detach()

    def predict(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(N,)`` class indices: image ``i`` by the probe of its fold."""
        x = _check_embeddings(embeddings, "embeddings")
        if x.shape[0] != self.fold.shape[0]:
            raise ShapeError(
                f"embeddings: expected {self.fold.shape[0]} rows (the images the probes were "
                f"cross-fitted on), got {x.shape[0]}"
            )
        z = (x.detach().to(torch.float64) - self.mean) / self.scale
        w = self.weight[self.fold.to(z.device)]  # (N, C, D): each image's own fold's probe
        logits = torch.einsum("nd,ncd->nc", z, w) + self.bias[self.fold.to(z.device)]
        return logits.argmax(1).cpu()


def undefined_reason(labels: torch.Tensor | None) -> str | None:
    """Why label-based metrics (kNN, probe, separation) are undefined on this set, or ``None``.

    They need labels, at least two classes, and some class with two images or more:
    with one image per class, leave-one-out kNN and a cross-fitted probe can never be
    right, and a zero there would say nothing about the embedding.

    >>> undefined_reason(torch.tensor([0, 1, 2]))
    'one image per class: no image has a same-class neighbour'
    """
    if labels is None:
        return "no labels"
    if labels.numel() == 0:
        return "no images"
    _, counts = torch.unique(labels, return_counts=True)
    if counts.numel() < 2:
        return "one class only"
    if int(counts.max()) < 2:
        return "one image per class: no image has a same-class neighbour"
    return None


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between two representations of the same ``N`` images (Kornblith et al. 2019).

    ``||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F)`` with column-centred
    ``X_c, Y_c``; the dimensions may differ. Invariant to orthogonal transforms and
    isotropic scaling of either argument; 1 for identical inputs.

    Example:
        >>> x = torch.randn(50, 6, dtype=torch.float64)
        >>> q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
        >>> round(linear_cka(x, 3.0 * x @ q), 6)
        1.0
    """
    x = _check_embeddings(x, "x")
    y = _check_embeddings(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ShapeError(f"y: expected {x.shape[0]} rows (the same images as x), got {y.shape[0]}")
    if x.shape[0] < 2:
        raise ParameterError(f"x: linear CKA needs at least 2 images, got {x.shape[0]}")
    x = x.detach().to(torch.float64)
    y = y.detach().to(torch.float64)
    x = x - x.mean(0)
    y = y - y.mean(0)
    # the Gram form costs O(N^2 D) and the feature form O(N D^2): take the cheaper
    if x.shape[0] <= max(x.shape[1], y.shape[1]):
        kx, ky = x @ x.T, y @ y.T
        hsic, nx, ny = (kx * ky).sum(), kx.norm(), ky.norm()
    else:
        hsic = (y.T @ x).square().sum()
        nx, ny = (x.T @ x).norm(), (y.T @ y).norm()
    den = nx * ny
    return float(hsic / den) if den > 0 else float("nan")


def class_separation(x: torch.Tensor, labels: torch.Tensor) -> float:
    """Between-class over within-class scatter, ``tr(S_b) / tr(S_w)`` (higher: better separated).

    ``S_b = sum_c n_c (mu_c - mu)(mu_c - mu)^T`` and ``S_w = sum_i (x_i - mu_{y_i})(...)^T``;
    only the traces are needed, so nothing of size ``D x D`` is formed.

    Example:
        >>> x = torch.tensor([[0.0], [0.2], [10.0], [10.2]])
        >>> round(class_separation(x, torch.tensor([0, 0, 1, 1])), 1)
        2500.0
    """
    x = _check_embeddings(x, "embeddings").detach().to(torch.float64)
    y = _check_labels(labels, x.shape[0])
    classes, inv, counts = torch.unique(y, return_inverse=True, return_counts=True)
    if classes.numel() < 2:
        raise ParameterError(
            f"labels: class separation needs at least 2 classes, got {classes.numel()}"
        )
    if int(counts.max()) < 2:
        raise ParameterError(
            "labels: class separation needs a class with at least 2 images (one image per "
            "class has no within-class scatter)"
        )
    mu = x.mean(0)
    sums = torch.zeros(classes.numel(), x.shape[1], dtype=x.dtype, device=x.device)
    sums.index_add_(0, inv.to(x.device), x)
    means = sums / counts.to(x.device, x.dtype)[:, None]
    between = (counts.to(x.device, x.dtype) * (means - mu).square().sum(1)).sum()
    within = (x - means[inv.to(x.device)]).square().sum()
    return float(between / within) if within > 0 else float("inf")


def mean_interval(values: torch.Tensor, z: float = 1.959963984540054) -> tuple[float, float, float]:
    """Mean of per-image values and its normal 95 % interval ``mean +- z * sd / sqrt(n)``.

    Used for continuous per-image metrics (cosine, drift); proportions use the Wilson
    interval of :mod:`blurkit.robustness.metrics`. ``n < 2`` gives ``(mean, nan, nan)``.

    Example:
        >>> m, lo, hi = mean_interval(torch.tensor([1.0, 2.0, 3.0]))
        >>> m, round(lo, 3), round(hi, 3)
        (2.0, 0.868, 3.132)
    """
    v = values.detach().to(torch.float64).reshape(-1)
    n = v.numel()
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if n < 2:
        return m, float("nan"), float("nan")
    half = z * float(v.std(unbiased=True)) / math.sqrt(n)
    return m, m - half, m + half
