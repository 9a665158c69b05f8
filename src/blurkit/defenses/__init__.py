"""Defences against blur: random blur augmentations (more to come: adversarial blur
training, blur-consistency loss, deblurring front-ends)."""

from . import deblur  # noqa: F401  (deblurring front-ends)
from .adversarial import KernelAdversary
from .augment import *  # noqa: F403
from .augment import __all__ as _aug
from .consistency import consistency_loss, js_divergence
from .random_blur import (
    SCHEDULES,
    AlbumentationsRandomBlur,
    BlurSchedule,
    RandomBlur,
    RandomBlurTransform,
)

__all__ = [*_aug]

__all__ += [
    "RandomBlur",
    "RandomBlurTransform",
    "AlbumentationsRandomBlur",
    "BlurSchedule",
    "SCHEDULES",
    "KernelAdversary",
    "js_divergence",
    "consistency_loss",
]
