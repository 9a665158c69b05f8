"""Architectures built by name, for training from scratch and for rebuilding saved models.

:data:`ARCHITECTURES` holds the project's CIFAR networks under short names
(``airnet``, ``airnet-tiny``, ``resnet9``, ...); the registry's architecture names
(``cifar10_airnet``, ``cifar10_resnet9``, ``cifar10_resnet20``) are aliases of
them, so ``blurkit train --model cifar10_airnet`` and ``blurkit evaluate --model
cifar10_airnet`` mean the same network. ``timm:<arch>`` and ``torchvision:<arch>``
build through those libraries.

Sizes read from a file (widths, ``num_classes``) are checked *before* anything is
allocated: the parameter count is computed (CIFAR networks: in closed form; timm /
torchvision: by building the network on the ``meta`` device, which allocates
nothing) and passed to :func:`blurkit._checks.check_allocation`.
"""

from __future__ import annotations

import importlib
import inspect

import torch
from torch import nn

from .._checks import ParameterError, check_allocation

__all__ = [
    "ARCHITECTURES",
    "ALIASES",
    "canonical_architecture",
    "estimate_parameters",
    "instantiate",
]

#: architectures trainable from scratch by name: (module, class, default kwargs)
ARCHITECTURES: dict[str, tuple[str, str, dict]] = {
    "airnet": ("blurkit.models.cifar", "AirNet", {"widths": (32, 128, 128)}),
    "airnet-full": ("blurkit.models.cifar", "AirNet", {"widths": (64, 256, 256)}),
    "airnet-tiny": ("blurkit.models.cifar", "AirNet", {"widths": (8, 16, 16)}),
    "resnet9": ("blurkit.models.cifar", "ResNet9", {}),
    "resnet20": ("blurkit.models.cifar", "ResNet20", {}),
}

#: registry architecture names -> :data:`ARCHITECTURES` names
ALIASES = {
    "cifar10_airnet": "airnet",
    "cifar10_resnet9": "resnet9",
    "cifar10_resnet20": "resnet20",
}

#: the kwargs each CIFAR class takes, and how many ints ``widths`` has
_CLASS_KWARGS = {
    "AirNet": {"widths": 3, "whiten_width": None, "scale": None},
    "ResNet9": {"widths": 4, "scale": None},
    "ResNet20": {"n": None, "width": None},
}


def canonical_architecture(name: str) -> str:
    """The :data:`ARCHITECTURES` name of ``name`` (itself, or the target of an alias);
    ``timm:``/``torchvision:`` names are returned unchanged.

    >>> canonical_architecture("cifar10_airnet")
    'airnet'
    """
    if not isinstance(name, str):
        raise ParameterError(f"model: expected an architecture name, got {name!r}")
    name = ALIASES.get(name, name)
    if name in ARCHITECTURES or name.startswith(("timm:", "torchvision:")):
        return name
    known = ", ".join([*ARCHITECTURES, *ALIASES, "timm:<arch>", "torchvision:<arch>"])
    raise ParameterError(f"model: unknown architecture {name!r}; known: {known}")


def _positive_int(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ParameterError(f"{name}: expected a positive integer, got {v!r}")
    return v


def _cifar_kwargs(cls: str, kwargs: dict) -> dict:
    allowed = _CLASS_KWARGS[cls]
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise ParameterError(f"model: {cls} takes {sorted(allowed)}, got unknown {unknown}")
    kw = dict(kwargs)
    if "widths" in kw:
        w = kw["widths"]
        if not isinstance(w, (list, tuple)) or len(w) != allowed["widths"]:
            raise ParameterError(
                f"widths: expected {allowed['widths']} positive integers for {cls}, got {w!r}"
            )
        kw["widths"] = tuple(_positive_int(v, "widths") for v in w)
    for k in ("whiten_width", "n", "width"):
        if k in kw:
            kw[k] = _positive_int(kw[k], k)
    if "scale" in kw and (
        isinstance(kw["scale"], bool) or not isinstance(kw["scale"], (int, float))
    ):
        raise ParameterError(f"scale: expected a number, got {kw['scale']!r}")
    return kw


def _cifar_parameters(cls: str, kw: dict, num_classes: int) -> int:
    """Parameter count of a CIFAR network, in closed form (no allocation)."""
    if cls == "AirNet":
        w1, w2, w3 = kw.get("widths", (64, 256, 256))
        ww = kw.get("whiten_width", 24)
        n, c = 3 * ww * 4 + ww, ww
        for w in (w1, w2, w3):
            n += c * w * 9 + w * w * 9 + 4 * w
            c = w
        return n + w3 * num_classes
    if cls == "ResNet9":  # conv + BN (2 per channel) blocks, residuals in stages 1 and 3
        w0, w1, w2, w3 = kw.get("widths", (64, 128, 256, 512))
        n = 3 * w0 * 9 + 2 * w0 + w0 * w1 * 9 + 2 * w1 + 2 * (w1 * w1 * 9 + 2 * w1)
        n += w1 * w2 * 9 + 2 * w2 + w2 * w3 * 9 + 2 * w3 + 2 * (w3 * w3 * 9 + 2 * w3)
        return n + w3 * num_classes
    depth, width = kw.get("n", 3), kw.get("width", 16)
    n, c = 3 * width * 9 + 2 * width, width
    for stage, c_out in enumerate((width, 2 * width, 4 * width)):
        for i in range(depth):
            n += c * c_out * 9 + c_out * c_out * 9 + 4 * c_out
            if (i == 0 and stage > 0) or c != c_out:  # projection shortcut
                n += c * c_out + 2 * c_out
            c = c_out
    return n + c * num_classes + num_classes


def _library_builder(arch: str):
    lib, name = arch.split(":", 1)
    if lib == "timm":
        import timm  # optional (the models extra)

        def build(**kw):
            try:
                return timm.create_model(name, pretrained=False, **kw)
            except RuntimeError as e:
                raise ParameterError(f"model: timm has no architecture {name!r} ({e})") from e

        return build
    import torchvision  # optional (the models extra)

    def build(**kw):
        try:
            return torchvision.models.get_model(name, weights=None, **kw)
        except ValueError as e:
            raise ParameterError(f"model: torchvision has no architecture {name!r} ({e})") from e

    return build


def _meta_parameters(build, kwargs: dict, arch: str) -> int | None:
    """Parameters and buffers of ``build(**kwargs)`` built on the meta device (no memory);
    None when the architecture cannot be built there (e.g. it calls ``.item()``)."""
    try:
        with torch.device("meta"):
            net = build(**kwargs)
    except ParameterError:
        raise
    except Exception:
        return None
    return sum(p.numel() for p in net.parameters()) + sum(b.numel() for b in net.buffers())


def _coarse_check(kwargs: dict, arch: str) -> None:
    """Fallback bound when no meta build is possible: every integer kwarg at most 10**6."""
    for k, v in kwargs.items():
        vals = v if isinstance(v, (list, tuple)) else [v]
        for x in vals:
            if isinstance(x, int) and not isinstance(x, bool) and not -1 <= x <= 10**6:
                raise ParameterError(
                    f"model: {arch} keyword {k}={v!r} is out of range (|x| <= 10**6)"
                )


def estimate_parameters(arch: str, kwargs: dict | None = None, num_classes: int = 10) -> int:
    """Parameter count of ``arch`` built with ``kwargs``, without allocating its weights.

    >>> estimate_parameters("airnet-tiny", num_classes=10)
    11000
    """
    arch = canonical_architecture(arch)
    kwargs = dict(kwargs or {})
    if arch in ARCHITECTURES:
        _, cls, defaults = ARCHITECTURES[arch]
        return _cifar_parameters(cls, _cifar_kwargs(cls, {**defaults, **kwargs}), num_classes)
    n = _meta_parameters(_library_builder(arch), kwargs, arch)
    if n is None:
        raise ParameterError(f"model: cannot count the parameters of {arch} with {kwargs}")
    return n


def instantiate(arch: str, kwargs: dict | None = None, num_classes: int | None = None) -> nn.Module:
    """Build architecture ``arch`` (randomly initialised) with ``kwargs`` and ``num_classes``.

    The parameter count is checked against the allocation limit first, so widths or a
    class count read from a hostile file raise :class:`ParameterError` instead of
    allocating.
    """
    arch = canonical_architecture(arch)
    kwargs = dict(kwargs or {})
    if num_classes is not None:
        num_classes = _positive_int(num_classes, "num_classes")
    if arch in ARCHITECTURES:
        mod, cls, defaults = ARCHITECTURES[arch]
        kw = _cifar_kwargs(cls, {**defaults, **kwargs})
        n = 10 if num_classes is None else num_classes
        check_allocation(f"model {arch} (widths {kw or 'default'}, {n} classes)",
                         _cifar_parameters(cls, kw, n))  # fmt: skip
        return getattr(importlib.import_module(mod), cls)(num_classes=n, **kw)
    build = _library_builder(arch)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    for k, v in kwargs.items():
        if not isinstance(v, (int, float, str, bool, type(None), list, tuple)):
            raise ParameterError(f"model: {arch} keyword {k!r} must be a plain value, got {v!r}")
    if kwargs:  # sizes may come from a file: count before building
        n = _meta_parameters(build, kwargs, arch)
        if n is None:
            _coarse_check(kwargs, arch)
        else:
            check_allocation(f"model {arch} ({kwargs})", n)
    try:
        return build(**kwargs)
    except ParameterError:
        raise
    except Exception as e:
        raise ParameterError(
            f"model: {arch} does not take {kwargs} ({type(e).__name__}: {e})"
        ) from e


def builder_takes(fn, name: str) -> bool:
    """Whether callable ``fn`` accepts a keyword ``name``."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
