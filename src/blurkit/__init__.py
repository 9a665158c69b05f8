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


def __getattr__(name: str):
    # the evaluation entry point, imported on first use (it pulls in the whole engine)
    if name == "evaluate":
        from .robustness.engine import evaluate_model

        return evaluate_model
    if name == "EvalConfig":
        from .robustness.config import EvalConfig

        return EvalConfig
    raise AttributeError(f"module 'blurkit' has no attribute {name!r}")


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
    "BlurkitError",
    "ShapeError",
    "ParameterError",
    "DTypeError",
    "UnsafeFileError",
]
