"""blurkit: blur in computer vision, on PyTorch.

Model blur with physically grounded point-spread functions, apply ImageNet-C
compatible blur corruptions at any image size, measure blur, and measure and
improve the robustness of classifiers to blur.
"""

from . import corruptions, functional, kernels
from ._checks import BlurkitError, DTypeError, ParameterError, ShapeError, UnsafeFileError
from .corruptions import SUITES, corrupt, list_corruptions
from .functional import blur

__version__ = "0.1.0"


#: subpackages and modules imported on first attribute access (``blurkit.measure``, ...,
#: PEP 562), so that ``import blurkit`` stays as fast as the kernels and corruptions it
#: loads eagerly; tests/test_api_surface.py fails if a public submodule is missing here.
#: ``io``, ``cli`` and ``files`` are in ``dir()`` but not in ``__all__``: a star import
#: should neither shadow the standard library's ``io`` nor load the command line
_LAZY_SUBPACKAGES = (
    "cli",
    "data",
    "defenses",
    "files",
    "io",
    "measure",
    "models",
    "report",
    "robustness",
)


def __getattr__(name: str):
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    # the evaluation entry point, imported on first use (it pulls in the whole engine)
    if name == "evaluate":
        from .robustness.engine import evaluate_model

        return evaluate_model
    if name == "EvalConfig":
        from .robustness.config import EvalConfig

        return EvalConfig
    raise AttributeError(f"module 'blurkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_LAZY_SUBPACKAGES))


__all__ = [
    "__version__",
    "blur",
    "corrupt",
    "evaluate",
    "EvalConfig",
    "list_corruptions",
    "SUITES",
    "kernels",
    "functional",
    "corruptions",
    "data",
    "defenses",
    "measure",
    "models",
    "report",
    "robustness",
    "BlurkitError",
    "ShapeError",
    "ParameterError",
    "DTypeError",
    "UnsafeFileError",
]
