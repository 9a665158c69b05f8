"""The model a training run starts from (:func:`build_model`), and models written by
``blurkit train``.

``blurkit train`` writes ``model.pt`` (a dict of plain data and tensors, read back
with ``torch.load(weights_only=True)``) and, for AirNet, ``model.safetensors`` in
the bundled-model format. Both carry the architecture, its kwargs, the classes,
mean/std and input size; every field is validated when read, and the network is
loaded strictly. Reading them is one of the file formats of
:mod:`~blurkit.models.loading` (:func:`load_trained`, :func:`trained_from_state`,
re-exported here); this module is the top of the models stack, since fine-tuning
starts from anything :func:`~blurkit.models.load_model` opens.
"""

from __future__ import annotations

import os

import torch

from .._checks import ParameterError
from .._seeds import make_generator
from ._names import _REGISTRY
from .architectures import ARCHITECTURES, canonical_architecture, instantiate
from .cifar import CIFAR10_MEAN, CIFAR10_STD
from .loading import load_trained, trained_from_state, wrap_trained
from .registry import load_model
from .wrappers import Classifier

__all__ = ["load_trained", "build_model", "trained_from_state", "wrap_trained"]


def build_model(
    name: str,
    classes: list[str],
    images_u8: torch.Tensor | None = None,
    finetune: str | os.PathLike | None = None,
    seed: int = 0,
    model_options: dict | None = None,
) -> Classifier:
    """The model a training run starts from.

    Args:
        name: architecture when training from scratch: an :data:`ARCHITECTURES` name, a
            registry architecture name (``cifar10_airnet``, ...), or ``timm:``/
            ``torchvision:<arch>``; initialised from ``seed`` (AirNet's whitening stem
            from ``images_u8``).
        classes: the data's class names.
        images_u8: ``(N, H, W, 3)`` training images (whitening, input size).
        finetune: start from these weights instead: a ``blurkit train`` output, a
            bundled-format ``.safetensors``, or anything :func:`~blurkit.models.load_model`
            opens (with ``model_options``: ``weights``, ``num_classes``, ...).
        seed: initialisation seed.
        model_options: keyword arguments of :func:`~blurkit.models.load_model`.
    """
    opts = dict(model_options or {})
    if finetune is not None:
        clf = load_model(str(finetune), **opts)
        if clf.info.get("format") in ("torchscript", "torch.export", "pickle"):
            raise ParameterError(
                f"finetune: {finetune} is a {clf.info['format']} program; fine-tuning needs an "
                "architecture blurkit can rebuild (pass --finetune ARCH --weights FILE)"
            )
        if not clf.info.get("arch"):
            raise ParameterError(f"finetune: cannot tell the architecture of {finetune}")
        if clf.info.get("generic_classes") and clf.num_classes == len(classes):
            clf.classes = list(classes)  # a model without names takes the data's
            clf.info.pop("generic_classes", None)
        if list(clf.classes) != list(classes):
            raise ParameterError(
                f"finetune: the checkpoint's classes {list(clf.classes)[:5]}... differ from "
                f"the data's {list(classes)[:5]}..."
            )
        return clf.train()
    if name in _REGISTRY and canonical_name(name) is None:
        raise ParameterError(
            f"model: {name!r} names trained weights; to start from them pass --finetune {name} "
            "(train --model takes an architecture, e.g. cifar10_airnet)"
        )
    arch = canonical_architecture(name)
    if opts:
        raise ParameterError(
            f"model options {sorted(opts)} apply to --finetune; from scratch the architecture "
            "and the data decide"
        )
    torch.manual_seed(seed)
    net = instantiate(arch, {}, len(classes))
    size = int(images_u8.shape[1]) if images_u8 is not None else 32
    if arch in ARCHITECTURES:
        mean, std = CIFAR10_MEAN, CIFAR10_STD
        kw = {k: list(v) if isinstance(v, tuple) else v for k, v in ARCHITECTURES[arch][2].items()}
    else:
        mean, std, kw = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), {}
    clf = wrap_trained(net, arch, kw, classes, mean, std, size, name)
    if hasattr(net, "init_whitening") and images_u8 is not None:
        g = make_generator(seed)
        pick = torch.randperm(len(images_u8), generator=g)[:5000]
        net.init_whitening(clf.normalize(images_u8[pick].permute(0, 3, 1, 2).float() / 255))
    return clf


def canonical_name(name: str) -> str | None:
    """The architecture a name builds from scratch, or None for names of trained weights."""
    try:
        return canonical_architecture(name)
    except ParameterError:
        return None
