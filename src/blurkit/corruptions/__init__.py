"""Named blur corruptions with severity tables: the ImageNet-C / CIFAR-10-C blur
families and natural-blur families, looked up by name."""

# the modules defining the families register them on import
from . import imagenet_c, natural  # noqa: E402, F401
from .base import *  # noqa: F403
from .base import __all__ as _b

__all__ = [*_b]
