"""Kernel families by name, and parsing of kernel specs such as ``'defocus(radius=3.5)'``.

The registry lets the command line and configuration files name a PSF. Each
entry maps a family name to a builder taking keyword parameters and returning
``(B, 1|C, k, k)`` kernels. Families register themselves with
:func:`register_kernel` in their own module.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

import torch

from .._checks import ParameterError

__all__ = ["register_kernel", "list_kernels", "get_kernel", "parse_kernel_spec", "make_kernel"]

_KERNELS: dict[str, Callable[..., torch.Tensor]] = {}


def register_kernel(name: str) -> Callable:
    """Decorator: register a kernel builder under ``name``."""

    def deco(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        if name in _KERNELS and _KERNELS[name] is not fn:
            raise ValueError(f"kernel family {name!r} registered twice")
        _KERNELS[name] = fn
        return fn

    return deco


def list_kernels() -> list[str]:
    """Names of the registered kernel families, sorted.

    >>> "gaussian" in list_kernels()
    True
    """
    from . import _register  # noqa: F401  (fills the registry)

    return sorted(_KERNELS)


def get_kernel(name: str) -> Callable[..., torch.Tensor]:
    """The builder registered under ``name``."""
    names = list_kernels()
    if name not in _KERNELS:
        raise ParameterError(f"kernel: unknown family {name!r}; known families: {', '.join(names)}")
    return _KERNELS[name]


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
