"""Classifiers by name: a registered model, an architecture, or a timm / torchvision one.

:func:`build_named` is the by-name half of :func:`~blurkit.models.load_model` (the
file and directory half is :mod:`~blurkit.models.loading`). It sits below ``loading``
because a ``save_model`` file names the architecture it is rebuilt with, and above the
name registry (:mod:`~blurkit.models._names`) and the state-file layer
(:mod:`~blurkit.models._weights`), which it reads.
"""

from __future__ import annotations

from .._checks import ParameterError
from ._names import _REGISTRY, _entry
from ._weights import DOWNLOAD, load_into, load_state_file
from .architectures import (
    ALIASES,
    ARCHITECTURES,
    builder_takes,
    canonical_architecture,
    instantiate,
)
from .cifar import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
from .imagenet import imagenet_classes
from .wrappers import Classifier, ResizeCenterCrop

__all__ = ["is_model_name", "build_named"]

LIBRARIES = ("timm:", "torchvision:")  # the prefixes of library architectures


def is_model_name(name) -> bool:
    """Whether :func:`build_named` takes ``name`` (never a path: a file cannot name itself)."""
    return isinstance(name, str) and (
        name in _REGISTRY or name in ARCHITECTURES or name.startswith(LIBRARIES)
    )


def _imagenet_classes(n: int) -> list[str]:
    if n == 1000:
        return imagenet_classes()[0]
    return [str(i) for i in range(n)]


def _library_model(lib: str, arch: str, weights, **kwargs) -> Classifier:
    """A timm / torchvision architecture as a :class:`Classifier` (ImageNet view and stats)."""
    download = weights == DOWNLOAD
    if download:
        if lib == "timm":
            import timm  # optional (the models extra)

            net = timm.create_model(arch, pretrained=True, **kwargs)
        else:
            import torchvision  # optional (the models extra)

            net = torchvision.models.get_model(arch, weights="DEFAULT", **kwargs)
    else:
        net = instantiate(f"{lib}:{arch}", kwargs)
    if weights is not None and not download:
        state, _ = load_state_file(weights)
        load_into(net, state, repr(str(weights)))
    n = int(getattr(net, "num_classes", 0) or kwargs.get("num_classes", 1000))
    if lib == "timm":
        cfg = getattr(net, "pretrained_cfg", None) or {}
        size = int(cfg.get("input_size", (3, 224, 224))[-1])
        crop_pct = float(cfg.get("crop_pct", 0.875))
        interp = cfg.get("interpolation", "bicubic")
        interp = interp if interp in ("bicubic", "bilinear") else "bicubic"
        mean = cfg.get("mean", (0.485, 0.456, 0.406))
        std = cfg.get("std", (0.229, 0.224, 0.225))
        pre = ResizeCenterCrop(round(size / crop_pct), size, interp)
    else:
        size, mean, std = 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        pre = ResizeCenterCrop(256, 224, "bilinear")
    clf = Classifier(net, mean, std, _imagenet_classes(n), size, preprocess=pre)
    clf.info.update({"arch": f"{lib}:{arch}", "arch_kwargs": dict(kwargs)})
    if n == 1000:  # folders may be named by class names as well as synsets
        clf.info["class_names"] = imagenet_classes()[1]
    if n != 1000:
        clf.info["generic_classes"] = True
    return clf


def _architecture_model(arch: str, weights, num_classes: int | None, **kwargs) -> Classifier:
    """A :data:`~blurkit.models.architectures.ARCHITECTURES` network (CIFAR stats, 32 px)."""
    arch = canonical_architecture(arch)
    net = instantiate(arch, kwargs, num_classes)
    if weights is not None:
        state, _ = load_state_file(weights)
        load_into(net, state, repr(str(weights)))
    n = net.fc.out_features
    classes = CIFAR10_CLASSES if n == 10 else [str(i) for i in range(n)]
    clf = Classifier(net, CIFAR10_MEAN, CIFAR10_STD, classes, 32, name=arch, channels_last=True)
    kw = {**ARCHITECTURES[arch][2], **kwargs}
    clf.info.update({"arch": arch, "arch_kwargs": {k: list(v) if isinstance(v, tuple) else v
                                                   for k, v in kw.items()}})  # fmt: skip
    if n != 10:
        clf.info["generic_classes"] = True
    return clf


def build_named(
    name: str, weights, num_classes: int | None = None, kwargs: dict | None = None
) -> Classifier:
    """The :class:`Classifier` of a name :func:`is_model_name` accepts (in training mode,
    on the CPU; :func:`~blurkit.models.load_model` sets the rest).

    Args:
        name: a registered name, an :data:`~blurkit.models.ARCHITECTURES` name, or
            ``timm:<arch>`` / ``torchvision:<arch>``.
        weights: a weights file, ``"download"`` (timm / torchvision only) or None.
        num_classes: outputs of the network (registered aliases and architectures).
        kwargs: passed to the builder or the architecture.
    """
    kwargs = dict(kwargs or {})
    if name in _REGISTRY:
        e = _REGISTRY[name]
        if num_classes is not None and num_classes != e.num_classes:
            if name not in ALIASES or not builder_takes(e.builder, "num_classes"):
                raise ParameterError(
                    f"num_classes: {name} has {e.num_classes} outputs, got {num_classes}"
                )
            kwargs["num_classes"] = num_classes
        if kwargs and not all(builder_takes(e.builder, k) for k in kwargs):
            bad = [k for k in kwargs if not builder_takes(e.builder, k)]
            raise ParameterError(f"model: {name} takes no keyword(s) {bad}")
        return e.builder(weights=weights, **kwargs)
    if name in ARCHITECTURES:
        return _architecture_model(name, weights, num_classes, **kwargs)
    if name.startswith(LIBRARIES):
        lib, arch = name.split(":", 1)
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        return _library_model(lib, arch, weights, **kwargs)
    _entry(name)  # raises with the list of names
    raise AssertionError  # pragma: no cover
