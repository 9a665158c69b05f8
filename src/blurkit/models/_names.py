"""The model name registry: :func:`register_model`, :func:`list_models` and the entries.

The bottom of the models stack (``_names``, ``_weights`` < ``_named`` < ``loading`` <
``registry`` < ``trained``): it only stores builders by name, so any layer that needs to
ask "is this a registered name?" imports it without reaching up to the
:func:`~blurkit.models.load_model` dispatcher. :mod:`blurkit.models.registry`
re-exports everything here.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

from .._assets import ASSETS
from .._checks import ParameterError
from .._registry import Registry
from .wrappers import Classifier

__all__ = ["ModelEntry", "register_model", "list_models"]


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


#: the registered models by name (the built-in ones are registered in zoo.py)
_REGISTRY: Registry[ModelEntry] = Registry(
    "model",
    known="registered",
    hint=" (or 'timm:<arch>', 'torchvision:<arch>', or a file path)",
)


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
        if ":" in str(name):
            raise ParameterError(
                f"register_model: ':' is reserved for timm:/torchvision:, got {name!r}"
            )
        _REGISTRY.add(
            name,
            ModelEntry(
                name, builder, dataset, num_classes, input_size, bundled, description, extra
            ),
        )
        return builder

    return deco


def list_models(pattern: str | None = None, *, bundled_only: bool = False) -> list[str]:
    """Registered model names (sorted), optionally filtered by a shell ``pattern``.

    ``timm:<arch>`` and ``torchvision:<arch>`` names are accepted by
    :func:`~blurkit.models.load_model` too but not listed here (see ``timm.list_models()``).
    """
    names = _REGISTRY.names()
    if pattern:
        names = fnmatch.filter(names, pattern)
    if bundled_only:
        names = [n for n in names if _REGISTRY[n].has_bundled_weights()]
    return names


def _entry(name: str) -> ModelEntry:
    return _REGISTRY.get_entry(name)
