"""Defences against blur: random blur augmentations (:class:`RandomBlur` and the
per-family transforms), adversarial blur training (:class:`KernelAdversary`), the
blur-consistency loss (:func:`consistency_loss`) and deblurring front-ends
(:mod:`blurkit.defenses.deblur`)."""

from . import deblur  # noqa: F401  (deblurring front-ends)
from .adversarial import KernelAdversary
from .augment import (
    SCHEDULES,
    AlbumentationsRandomBlur,
    BlurSchedule,
    RandomBlur,
    RandomBlurBase,
    RandomBlurTransform,
    RandomGaussianBlur,
    RandomMotionBlur,
)
from .consistency import consistency_loss, js_divergence

__all__ = [
    "RandomBlurBase",
    "RandomGaussianBlur",
    "RandomMotionBlur",
    "RandomBlur",
    "RandomBlurTransform",
    "AlbumentationsRandomBlur",
    "BlurSchedule",
    "SCHEDULES",
    "KernelAdversary",
    "js_divergence",
    "consistency_loss",
]
