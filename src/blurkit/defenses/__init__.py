"""Defences against blur: random blur augmentations (more to come: adversarial blur
training, blur-consistency loss, deblurring front-ends)."""

from . import deblur  # noqa: F401  (deblurring front-ends)
from .augment import *  # noqa: F403
from .augment import __all__ as _aug

__all__ = [*_aug]
