"""The module form of a blur function: its settings fixed at construction.

Every family's ``nn.Module`` (``GaussianBlur``, ``DefocusBlur``, ``MotionBlur``,
``MyopiaBlur``, ``AstigmatismBlur``, ``DirtyLensBlur``, ``ZoomBlur``) is the same thing,
a function of the images with everything else fixed, so they share one base:
:class:`FixedBlur`. A subclass names its function (``blur``) and the settings its
``repr`` shows (``shown``); its ``__init__`` checks the settings (typed errors at
construction, not at the first forward) and hands them to :class:`FixedBlur`, which keeps
each as an attribute of the same name. ``forward(images)`` is
``blur(images, **settings)``, so the module and the function cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["FixedBlur"]


class FixedBlur(nn.Module):
    """``blur(images, **settings)`` as a module; the settings are attributes.

    Example:
        >>> from blurkit.kernels import GaussianBlur
        >>> m = GaussianBlur(1.5)
        >>> m.sigma, m.settings()["boundary"], m
        (1.5, 'reflect', GaussianBlur(sigma=1.5, boundary='reflect'))
    """

    #: the blur function, ``blur(images, **settings)`` (set by each subclass)
    blur: Callable[..., torch.Tensor]
    #: the settings ``repr`` shows (default: all of them)
    shown: tuple[str, ...] = ()

    def __init__(self, **settings) -> None:
        super().__init__()
        self._setting_names = tuple(settings)
        for name, value in settings.items():
            setattr(self, name, value)

    def settings(self) -> dict:
        """The fixed settings, as ``blur`` receives them."""
        return {k: getattr(self, k) for k in self._setting_names}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return type(self).blur(images, **self.settings())

    def extra_repr(self) -> str:
        names = self.shown or self._setting_names
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in names if getattr(self, k) is not None)
