"""Kernel families by name, and parsing of kernel specs such as ``'defocus(radius=3.5)'``.

The registry lets the command line and configuration files name a PSF. Each
entry maps a family name to a builder taking keyword parameters and returning
``(B, 1|C, k, k)`` kernels. Families register themselves with
:func:`register_kernel` in their own module (``gaussian.py``, ``motion.py``, ...), next
to the builder; importing :mod:`blurkit.kernels` imports them all.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

import torch

from .._checks import ParameterError
from .._registry import Registry

__all__ = ["register_kernel", "list_kernels", "get_kernel", "parse_kernel_spec", "make_kernel"]

#: kernel builders by family name
KERNELS: Registry[Callable[..., torch.Tensor]] = Registry(
    "kernel", what="family", known="known families"
)


def register_kernel(name: str, **metadata) -> Callable:
    """Decorator: register a kernel builder under ``name`` (in the builder's module)."""
    return KERNELS.register(name, **metadata)


def list_kernels() -> list[str]:
    """Names of the registered kernel families, sorted.

    >>> "gaussian" in list_kernels()
    True
    """
    return KERNELS.names()


def get_kernel(name: str) -> Callable[..., torch.Tensor]:
    """The builder registered under ``name``."""
    return KERNELS.get_entry(name)


def parse_kernel_spec(spec: str) -> tuple[str, dict]:
    """Parse ``'name(key=value, ...)'`` into ``(name, params)``; values are Python literals.

    >>> parse_kernel_spec("defocus(radius=3.5)")
    ('defocus', {'radius': 3.5})
    >>> parse_kernel_spec("gaussian")
    ('gaussian', {})
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ParameterError(f"kernel: expected a spec like 'defocus(radius=3.5)', got {spec!r}")
    try:
        node = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError as e:
        raise ParameterError(
            f"kernel: cannot parse {spec!r} ({e.msg}); expected 'name(key=value, ...)'"
        ) from None
    if isinstance(node, ast.Name):
        return node.id, {}
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
        raise ParameterError(
            f"kernel: expected 'name(key=value, ...)' with keyword arguments only, got {spec!r}"
        )
    params = {}
    for kw in node.keywords:
        try:
            params[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise ParameterError(
                f"kernel: value of {kw.arg!r} in {spec!r} must be a number or a literal"
            ) from None
    return node.func.id, params


def make_kernel(spec: str, **overrides) -> torch.Tensor:
    """Build kernels from a spec string, e.g. ``make_kernel('gaussian(sigma=2)')``.

    >>> make_kernel("gaussian(sigma=1.0)").shape
    torch.Size([1, 1, 9, 9])
    """
    name, params = parse_kernel_spec(spec)
    params.update(overrides)
    fn = get_kernel(name)
    try:
        return fn(**params)
    except TypeError as e:
        raise ParameterError(f"kernel: bad parameters for {name!r}: {e}") from None
