"""Models by name: a registry of builders, plus timm / torchvision architectures and files.

``load_model`` resolves, in order:

1. a registered name (``list_models()``), e.g. the bundled
   ``cifar10_airnet-baseline`` or ``efficientnet_lite0``;
2. ``"timm:<architecture>"`` or ``"torchvision:<architecture>"``: any
   architecture of those libraries, with weights from a local file
   (safetensors, or a state dict read by ``torch.load(weights_only=True)``);
3. a path to a file written by :func:`save_model` (the architecture is read
   from the file's metadata).

Nothing is downloaded unless the caller passes ``weights="download"``: the
library must work offline, and silently fetching a checkpoint would make a
result depend on a server's state.
"""

from __future__ import annotations

import fnmatch
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .._checks import ParameterError
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

DOWNLOAD = "download"  # the explicit opt-in to fetch weights from the internet

ASSETS = Path(__file__).resolve().parents[1] / "assets"


@dataclass
class ModelEntry:
    """One registered model: a builder ``f(weights=None, **kwargs) -> Classifier`` and facts."""

    name: str
    builder: Callable[..., Classifier]
    dataset: str
    num_classes: int
    input_size: int
    bundled: str | None = None  # asset file holding the weights, if shipped
    description: str = ""
    extra: dict = field(default_factory=dict)

    def has_bundled_weights(self) -> bool:
        return self.bundled is not None and (ASSETS / self.bundled).exists()


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    dataset: str,
    num_classes: int,
    input_size: int,
    bundled: str | None = None,
    description: str = "",
    **extra,
):
    """Decorator registering ``builder(weights=None, **kwargs) -> Classifier`` under ``name``.

    Example:
        >>> from blurkit.models.cifar import ResNet9
        >>> @register_model("doc_tiny", dataset="cifar10", num_classes=10, input_size=32)
        ... def _tiny(weights=None):
        ...     return Classifier(ResNet9(widths=(4, 4, 4, 4)), (0.5,) * 3, (0.5,) * 3,
        ...                       [str(i) for i in range(10)], 32)
        >>> "doc_tiny" in list_models()
        True
        >>> _ = _REGISTRY.pop("doc_tiny")
    """

    def deco(builder: Callable[..., Classifier]) -> Callable[..., Classifier]:
        if name in _REGISTRY:
            raise ParameterError(f"register_model: the name {name!r} is already registered")
        if ":" in name:
            raise ParameterError(
                f"register_model: ':' is reserved for timm:/torchvision:, got {name!r}"
            )
        _REGISTRY[name] = ModelEntry(
            name, builder, dataset, num_classes, input_size, bundled, description, extra
        )
        return builder

    return deco


def list_models(pattern: str | None = None, *, bundled_only: bool = False) -> list[str]:
    """Registered model names (sorted), optionally filtered by a shell ``pattern``.

    ``timm:<arch>`` and ``torchvision:<arch>`` names are accepted by
    :func:`load_model` too but not listed here (see ``timm.list_models()``).
    """
    names = sorted(_REGISTRY)
    if pattern:
        names = fnmatch.filter(names, pattern)
    if bundled_only:
        names = [n for n in names if _REGISTRY[n].has_bundled_weights()]
    return names


def _entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        close = [n for n in _REGISTRY if name.lower() in n.lower()] or list_models()
        raise ParameterError(
            f"model: unknown name {name!r}; registered: {', '.join(close)} "
            "(or 'timm:<arch>', 'torchvision:<arch>', or a file path)"
        )
    return _REGISTRY[name]


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
        import importlib.util

        module = e.extra["weights_package"].replace("-", "_")
        info["weights_available"] = importlib.util.find_spec(module) is not None
    if e.has_bundled_weights() and e.bundled.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(str(ASSETS / e.bundled), "pt") as f:
            meta = f.metadata() or {}
        for k in ("test_top1", "test_set", "training", "train_seconds", "recipe"):
            if k in meta:
                info[k] = meta[k]
    return info


def load_state_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a weights file: ``(state_dict, metadata)``.

    safetensors files give their metadata; other files are read with
    ``torch.load(weights_only=True)`` (no arbitrary code runs), unwrapping a
    ``{"state_dict": ...}`` / ``{"model": ...}`` container and a DDP
    ``module.`` prefix.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"weights: expected an existing file, got {str(path)!r}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), "pt") as f:
            meta = dict(f.metadata() or {})
        return load_file(str(path)), meta
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle with objects, or not a torch file at all
        raise ParameterError(
            f"weights: could not read {str(path)!r} as a state dict with "
            f"torch.load(weights_only=True): {e}"
        ) from e
    meta: dict[str, str] = {}
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ParameterError(f"weights: {str(path)!r} does not hold a state dict")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj, meta


def load_into(net: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``net`` strictly (ignoring BN's ``num_batches_tracked``), casting dtypes."""
    own = net.state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ParameterError(
            f"weights from {source}: keys do not match the architecture "
            f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''})"
        )
    bad = [
        (k, tuple(v.shape), tuple(own[k].shape))
        for k, v in state.items()
        if v.shape != own[k].shape
    ]
    if bad:
        raise ParameterError(f"weights from {source}: shape mismatch (key, file, model) {bad[:3]}")
    net.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=False)


def _imagenet_classes(n: int) -> list[str]:
    if n == 1000:
        from .imagenet import imagenet_classes

        return imagenet_classes()[0]
    return [str(i) for i in range(n)]


def _timm_model(arch: str, weights, **kwargs) -> Classifier:
    import timm

    from .wrappers import ResizeCenterCrop

    download = weights == DOWNLOAD
    try:
        net = timm.create_model(arch, pretrained=download, **kwargs)
    except RuntimeError as e:
        raise ParameterError(f"model: timm has no architecture {arch!r} ({e})") from e
    if weights is not None and not download:
        state, _ = load_state_file(weights)
        load_into(net, state, str(weights))
    cfg = net.pretrained_cfg or {}
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    crop_pct = float(cfg.get("crop_pct", 0.875))
    interp = cfg.get("interpolation", "bicubic")
    interp = interp if interp in ("bicubic", "bilinear") else "bicubic"
    return Classifier(
        net,
        cfg.get("mean", (0.485, 0.456, 0.406)),
        cfg.get("std", (0.229, 0.224, 0.225)),
        _imagenet_classes(net.num_classes),
        size,
        preprocess=ResizeCenterCrop(round(size / crop_pct), size, interp),
    )


def _torchvision_model(arch: str, weights, **kwargs) -> Classifier:
    import torchvision

    from .wrappers import ResizeCenterCrop

    download = weights == DOWNLOAD
    try:
        net = torchvision.models.get_model(arch, weights="DEFAULT" if download else None, **kwargs)
    except ValueError as e:
        raise ParameterError(f"model: torchvision has no architecture {arch!r} ({e})") from e
    if weights is not None and not download:
        state, _ = load_state_file(weights)
        load_into(net, state, str(weights))
    n = kwargs.get("num_classes", 1000)
    return Classifier(
        net,
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        _imagenet_classes(n),
        224,
        preprocess=ResizeCenterCrop(256, 224, "bilinear"),
    )


def load_model(
    name_or_path: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    device="cpu",
    **kwargs,
) -> Classifier:
    """Build a :class:`Classifier` by name, ``timm:``/``torchvision:`` architecture, or file.

    Args:
        name_or_path: a registered name, ``"timm:<arch>"``, ``"torchvision:<arch>"``,
            or a file written by :func:`save_model`.
        weights: a local weights file (safetensors or state dict) replacing the
            default ones; ``"download"`` lets timm/torchvision fetch their
            pretrained weights (the only way anything is downloaded).
            Registered models use their bundled weights when ``None``;
            ``timm:``/``torchvision:`` models are randomly initialised then
            (with a warning).
        device: where the model goes; it is returned in eval mode.
        **kwargs: passed to the architecture (e.g. ``num_classes=10``).

    Example:
        >>> m = load_model("cifar10_resnet20")  # architecture only: random weights
        >>> m(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """
    name = os.fspath(name_or_path)
    if name in _REGISTRY:
        e = _REGISTRY[name]
        model = e.builder(weights=weights, **kwargs)
    elif name.startswith(("timm:", "torchvision:")):
        lib, arch = name.split(":", 1)
        if weights is None:
            warnings.warn(
                f"load_model({name!r}): no weights given, the network is randomly initialised "
                "(pass weights=<file>, or weights='download' to fetch the library's)",
                stacklevel=2,
            )
        build = _timm_model if lib == "timm" else _torchvision_model
        model = build(arch, weights, **kwargs)
    elif os.path.isfile(name):
        state, meta = load_state_file(name)
        arch = meta.get("blurkit_model")
        if not arch:
            raise ParameterError(
                f"model: {name!r} has no 'blurkit_model' metadata (not written by save_model); "
                "pass the architecture name and weights=<file> instead"
            )
        kw = json.loads(meta.get("blurkit_kwargs", "{}"))
        kw.update(kwargs)
        model = load_model(arch, weights=name, device=device, **kw)
        model.name = name
        return model
    else:
        _entry(name)  # raises with the list of names
        raise AssertionError  # pragma: no cover
    model.name = model.name or name
    if not model.name or model.name == "training":
        model.name = name
    return model.to(device).eval()


def save_model(model: Classifier, path: str | os.PathLike, arch: str | None = None, **meta) -> Path:
    """Write ``model.net``'s weights as safetensors that :func:`load_model` reopens by path.

    Args:
        model: the classifier.
        path: output file (``.safetensors``).
        arch: the name to rebuild it with (default ``model.name``): a registered
            name or ``timm:<arch>`` / ``torchvision:<arch>``.
        **meta: extra metadata strings (training method, accuracy, ...); a
            ``kwargs`` dict (e.g. ``{"num_classes": 10}``) is kept for rebuilding.
    """
    from safetensors.torch import save_file

    arch = arch or model.name
    if not arch or (arch not in _REGISTRY and not arch.startswith(("timm:", "torchvision:"))):
        raise ParameterError(
            f"save_model: arch must be a registered or timm:/torchvision: name, got {arch!r}"
        )
    kwargs = meta.pop("kwargs", {})
    state = {
        k: v.detach().cpu().contiguous()
        for k, v in model.net.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    md = {"blurkit_model": arch, "blurkit_kwargs": json.dumps(kwargs)}
    md.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=md)
    return path
