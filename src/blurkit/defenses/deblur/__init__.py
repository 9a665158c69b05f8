"""Deblurring front-ends: non-blind deconvolution (Wiener, Richardson-Lucy,
total-variation / hyper-Laplacian MAP), blind deblurring (kernel estimation then
deconvolution), a small learned restoration network, and :class:`DeblurFrontEnd`
that restores images before a classifier sees them. See ``docs/deblur.md``."""

from .nonblind import *  # noqa: F403
from .nonblind import __all__ as _nb

__all__ = [*_nb]
