"""Models by name: a registry of builders, plus timm / torchvision architectures and files.

``load_model`` resolves, in order:

1. a registered name (``list_models()``), e.g. the bundled
   ``cifar10_airnet-baseline`` or ``efficientnet_lite0``;
2. an architecture of :data:`~blurkit.models.architectures.ARCHITECTURES`
   (``airnet``, ``resnet9``, ...: the names ``blurkit train`` takes);
3. ``"timm:<architecture>"`` or ``"torchvision:<architecture>"``: any
   architecture of those libraries, with weights from a local file
   (safetensors, or a state dict read by ``torch.load(weights_only=True)``);
4. a file (see :mod:`blurkit.models.loading`: ``save_model`` and ``blurkit train``
   outputs, TorchScript, ``torch.export``; pickled models only with
   ``trust_pickle=True``) or a ``blurkit train`` output directory.

Nothing is downloaded unless the caller passes ``weights="download"``: the
library must work offline, and silently fetching a checkpoint would make a
result depend on a server's state.

This module is the dispatcher on top of the models stack (only ``trained.build_model``
is above it); the name registry (``register_model``, ``list_models``) lives in
``_names`` and the weights files (``load_state_file``, ``load_into``, ...) in
``_weights``, both re-exported here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import warnings
from pathlib import Path

import torch  # noqa: F401  (load_model's doctest uses it)
from safetensors import safe_open
from safetensors.torch import save_file

from .._assets import ASSETS
from .._checks import ParameterError
from ._named import LIBRARIES, build_named, is_model_name
from ._names import _REGISTRY, ModelEntry, _entry, list_models, register_model  # noqa: F401
from ._weights import (  # noqa: F401  (re-exported: the names importable from here before)
    DOWNLOAD,
    STATE_CONTAINERS,
    load_into,
    load_state_file,
    torch_load_weights,
    unwrap_state_dict,
)
from ._weights import read_safetensors as _read_safetensors  # noqa: F401
from .loading import apply_options, describe_preprocess, load_model_file, load_trained, read_classes
from .wrappers import Classifier

__all__ = [
    "register_model",
    "list_models",
    "model_info",
    "load_model",
    "save_model",
    "load_state_file",
    "DOWNLOAD",
]


def model_info(name: str) -> dict:
    """Facts about a registered model, without building it.

    Keys: name, task, dataset, num_classes, input_size, bundled_weights (bool; alias bundled),
    weights_file (asset path or None), description, and the weights' own
    metadata (e.g. measured accuracy) when a bundled safetensors file carries it.
    """
    e = _entry(name)
    info = {
        "name": e.name,
        "task": "classification",
        "dataset": e.dataset,
        "num_classes": e.num_classes,
        "input_size": e.input_size,
        "bundled_weights": e.has_bundled_weights(),
        "bundled": e.has_bundled_weights(),  # short alias
        "weights_file": str(ASSETS / e.bundled) if e.has_bundled_weights() else None,
        "description": e.description,
        **e.extra,
    }
    if e.extra.get("weights_package"):
        module = e.extra["weights_package"].replace("-", "_")
        info["weights_available"] = importlib.util.find_spec(module) is not None
    if e.has_bundled_weights() and e.bundled.endswith(".safetensors"):
        with safe_open(str(ASSETS / e.bundled), "pt") as f:
            meta = f.metadata() or {}
        for k in ("test_top1", "test_set", "training", "train_seconds", "recipe"):
            if k in meta:
                info[k] = meta[k]
    return info


def load_model(
    name_or_path: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    device="cpu",
    *,
    num_classes: int | None = None,
    classes=None,
    mean=None,
    std=None,
    input_size: int | None = None,
    trust_pickle: bool = False,
    **kwargs,
) -> Classifier:
    """Build a :class:`Classifier` by name, architecture, or file, in eval mode on ``device``.

    What ``name_or_path`` may be:

    - a registered name (:func:`list_models`), e.g. ``cifar10_airnet-baseline``;
    - an architecture: ``airnet``, ``resnet9``, ... (:data:`~blurkit.models.ARCHITECTURES`),
      ``timm:<arch>`` or ``torchvision:<arch>`` -- with ``weights=<file>``;
    - a file: written by :func:`save_model` (``.safetensors``), by ``blurkit train``
      (``model.pt``, ``model.safetensors``, or its output directory), a TorchScript archive (``torch.jit.save``),
      a ``torch.export`` program (``.pt2``), or -- only with ``trust_pickle=True`` --
      a pickled full model (``torch.save(model)``).

    The preprocessing policy is the ImageNet-C protocol: the geometric part
    (resize, centre crop: ``model.preprocess``) before the blur, the normalisation
    (``mean``/``std``, inside the model) after it.

    Args:
        name_or_path: see above.
        weights: a state dict (``.safetensors``, ``.pt``/``.pth`` read with
            ``weights_only=True``; containers ``state_dict``/``model``/``ema`` and a DDP
            ``module.`` prefix are unwrapped), loaded strictly: mismatching keys raise
            :class:`ParameterError` listing the missing and unexpected ones.
            ``"download"`` lets timm/torchvision fetch their weights (the only download).
        device: where the model goes.
        num_classes: outputs of the network (architectures built here).
        classes: class names in output order: a list, or a text file of one name per line.
        mean, std: the per-channel normalisation (3 numbers each) the network expects.
        input_size: the side ``S`` of the view (resize the shorter side, centre-crop ``S``).
        trust_pickle: allow ``torch.load(weights_only=False)`` on a pickled full model
            (it can run code: only for files you trust; a warning is issued).
        **kwargs: passed to the architecture (e.g. ``widths=(8, 16, 16)``).

    Example:
        >>> m = load_model("cifar10_resnet20")  # architecture only: random weights
        >>> m(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """
    name = os.fspath(name_or_path)
    classes = read_classes(classes)
    if classes is not None and num_classes is not None and len(classes) != num_classes:
        raise ParameterError(f"classes: {len(classes)} names given but num_classes={num_classes}")
    if num_classes is None and classes is not None:
        num_classes = len(classes)
    if is_model_name(name):
        if name.startswith(LIBRARIES) and weights is None:
            warnings.warn(
                f"load_model({name!r}): no weights given, the network is randomly initialised "
                "(pass weights=<file>, or weights='download' to fetch the library's)",
                stacklevel=2,
            )
        model = build_named(name, weights, num_classes, kwargs)
    elif os.path.isfile(name):
        model = load_model_file(name, weights=weights, trust_pickle=trust_pickle, **kwargs)
    elif os.path.isdir(name) and os.path.isfile(os.path.join(name, "model.pt")):
        # a blurkit train output directory
        if weights is not None or kwargs:
            raise ParameterError(f"model: {name} is a training output; it takes no weights=")
        model = load_trained(name)
    else:
        _entry(name)  # raises with the list of names
        raise AssertionError  # pragma: no cover
    model = apply_options(
        model, num_classes=num_classes, classes=classes, mean=mean, std=std, input_size=input_size
    )
    if not model.name or model.name == "training":
        model.name = name
    return model.to(device).eval()


def save_model(model: Classifier, path: str | os.PathLike, arch: str | None = None, **meta) -> Path:
    """Write ``model`` as a safetensors file that :func:`load_model` reopens by path.

    Everything a later load needs travels in the file's metadata: the architecture
    and its kwargs, mean/std, class names, the input size and the geometric
    preprocessing, so the reloaded model gives identical logits.

    Args:
        model: the classifier.
        path: output file (``.safetensors``).
        arch: the name to rebuild it with (default ``model.info['arch']``, else
            ``model.name``): a registered name, an architecture name or
            ``timm:<arch>`` / ``torchvision:<arch>``.
        **meta: extra metadata strings (training method, accuracy, ...); a
            ``kwargs`` dict (e.g. ``{"num_classes": 10}``) is kept for rebuilding
            (default: ``model.info['arch_kwargs']``).
    """
    arch = arch or model.info.get("arch") or model.name
    if not is_model_name(arch):
        raise ParameterError(
            f"save_model: arch must be a registered, architecture or timm:/torchvision: name, "
            f"got {arch!r}"
        )
    kwargs = meta.pop("kwargs", None)
    if kwargs is None:
        kwargs = dict(model.info.get("arch_kwargs", {})) if arch == model.info.get("arch") else {}
    state = {
        k: v.detach().cpu().contiguous()
        for k, v in model.net.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    md = {
        "blurkit_model": arch,
        "blurkit_kwargs": json.dumps(kwargs),
        "blurkit_mean": json.dumps(model.normalize.mean.flatten().tolist()),
        "blurkit_std": json.dumps(model.normalize.std.flatten().tolist()),
        "blurkit_classes": json.dumps(list(model.classes)),
        "blurkit_input_size": str(model.input_size),
        "blurkit_preprocess": json.dumps(describe_preprocess(model)),
        "blurkit_channels_last": json.dumps(bool(model.channels_last)),
    }
    md.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=md)
    return path
