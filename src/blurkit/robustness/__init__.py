"""How robust is a model to blur: critical blur per image and adversarial blur kernels."""

from .attack import *  # noqa: F403
from .attack import __all__ as _attack
from .critical import *  # noqa: F403
from .critical import __all__ as _critical

__all__ = [*_critical, *_attack]
