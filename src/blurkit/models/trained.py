"""Models written by ``blurkit train``, and the model a training run starts from.

``blurkit train`` writes ``model.pt`` (a dict of plain data and tensors, read back
with ``torch.load(weights_only=True)``) and, for AirNet, ``model.safetensors`` in
the bundled-model format. Both carry the architecture, its kwargs, the classes,
mean/std and input size; every field is validated when read, and the network is
loaded strictly.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .._checks import ParameterError, check_int
from .._seeds import make_generator
from .architectures import ARCHITECTURES, canonical_architecture, instantiate
from .wrappers import Classifier

__all__ = ["load_trained", "build_model", "trained_from_state", "wrap_trained"]


def wrap_trained(net, arch, kw, classes, mean, std, size, name="") -> Classifier:
    """A trained network as a :class:`Classifier` carrying ``arch``/``arch_kwargs``."""
    from .loading import parse_triple, read_classes

    clf = Classifier(
        net, parse_triple(mean, "mean"), parse_triple(std, "std"), read_classes(classes),
        check_int(size, "input_size", low=1, high=8192), name=name,
    )  # fmt: skip
    clf.info.update({"arch": arch, "arch_kwargs": kw})
    return clf


def _freeze_stem(net) -> None:
    if hasattr(net, "whiten"):
        net.whiten.weight.requires_grad_(False)


def trained_from_state(state: dict, source: str, name: str | None = None) -> Classifier:
    """Rebuild a ``model.pt`` dict (already read with ``weights_only=True``)."""
    from .loading import read_classes
    from .registry import load_into, unwrap_state_dict

    need = ("arch", "arch_kwargs", "state_dict", "classes", "mean", "std", "input_size")
    missing = [k for k in need if k not in state]
    if missing:
        raise ParameterError(
            f"checkpoint: {source} is not a blurkit training output (missing {missing})"
        )
    if not isinstance(state["arch_kwargs"], dict):
        raise ParameterError(f"checkpoint: {source}: arch_kwargs must be a dict")
    classes = read_classes(state["classes"])
    arch = canonical_architecture(state["arch"])
    net = instantiate(arch, state["arch_kwargs"], len(classes))
    load_into(net, unwrap_state_dict(state["state_dict"], source), source)
    _freeze_stem(net)
    default = Path(source).parent.name
    clf = wrap_trained(
        net, arch, state["arch_kwargs"], classes, state["mean"], state["std"], state["input_size"],
        name or (state.get("name") if isinstance(state.get("name"), str) else None) or default,
    )  # fmt: skip
    info = state.get("info", {})
    if isinstance(info, dict):
        clf.info.update({str(k): v for k, v in info.items()})
    return clf.eval()


def load_trained(path: str | os.PathLike, name: str | None = None) -> Classifier:
    """Load a model written by ``blurkit train`` (``model.pt``), a training output
    directory, or a bundled-format ``.safetensors`` (AirNet metadata).

    Everything is read without running code from the file (``weights_only=True``,
    safetensors), every metadata field is validated, sizes are checked before
    allocating, and the weights load strictly.

    Returns:
        A :class:`Classifier` in eval mode.
    """
    from .loading import meta_json, read_classes
    from .registry import _read_safetensors, load_into, torch_load_weights

    p = Path(path)
    if p.is_dir():
        p = p / "model.pt"
    if not p.is_file():
        raise ParameterError(f"checkpoint: {p} does not exist")
    src = repr(str(p))
    if p.suffix == ".safetensors":
        sd, meta = _read_safetensors(p)
        if meta.get("architecture") != "AirNet":
            raise ParameterError(
                f"checkpoint: {src} has no AirNet metadata "
                f"(architecture={str(meta.get('architecture'))[:40]!r})"
            )
        kw = {"widths": meta_json(meta, "widths", list, src)}
        classes = read_classes(meta_json(meta, "classes", list, src))
        net = instantiate("airnet", kw, len(classes))
        load_into(net, {k: v.float() for k, v in sd.items()}, src)
        _freeze_stem(net)
        clf = wrap_trained(
            net, "airnet", kw, classes, meta_json(meta, "mean", list, src),
            meta_json(meta, "std", list, src), meta_json(meta, "input_size", int, src),
            name or p.stem,
        )  # fmt: skip
        return clf.eval()
    state = torch_load_weights(p)
    if not isinstance(state, dict) or "arch" not in state:
        raise ParameterError(f"checkpoint: {src} is not a blurkit training output (no 'arch')")
    clf = trained_from_state(state, str(p), name)
    if name is None and not clf.name:
        clf.name = p.parent.name
    return clf


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
    from .cifar import CIFAR10_MEAN, CIFAR10_STD
    from .registry import _REGISTRY, load_model

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
