"""The corruption registry and :func:`corrupt`, the one entry point.

A corruption family is two pieces, kept apart so that a corruption can be
replayed exactly (the deepinv "generator" pattern):

- ``sample(batch, severity, preset, generators, device, dtype) -> dict`` draws the
  family's random parameters (one value per image) from explicit generators;
- ``apply(images, severity, preset, **params) -> images`` is deterministic.

:func:`corrupt` draws what the caller did not fix, then applies. Seeds can be
one integer for the batch or one per image; per-image seeds make an image's
corruption independent of which batch (or which process under ``torchrun``)
it lands in, so every model compared sees the same blurred images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .._checks import (
    ParameterError,
    check_choice,
    check_image,
    check_images,
    check_nonempty,
    check_scalar,
    trusted_values,
)
from .._registry import Registry
from .._seeds import check_seeds, make_generators

__all__ = [
    "Corruption",
    "register_corruption",
    "list_corruptions",
    "get_corruption",
    "corrupt",
    "sample_corruption",
    "make_generators",
    "interpolate_row",
    "SUITES",
]

SampleFn = Callable[..., dict]
ApplyFn = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class Corruption:
    """A named corruption family.

    Attributes:
        name: registry name, e.g. ``"defocus_blur"``.
        apply: deterministic ``apply(images, severity, preset, **params)``;
            ``images`` is ``(B, C, H, W)``, ``severity`` a float in [1, 5].
        sample: ``sample(batch, severity, preset, generators, device, dtype) -> dict``
            of per-image random parameters (``(B,...)`` tensors); ``None`` for
            deterministic families.
        presets: parameter tables the family knows (e.g. ``"imagenet-c"``).
        params: names of parameters a caller may fix (overriding the draw or table).
        continuous: name of the strength parameter a continuous sweep varies
            (used by critical-blur search), or ``None``.
        description: one line for listings.
    """

    name: str
    apply: ApplyFn
    sample: SampleFn | None = None
    presets: tuple[str, ...] = ("imagenet-c",)
    params: tuple[str, ...] = ()
    continuous: str | None = None
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


#: the corruption families by name (registered in imagenet_c.py and natural.py)
CORRUPTIONS: Registry[Corruption] = Registry("corruption", what="name")

#: named suites of corruption families
SUITES: dict[str, tuple[str, ...]] = {
    "imagenet-c-blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "cifar-10-c-blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "imagenet-c-blur-all": (
        "gaussian_blur",
        "defocus_blur",
        "glass_blur",
        "motion_blur",
        "zoom_blur",
    ),
    "natural": ("camera_shake", "myopia", "astigmatism", "dirty_lens", "depth_defocus"),
}


def register_corruption(c: Corruption) -> Corruption:
    """Add a family to the registry (at import of the module defining it)."""
    return CORRUPTIONS.add(c.name, c)


def list_corruptions(tag: str | None = None) -> list[str]:
    """Names of the registered corruption families (optionally those with ``tag``).

    >>> "defocus_blur" in list_corruptions()
    True
    """
    return CORRUPTIONS.names(lambda c: tag is None or tag in c.tags)


def get_corruption(name: str) -> Corruption:
    """The family registered under ``name``; unknown names list the known ones."""
    return CORRUPTIONS.get_entry(name)


def interpolate_row(table: Sequence[Sequence[float]], severity: float) -> list[float]:
    """Row of a severity table for a (possibly fractional) severity in [1, 5],
    linearly interpolated between neighbouring integer severities.

    >>> interpolate_row([(1.0,), (2.0,), (3.0,), (4.0,), (6.0,)], 4.5)
    [5.0]
    """
    lo = min(int(math.floor(severity)), len(table)) - 1
    hi = min(lo + 1, len(table) - 1)
    t = severity - (lo + 1)
    return [a + t * (b - a) for a, b in zip(table[lo], table[hi], strict=True)]


def _check_severity(severity) -> float:
    return check_scalar(severity, "severity", low=1.0, high=5.0)


def sample_corruption(
    images: torch.Tensor, name: str, severity, *, preset: str = "imagenet-c", seed=None
) -> dict:
    """Draw (without applying) the random parameters ``corrupt`` would use."""
    x, _ = check_image(images)
    check_nonempty(x)
    c = get_corruption(name)
    s = _check_severity(severity)
    check_choice(preset, "preset", c.presets)
    if c.sample is None:
        return {}
    gens = make_generators(seed, x.shape[0])
    return c.sample(x.shape[0], s, preset, gens, x.device, x.dtype)


def corrupt(
    images: torch.Tensor, name: str, severity=3, *, preset: str = "imagenet-c", seed=None, **params
) -> torch.Tensor:
    """Corrupt images with a named blur family at a severity.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` floats in [0, 1], RGB or grey, any size >= 8 px.
        name: a family from :func:`list_corruptions`, e.g. ``"defocus_blur"``.
        severity: 1-5, or a float between for a continuous sweep.
        preset: parameter table, ``"imagenet-c"`` or ``"cifar-10-c"`` for the benchmark families.
        seed: an int, or one int per image; the same seed gives the same output.
        **params: explicit values of the family's parameters (e.g. ``angle=30.0`` for
            ``motion_blur``), overriding the random draw or the table.

    Returns:
        The corrupted images, same shape, dtype and device, in [0, 1]. An empty batch
        gives an empty result (the name, severity, preset, parameter names and seed are
        still checked).

    Raises:
        ShapeError: a zero-size channel or spatial axis, or per-image seeds or parameters
            that do not match the batch.
        ParameterError: NaN or infinite pixels, images under 8 px, an unknown family,
            preset or parameter, a severity outside [1, 5], a parameter out of range or so
            large that what it sizes would exceed the allocation limit.
        DTypeError: integer images, or a seed that is not a non-negative integer.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> corrupt(x, "gaussian_blur", 2, preset="cifar-10-c").shape
        torch.Size([2, 3, 32, 32])
    """
    x, single = check_images(images)
    if min(x.shape[-2:]) < 8:
        raise ParameterError(f"images: expected height and width >= 8, got {tuple(x.shape[-2:])}")
    c = get_corruption(name)
    s = _check_severity(severity)
    check_choice(preset, "preset", c.presets)
    unknown = set(params) - set(c.params)
    if unknown:
        raise ParameterError(
            f"{name}: unknown parameter(s) {sorted(unknown)}; it takes {sorted(c.params) or 'none'}"
        )
    if c.sample is None or x.shape[0] == 0:
        # nothing is drawn, but the seed is held to the same rule as everywhere
        if seed is not None:
            check_seeds(seed, x.shape[0])
        if x.shape[0] == 0:
            return x.clone()
    drawn = {}
    if c.sample is not None:
        drawn = c.sample(
            x.shape[0], s, preset, make_generators(seed, x.shape[0]), x.device, x.dtype
        )
    drawn.update(params)
    with trusted_values():  # the images were checked above: no second pass inside
        out = c.apply(x, s, preset, **drawn)
    return out[0] if single else out
