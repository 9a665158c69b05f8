"""Whatever data a user has, as the evaluation engine's items.

:func:`as_eval_dataset` accepts

- a path: an ImageFolder directory, a ``.tar`` / ``.tar.gz`` archive, CIFAR-10
  batches, a ``.csv`` / ``.tsv`` ``path,label`` list, or ``"sample"``
  (:func:`blurkit.data.open_dataset`);
- any map-style dataset (``len()`` and ``[i]``) whose items are ``(image, label)``,
  ``(image, label, index)`` (blurkit's own datasets), or dicts with ``image`` and
  ``label`` keys (``img`` / ``pixel_values`` and ``target`` / ``labels`` too, as
  Hugging Face datasets name them) - a list of tuples, a torchvision
  ``ImageFolder`` (with ``transform=None`` it returns PIL images), ...;
- a ``DataLoader`` over such a dataset (its dataset is read item by item in
  index order; its batch size and workers become the defaults; its sampler and
  collate are not used).

Images may be PIL images, ``numpy`` ``(H, W, C)`` uint8 arrays, ``uint8``
tensors or float tensors in ``[0, 1]``, ``(C, H, W)`` or ``(H, W)``.

The ImageNet-C protocol: the model's *geometric* preprocessing (resize, centre
crop: ``model.preprocess``) is applied to decoded images **before** the blur, and
the model's normalisation **after** it (inside the model, see
:class:`blurkit.models.Classifier`). PIL images and uint8 images go through
``model.preprocess`` when the model has one; float tensors are taken as already
preprocessed pixel-space images.

Each item becomes ``(image (C, H, W) float32 in [0, 1], label, index, position)``:
``index`` identifies the image in its dataset (it seeds the image's random draws),
``position`` is its place in the evaluated sequence.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from .._checks import ParameterError
from ..io import pil_to_tensor

__all__ = ["EvalDataset", "as_eval_dataset"]

_IMAGE_KEYS = ("image", "img", "pixel_values", "x")
_LABEL_KEYS = ("label", "labels", "target", "y")


def spread_positions(n_total: int, m: int) -> list[int]:
    """``m`` dataset positions spread evenly over ``0 .. n_total - 1``.

    Subsets (critical blur, the flip sweep, examples, ``limit``) use these
    instead of the first ``m`` images: datasets stored by class (ImageFolder
    trees, the CIFAR archives, the bundled sample) would otherwise give a subset
    of one class. Deterministic and independent of batching and sharding.

    >>> spread_positions(10, 3)
    [0, 4, 9]
    """
    m = max(0, min(int(m), int(n_total)))
    if m == 0:
        return []
    if m == 1:
        return [0]
    return sorted({round(i * (n_total - 1) / (m - 1)) for i in range(m)})


def _is_int(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, np.integer)):
        return True
    return isinstance(v, torch.Tensor) and v.numel() == 1 and not v.is_floating_point()


class EvalDataset(Dataset):
    """A map-style dataset of ``(image, label, index, position)`` for the engine.

    Args:
        base: the user's dataset (items as described in the module docstring).
        preprocess: PIL image -> ``(3, S, S)`` tensor (the geometric step before blur).
        positions: the base positions to evaluate, in order (default: all).
        label_map: ``{dataset label: model label}`` when the label spaces differ.
        classes: class names of the labels (after ``label_map``).
    """

    def __init__(
        self,
        base,
        preprocess: Callable | None = None,
        positions: Sequence[int] | None = None,
        label_map: dict[int, int] | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.base = base
        self.preprocess = preprocess
        self.positions = None if positions is None else list(positions)
        self.label_map = label_map
        self.classes = list(classes) if classes else None
        self.skipped = getattr(base, "skipped", [])
        self._probed: dict[int, tuple] = {}

    def __len__(self) -> int:
        return len(self.base) if self.positions is None else len(self.positions)

    def probe(self) -> tuple:
        """The first readable item (kept, so that it is not decoded twice)."""
        for p in range(len(self)):
            it = self[p]
            if it is not None:
                self._probed = {p: it}
                return it
        raise ParameterError("data: no readable image in the dataset")

    def __getitem__(self, p: int):
        if p in self._probed:
            return self._probed[p]
        if not 0 <= p < len(self):
            raise IndexError(p)
        q = p if self.positions is None else self.positions[p]
        return self._convert(self.base[q], q, p)

    def _convert(self, item, q: int, p: int):
        if item is None:
            return None
        index = q
        if isinstance(item, dict):
            img = next((item[k] for k in _IMAGE_KEYS if k in item), None)
            if img is None:
                raise ParameterError(
                    f"data: a dict item needs an image under one of {list(_IMAGE_KEYS)}, "
                    f"got keys {sorted(item)}"
                )
            label = next((item[k] for k in _LABEL_KEYS if k in item), None)
            if "index" in item and _is_int(item["index"]):
                index = int(item["index"])
        elif isinstance(item, (tuple, list)) and len(item) >= 2:
            img, label = item[0], item[1]
            if len(item) >= 3 and _is_int(item[2]):
                index = int(item[2])
        else:
            raise ParameterError(
                "data: expected items (image, label), (image, label, index) or dicts with "
                f"'image' and 'label', got {type(item).__name__}"
            )
        x = self._image(img)
        y = -1 if label is None else int(label)
        if self.label_map is not None and y >= 0:
            y = self.label_map.get(y, -1)
        return x, y, index, p

    def _image(self, img) -> torch.Tensor:
        from PIL import Image

        if isinstance(img, np.ndarray):
            a = img
            if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
                a = a.transpose(1, 2, 0)
            if a.dtype == np.uint8:
                img = Image.fromarray(a.squeeze(-1) if a.ndim == 3 and a.shape[-1] == 1 else a)
            else:
                img = (
                    torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)
                    if a.ndim == 3
                    else torch.from_numpy(a)
                )
        if isinstance(img, Image.Image):
            return (self.preprocess or pil_to_tensor)(img)
        if not isinstance(img, torch.Tensor):
            raise ParameterError(
                f"data: expected images as PIL images, arrays or tensors, got {type(img).__name__}"
            )
        x = img
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3:
            raise ParameterError(f"data: expected a (C, H, W) image, got shape {tuple(x.shape)}")
        if x.shape[0] not in (1, 3) and x.shape[-1] in (1, 3):
            x = x.permute(2, 0, 1)
        if x.dtype == torch.uint8:
            if self.preprocess is not None:
                a = x.permute(1, 2, 0).numpy()
                return self.preprocess(Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a))
            x = x.float().div_(255.0)
        x = x.float()
        if x.shape[0] == 1:
            x = x.expand(3, -1, -1).contiguous()
        return x


def _label_map(ds_classes, model_classes):
    """``{dataset label: model label}`` when the dataset's classes are a renamed subset of the
    model's (e.g. an ImageFolder of synset folders for a 1000-class model)."""
    if not ds_classes or not model_classes:
        return None
    ds_classes, model_classes = list(ds_classes), list(model_classes)
    if ds_classes == model_classes:
        return None
    lut = {c: i for i, c in enumerate(model_classes)}
    if all(c in lut for c in ds_classes):
        return {i: lut[c] for i, c in enumerate(ds_classes)}
    return None


def as_eval_dataset(
    data,
    model: torch.nn.Module | None = None,
    *,
    limit: int | None = None,
) -> tuple[EvalDataset, dict]:
    """The engine's dataset for ``data`` and ``model``, and what it learnt from the source.

    Args:
        data: a path, a map-style dataset or a ``DataLoader`` (see the module docstring).
        model: its ``preprocess`` and ``classes`` decide the geometry and the label space.
        limit: evaluate only this many images, spread evenly over the dataset
            (a dataset stored by class keeps every class); the images keep their
            dataset index.

    Returns:
        ``(dataset, info)``; ``info`` holds ``batch_size`` / ``num_workers`` taken from a
        ``DataLoader`` (else ``None``), ``source`` (text naming the data) and
        ``in_memory`` (whether the items are already decoded: no loader workers needed).
    """
    info = {"batch_size": None, "num_workers": None, "source": None, "in_memory": False}
    preprocess = getattr(model, "preprocess", None) if model is not None else None
    model_classes = getattr(model, "classes", None) if model is not None else None
    if isinstance(data, DataLoader):
        info["batch_size"] = data.batch_size
        info["num_workers"] = data.num_workers
        data = data.dataset
        if isinstance(data, IterableDataset):
            raise ParameterError(
                "data: a DataLoader over an IterableDataset cannot be resumed or sharded; "
                "pass a map-style dataset (len() and [i])"
            )
    if isinstance(data, (str, os.PathLike)):
        from .datasets import open_dataset

        info["source"] = str(data)
        base = open_dataset(data, classes=model_classes, preprocess=preprocess)
        classes = base.classes
        lmap = None
    else:
        if isinstance(data, IterableDataset) or not (
            hasattr(data, "__len__") and hasattr(data, "__getitem__")
        ):
            raise ParameterError(
                "data: expected a path, a map-style dataset (len() and [i]) or a DataLoader, "
                f"got {type(data).__name__}"
            )
        base = data
        info["source"] = type(data).__name__
        info["in_memory"] = isinstance(data, (list, tuple)) or isinstance(
            data, torch.utils.data.TensorDataset
        )
        ds_classes = getattr(data, "classes", None)
        lmap = _label_map(ds_classes, model_classes)
        classes = list(model_classes) if lmap is not None else (ds_classes or None)
    n = len(base)
    positions = None
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
            raise ParameterError(f"limit: expected a positive integer, got {limit!r}")
        if limit < n:
            positions = spread_positions(n, int(limit))
    ds = EvalDataset(base, preprocess, positions, lmap, classes)
    return ds, info
