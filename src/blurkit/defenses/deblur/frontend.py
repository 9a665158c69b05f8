"""Restore, then classify: a deblurring front-end that stands in for a model.

:class:`DeblurFrontEnd` wraps a classifier (a :class:`blurkit.models.Classifier`
or any ``nn.Module`` taking ``(B, 3, S, S)`` pixel-space images) and a deblurrer
(any module or callable mapping images to images of the same shape). It is an
``nn.Module`` whose ``forward`` is ``classifier(deblurrer(x))`` and which passes the
classifier's attributes through (``classes``, ``input_size``, ``preprocess``,
``num_classes``, ``info``, ...), so it can be evaluated, attacked or reported on
wherever a model is. Gradients flow through differentiable deblurrers (Wiener,
TV/hyper-Laplacian, Richardson-Lucy, the learned network).

:func:`make_deblurrer` builds a deblurrer by name, as the command line does.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..._checks import ParameterError, check_choice
from .blind import BlindDeblur
from .learned import load_deblur_net
from .nonblind import NonBlindDeblur

__all__ = ["DeblurFrontEnd", "make_deblurrer", "DEBLUR_METHODS"]

DEBLUR_METHODS = ("wiener", "rl", "tv", "hyper_laplacian", "blind", "learned")


class _Callable(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


def make_deblurrer(method: str, kernel: torch.Tensor | None = None, **params) -> nn.Module:
    """A deblurring module by name.

    Args:
        method: ``"wiener"``, ``"rl"``, ``"tv"``, ``"hyper_laplacian"`` (non-blind: need
            ``kernel``), ``"blind"`` (kernel estimated per image, free-form by default;
            ``family=`` and ``deconv=`` choose the kernel family and the non-blind
            method, ``kernel_size=`` / ``estimator=`` tune the free-form estimate) or
            ``"learned"`` (the bundled :class:`~blurkit.defenses.deblur.DeblurNet`;
            ``path=`` loads other weights).
        kernel: the known kernel(s) for the non-blind methods.
        **params: the method's parameters.

    Example:
        >>> from blurkit.kernels import gaussian_kernel
        >>> make_deblurrer("wiener", gaussian_kernel(1.0), balance=1e-3)
        NonBlindDeblur(method='wiener', kernel=(1, 1, 9, 9), params={'balance': 0.001})
    """
    check_choice(method, "method", DEBLUR_METHODS)
    if method == "blind":
        if kernel is not None:
            raise ParameterError("kernel: the blind method estimates the kernel; do not give one")
        family = params.pop("family", "free")
        deconv = params.pop("deconv", None)
        return BlindDeblur(family, deconv, **params)
    if method == "learned":
        if kernel is not None:
            raise ParameterError("kernel: the learned method is blind; do not give one")
        return load_deblur_net(**params)
    if kernel is None:
        raise ParameterError(f"kernel: method {method!r} is non-blind and needs the blur kernel")
    return NonBlindDeblur(kernel, method, **params)


class DeblurFrontEnd(nn.Module):
    """``classifier(deblurrer(x))`` as one model, with the classifier's attributes.

    Args:
        classifier: the model (e.g. from :func:`blurkit.models.load_model`).
        deblurrer: an ``nn.Module`` or callable mapping ``(B, C, H, W)`` images in
            [0, 1] to restored images of the same shape.
        name: the front-end's name (default ``"<classifier name>+<deblurrer class>"``).

    Example:
        >>> clf = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
        >>> clf.classes = ["a", "b", "c", "d"]
        >>> fe = DeblurFrontEnd(clf, lambda x: x.clamp(0, 1))
        >>> fe(torch.rand(2, 3, 8, 8)).shape, fe.classes
        (torch.Size([2, 4]), ['a', 'b', 'c', 'd'])
    """

    def __init__(
        self, classifier: nn.Module, deblurrer: nn.Module | Callable, name: str | None = None
    ) -> None:
        super().__init__()
        if not callable(classifier) or not callable(deblurrer):
            raise ParameterError(
                "DeblurFrontEnd: expected a callable classifier and deblurrer, got "
                f"{type(classifier).__name__} and {type(deblurrer).__name__}"
            )
        self.classifier = classifier
        self.deblurrer = deblurrer if isinstance(deblurrer, nn.Module) else _Callable(deblurrer)
        base = getattr(classifier, "name", "") or type(classifier).__name__
        self.name = name if name is not None else f"{base}+{type(self.deblurrer).__name__}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.deblurrer(images))

    def restore(self, images: torch.Tensor) -> torch.Tensor:
        """The deblurred images the classifier sees."""
        return self.deblurrer(images)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name.startswith("__") or name in ("classifier", "deblurrer"):
                raise
            modules = self.__dict__.get("_modules", {})
            clf = modules.get("classifier")
            if clf is None:
                raise
            return getattr(clf, name)
