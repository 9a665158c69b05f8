"""Blur families: one description of a continuous blur, read by every part that varies one.

A :class:`BlurFamily` says, once, what the rest of blurkit needs to know about a blur
whose strength is one number: its kernel builder, the strength parameter and its unit,
the bracket critical blur searches, how an augmentation draws it (:class:`Sampler`),
whether :func:`blurkit.measure.estimate_blur` can estimate it, and which corruption
(the ImageNet-C table) applies the same blur. Each family is registered in the module
that defines its kernel (``gaussian`` in ``gaussian.py``, ``defocus`` in ``defocus.py``,
``motion`` in ``motion.py``, ``myopia`` in ``optics.py``) with
:func:`register_blur_family`; critical blur (:mod:`blurkit.robustness`), ``RandomBlur``
(:mod:`blurkit.defenses.augment`), the estimators, blind deblurring, the study and the
command line all read it from :data:`BLUR_FAMILIES`.

Adding a family is one :func:`register_blur_family` call beside its kernel builder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._registry import Registry

__all__ = [
    "BlurFamily",
    "Sampler",
    "BLUR_FAMILIES",
    "register_blur_family",
    "get_blur_family",
    "blur_families",
]

#: ``apply(images, strength, context) -> images``: ``strength`` is ``(B,)``, one per image
ApplyFn = Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor]
#: ``prepare(batch, generator, device, dtype) -> context``: per-image settings held fixed
PrepareFn = Callable[[int, torch.Generator, torch.device, torch.dtype], dict]
#: ``uniform() -> (B,)`` float64 draws in U[0, 1)
Uniform = Callable[[], torch.Tensor]


@dataclass(frozen=True)
class Sampler:
    """How a random augmentation (``RandomBlur``) draws and applies a family.

    Attributes:
        range: default ``(low, high)`` strength range (for 32 px images) when a mixture
            names the family without one.
        blur: ``blur(images, params, boundary) -> images`` with ``params`` the ``(B,)``
            draws by name (the strength under :attr:`BlurFamily.strength`, then ``extra``);
            one kernel per image.
        extra: names of the other parameters drawn per image (e.g. ``("angle",)``).
        draw_extra: ``draw_extra(uniform) -> {name: (B,) tensor}`` for ``extra``.
    """

    range: tuple[float, float]
    blur: Callable[[torch.Tensor, dict, str], torch.Tensor]
    extra: tuple[str, ...] = ()
    draw_extra: Callable[[Uniform], dict] | None = None


@dataclass(frozen=True)
class BlurFamily:
    """A continuous blur family: one strength number per image.

    The first fields keep the order of critical blur's former ``BlurFamily``, so a
    family built positionally for :func:`blurkit.robustness.critical_blur` still works.

    Attributes:
        name: registry name.
        apply: ``apply(images, strength, context) -> images`` with ``strength`` a ``(B,)``
            tensor and ``context`` the per-image settings drawn by ``prepare`` or given by
            the caller (e.g. ``{"angle": (B,) tensor}``).
        low: the strength below which the blur is numerically negligible (bottom of the
            critical-blur bracket; positive, the search runs in log-strength).
        high: default top of that bracket as a function of the image size ``(H, W)``.
        unit: how reports label the strength, with its unit (``"sigma (px)"``).
        prepare: draws the per-image settings fixed during a search (the motion angle).
        description: one line for listings.
        strength: name of the strength parameter (``"sigma"``; the key ``RandomBlur``
            draws it under).
        kernel: the kernel builder of :mod:`blurkit.kernels` (``None`` if none).
        sampler: how ``RandomBlur`` draws it (``None``: not an augmentation family).
        estimable: :func:`blurkit.measure.estimate_blur` (and blind deblurring) can
            estimate its strength from a blurred image.
        corruption: the corruption applying the same blur with a severity table (its
            ImageNet-C twin), or ``None``.
        order: position in listings of the default families (lower first).
    """

    name: str
    apply: ApplyFn
    low: float
    high: Callable[[int, int], float]
    unit: str = ""
    prepare: PrepareFn | None = None
    description: str = ""
    strength: str = "strength"
    kernel: Callable[..., torch.Tensor] | None = None
    sampler: Sampler | None = None
    estimable: bool = False
    corruption: str | None = None
    order: int = 100


#: every registered blur family by name
BLUR_FAMILIES: Registry[BlurFamily] = Registry(
    "family",
    what="blur family",
    hint=" or a corruption with a continuous parameter",
)


def register_blur_family(family: BlurFamily) -> BlurFamily:
    """Register ``family`` under its name (in the module defining its kernel)."""
    return BLUR_FAMILIES.add(family.name, family)


def get_blur_family(name: str) -> BlurFamily:
    """The family registered under ``name`` (typed error with suggestions otherwise)."""
    return BLUR_FAMILIES.get_entry(name)


def blur_families(
    *,
    estimable: bool | None = None,
    sampled: bool | None = None,
    twinned: bool | None = None,
) -> tuple[str, ...]:
    """Names of the registered families, by ``order`` then name, optionally filtered.

    Args:
        estimable: only those :func:`blurkit.measure.estimate_blur` can estimate (or not).
        sampled: only those with a :class:`Sampler` (``RandomBlur``'s kernel families).
        twinned: only those with a corruption twin: the default set of critical blur,
            the blur-attack comparison and the study.

    >>> blur_families(twinned=True)
    ('gaussian', 'defocus', 'motion')
    """

    def keep(f: BlurFamily) -> bool:
        return (
            (estimable is None or f.estimable == estimable)
            and (sampled is None or (f.sampler is not None) == sampled)
            and (twinned is None or (f.corruption is not None) == twinned)
        )

    chosen = [BLUR_FAMILIES[n] for n in BLUR_FAMILIES.names(keep)]
    return tuple(f.name for f in sorted(chosen, key=lambda f: (f.order, f.name)))
