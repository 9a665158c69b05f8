"""The continuous blur families that critical blur and the blur attacks search.

The families themselves are :class:`~blurkit.kernels.family.BlurFamily` descriptions,
registered beside their kernels (:mod:`blurkit.kernels.family`); here a name is
resolved to one, and any corruption with a ``continuous`` parameter is accepted by name
too (searched at severity 1 with that parameter as the strength).
"""

from __future__ import annotations

import torch

from .._checks import ParameterError
from ..corruptions import corrupt, get_corruption
from ..kernels.family import BLUR_FAMILIES, BlurFamily, register_blur_family

__all__ = ["BlurFamily", "register_family", "list_families", "get_family"]


def register_family(family: BlurFamily) -> BlurFamily:
    """Add a continuous blur family (:func:`blurkit.kernels.family.register_blur_family`)."""
    return register_blur_family(family)


def _corruption_family(name: str) -> BlurFamily:
    c = get_corruption(name)
    if c.continuous is None:
        raise ParameterError(
            f"family: corruption {name!r} has no continuous parameter to search; "
            f"known families: {', '.join(list_families())}"
        )
    key = c.continuous

    def apply(x, s, ctx):
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
        strength=key,
        corruption=name,
    )


def list_families() -> list[str]:
    """Names of the registered blur families (any corruption with a ``continuous``
    parameter is also accepted by name).

    >>> list_families()
    ['defocus', 'gaussian', 'motion', 'myopia']
    """
    return BLUR_FAMILIES.names()


def get_family(name: str | BlurFamily) -> BlurFamily:
    """The family registered under ``name``, or the corruption of that name with a
    ``continuous`` parameter."""
    if isinstance(name, BlurFamily):
        return name
    if not isinstance(name, str):
        raise ParameterError(f"family: expected a family name, got {type(name).__name__}")
    if name in BLUR_FAMILIES:
        return BLUR_FAMILIES[name]
    try:
        return _corruption_family(name)
    except ParameterError as e:
        if "unknown name" in str(e):
            raise ParameterError(BLUR_FAMILIES.unknown_message(name)) from None
        raise
