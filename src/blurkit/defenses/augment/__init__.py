"""Random blur augmentations with per-sample parameters that can be replayed.

One module tree for the augmentation concern:

- :mod:`.base`: :class:`RandomBlurBase` (selection, parameter draws, replay) and the
  rules every augmentation shares (ranges, the data-loader worker stream, the working
  precision);
- :mod:`.kernels`: :class:`RandomGaussianBlur`, :class:`RandomMotionBlur` and their
  per-image operators;
- :mod:`.mixture`: :class:`RandomBlur`, a random mixture of blur families;
- :mod:`.transforms`: :class:`RandomBlurTransform` (torchvision ``transforms.v2``) and
  :class:`AlbumentationsRandomBlur`;
- :mod:`.schedules`: :class:`BlurSchedule` and :data:`SCHEDULES` along training.

The stream rule (how seeded augmentations draw in ``DataLoader`` workers) is described
in :mod:`.base`.
"""

from .base import RandomBlurBase
from .kernels import RandomGaussianBlur, RandomMotionBlur
from .mixture import BANKABLE, DEFAULT_FAMILIES, KERNEL_FAMILIES, RandomBlur
from .schedules import SCHEDULES, BlurSchedule
from .transforms import AlbumentationsRandomBlur, RandomBlurTransform

__all__ = [
    "RandomBlurBase",
    "RandomGaussianBlur",
    "RandomMotionBlur",
    "RandomBlur",
    "RandomBlurTransform",
    "AlbumentationsRandomBlur",
    "BlurSchedule",
    "SCHEDULES",
    "DEFAULT_FAMILIES",
    "KERNEL_FAMILIES",
    "BANKABLE",
]
