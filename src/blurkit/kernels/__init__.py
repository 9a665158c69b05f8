"""Point-spread functions, one module per physical family.

Every builder returns non-negative kernels that sum to 1, shaped
``(B, 1|C, k, k)``, batched over its parameters, on the requested device and
dtype, and differentiable in its continuous parameters.
"""

from ._utils import *  # noqa: F403
from ._utils import __all__ as _u
from .defocus import *  # noqa: F403
from .defocus import __all__ as _d
from .gaussian import *  # noqa: F403
from .gaussian import __all__ as _g
from .motion import *  # noqa: F403
from .motion import __all__ as _m
from .optics import *  # noqa: F403
from .optics import __all__ as _o
from .registry import *  # noqa: F403
from .registry import __all__ as _r
from .scatter import *  # noqa: F403
from .scatter import __all__ as _s

__all__ = [*_u, *_d, *_g, *_m, *_o, *_r, *_s]
