"""Training schedules of a :class:`~blurkit.defenses.augment.RandomBlur`: ``p`` and the
strength scale along training, for the two stages of the robust-training note
(pre-training from scratch with a curriculum, fine-tuning a pretrained model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .mixture import RandomBlur

__all__ = ["BlurSchedule", "SCHEDULES"]


@dataclass(frozen=True)
class BlurSchedule:
    """``p`` and the strength scale of a :class:`RandomBlur` as functions of training progress.

    Both ramp linearly from their ``*_start`` to their ``*_end`` value over the first
    ``ramp`` fraction of training, then stay.

    Attributes:
        name: label for logs.
        p_start, p_end: blur probability at the start / after the ramp.
        scale_start, scale_end: strength scale (see :class:`RandomBlur`) likewise.
        ramp: fraction of the training steps the ramp lasts (0 = constant at ``*_end``).

    Example:
        >>> s = SCHEDULES["pretrain"]
        >>> s.at(0.0), s.at(1.0)
        ((0.0, 0.25), (0.5, 1.0))
    """

    name: str
    p_start: float
    p_end: float
    scale_start: float
    scale_end: float
    ramp: float

    def at(self, progress: float) -> tuple[float, float]:
        """``(p, strength_scale)`` at ``progress`` in [0, 1] (fraction of the steps done)."""
        t = 1.0 if self.ramp <= 0 else min(1.0, max(0.0, progress) / self.ramp)
        return (
            self.p_start + t * (self.p_end - self.p_start),
            self.scale_start + t * (self.scale_end - self.scale_start),
        )

    def step(self, blur: RandomBlur, progress: float) -> None:
        """Set ``blur.p`` and ``blur.strength_scale`` for ``progress``."""
        p, s = self.at(progress)
        blur.p, blur.strength_scale = float(p), float(s)


#: the two stages: from scratch the first 30 % of the steps ramp from clean images to
#: half of them blurred at full strength (a network first learns from sharp images, the
#: curriculum keeps blur from slowing the start); fine-tuning blurs half of every batch
#: at full strength from the first step and keeps the other half clean, against
#: forgetting the clean accuracy (the mixed clean/blurred fine-tuning of Vasiljevic et
#: al. 2016).
SCHEDULES: dict[str, BlurSchedule] = {
    "pretrain": BlurSchedule("pretrain", 0.0, 0.5, 0.25, 1.0, 0.3),
    "finetune": BlurSchedule("finetune", 0.5, 0.5, 1.0, 1.0, 0.0),
}
