"""Apply kernels to images: uniform blur (direct or FFT) and spatially varying blur."""

from ._padding import BOUNDARIES
from .conv import blur, blur_separable, choose_method, convolve
from .spatial import *  # noqa: F403
from .spatial import __all__ as _sp

__all__ = ["BOUNDARIES", "blur", "blur_separable", "convolve", "choose_method", *_sp]
