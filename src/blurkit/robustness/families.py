"""The continuous blur families that critical blur and the blur attacks search.

A :class:`BlurFamily` applies a blur of a given per-image strength; the built-in ones
(Gaussian sigma, defocus radius, motion length, myopia diopters) are registered here,
and any corruption with a ``continuous`` parameter is accepted by name too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._checks import ParameterError

__all__ = ["BlurFamily", "register_family", "list_families", "get_family"]

ApplyFn = Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor]
PrepareFn = Callable[[int, torch.Generator, torch.device, torch.dtype], dict]


@dataclass(frozen=True)
class BlurFamily:
    """A continuous blur family searched by :func:`critical_blur`.

    Attributes:
        name: registry name.
        apply: ``apply(images, strength, context) -> images`` with ``strength`` a ``(B,)``
            tensor (one value per image) and ``context`` the per-image settings drawn by
            ``prepare`` or given by the caller (e.g. ``{"angle": (B,) tensor}``).
        low: the strength below which the blur is numerically negligible (bottom of the
            search bracket; the search runs in log-strength, so it must be positive).
        high: default top of the bracket as a function of the image size ``(H, W)``.
        unit: what the strength measures (for reports).
        prepare: ``prepare(batch, generator, device, dtype) -> dict`` draws the per-image
            settings that stay fixed during the search (the motion angle); ``None`` if none.
    """

    name: str
    apply: ApplyFn
    low: float
    high: Callable[[int, int], float]
    unit: str = ""
    prepare: PrepareFn | None = None
    description: str = ""


_FAMILIES: dict[str, BlurFamily] = {}


def register_family(family: BlurFamily) -> BlurFamily:
    """Add a continuous blur family to the critical-blur registry."""
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family:
        raise ValueError(f"blur family {family.name!r} registered twice")
    _FAMILIES[family.name] = family
    return family


def _gaussian(x, s, ctx):
    from ..kernels.gaussian import gaussian_blur

    return gaussian_blur(x, s)


def _defocus(x, s, ctx):
    from ..kernels.defocus import defocus_blur

    return defocus_blur(x, s)


def _motion(x, s, ctx):
    from ..kernels.motion import motion_blur

    return motion_blur(x, s, ctx["angle"])


def _motion_prepare(batch, gen, device, dtype):
    angle = torch.rand(batch, generator=gen, dtype=torch.float64) * 180.0
    return {"angle": angle.to(device=device, dtype=dtype)}


def _myopia(x, s, ctx):
    from ..kernels.optics import myopia_blur

    return myopia_blur(x, s)


register_family(
    BlurFamily(
        "gaussian",
        _gaussian,
        0.1,
        lambda h, w: min(h, w) / 4,
        "sigma (px)",
        description="isotropic Gaussian blur, strength = sigma in pixels",
    )
)
register_family(
    BlurFamily(
        "defocus",
        _defocus,
        0.25,
        lambda h, w: min(h, w) / 4,
        "radius (px)",
        description="defocus (pillbox) blur, strength = disk radius in pixels",
    )
)
register_family(
    BlurFamily(
        "motion",
        _motion,
        0.5,
        lambda h, w: min(h, w) / 2,
        "length (px)",
        _motion_prepare,
        description="linear motion blur, strength = streak length in pixels; "
        "one angle per image drawn uniformly in [0, 180) degrees (or given as angle=)",
    )
)
register_family(
    BlurFamily(
        "myopia",
        _myopia,
        0.01,
        # at myopia_blur's default 1 arcmin per pixel and 4 mm pupil, 1 D blurs over a
        # disk of about 14 px diameter: the bracket top blurs over about half the image side
        lambda h, w: 0.04 * min(h, w),
        "diopters",
        description="myopic defocus of the eye, strength = refractive error in diopters",
    )
)


def _corruption_family(name: str) -> BlurFamily:
    from ..corruptions import get_corruption

    c = get_corruption(name)
    if c.continuous is None:
        raise ParameterError(
            f"family: corruption {name!r} has no continuous parameter to search; "
            f"known families: {', '.join(list_families())}"
        )
    key = c.continuous

    def apply(x, s, ctx):
        from ..corruptions import corrupt

        params = {k: v for k, v in ctx.items() if k != "seed"}
        return corrupt(x, name, 1, seed=ctx["seed"], **{key: s}, **params)

    def prepare(batch, gen, device, dtype):
        # one seed per image, fixed for the whole search: the same random draw
        # (e.g. a motion angle) at every strength
        return {"seed": torch.randint(0, 2**31 - 1, (batch,), generator=gen).tolist()}

    return BlurFamily(
        name,
        apply,
        1e-2,
        lambda h, w: float("nan"),
        key,
        prepare,
        description=c.description or f"corruption {name!r}, strength = {key}",
    )


def list_families() -> list[str]:
    """Names of the built-in critical-blur families (any corruption with a
    ``continuous`` parameter is also accepted by name).

    >>> list_families()
    ['defocus', 'gaussian', 'motion', 'myopia']
    """
    return sorted(_FAMILIES)


def get_family(name: str | BlurFamily) -> BlurFamily:
    """The family registered under ``name``, or the corruption of that name with a
    ``continuous`` parameter."""
    if isinstance(name, BlurFamily):
        return name
    if not isinstance(name, str):
        raise ParameterError(f"family: expected a family name, got {type(name).__name__}")
    if name in _FAMILIES:
        return _FAMILIES[name]
    try:
        return _corruption_family(name)
    except ParameterError as e:
        if "unknown name" in str(e):
            raise ParameterError(
                f"family: unknown blur family {name!r}; known: {', '.join(list_families())} "
                "or a corruption with a continuous parameter"
            ) from None
        raise
