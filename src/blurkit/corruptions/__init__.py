"""Named blur corruptions with severity tables: the ImageNet-C / CIFAR-10-C blur
families and natural-blur families, looked up by name."""

from .base import *  # noqa: F403
from .base import __all__ as _b

__all__ = [*_b]
