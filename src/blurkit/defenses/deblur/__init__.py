"""Deblurring front-ends: non-blind deconvolution (Wiener, Richardson-Lucy,
total-variation / hyper-Laplacian MAP), blind deblurring (kernel estimation then
deconvolution), a small learned restoration network, and :class:`DeblurFrontEnd`
that restores images before a classifier sees them. See ``docs/deblur.md``."""

from .blind import *  # noqa: F403
from .blind import __all__ as _bl
from .files import *  # noqa: F403
from .files import __all__ as _fi
from .freeform import *  # noqa: F403
from .freeform import __all__ as _ff
from .frontend import *  # noqa: F403
from .frontend import __all__ as _fe
from .learned import *  # noqa: F403
from .learned import __all__ as _le
from .nonblind import *  # noqa: F403
from .nonblind import __all__ as _nb

__all__ = [*_nb, *_bl, *_ff, *_le, *_fe, *_fi]
