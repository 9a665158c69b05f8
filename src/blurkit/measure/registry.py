"""No-reference measures by name, with their direction, so the CLI and users can pick them.

Example:
    >>> from blurkit.measure import list_metrics, get_metric
    >>> "cpbd" in list_metrics()
    True
    >>> get_metric("blur_effect").higher_is
    'blurrier'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._checks import check_choice
from .._registry import Registry

__all__ = [
    "MetricInfo",
    "METRICS",
    "register_metric",
    "list_metrics",
    "get_metric",
    "sharpness_sign",
]


@dataclass(frozen=True)
class MetricInfo:
    """A registered no-reference measure.

    Attributes:
        name: registry name (CLI ``--metrics``).
        fn: ``fn(images) -> (B,)``.
        higher_is: ``"sharper"`` or ``"blurrier"``.
        reference: short citation.
        weakness: the known failure mode, one line.
        min_size: smallest image side the measure accepts.
    """

    name: str
    fn: Callable
    higher_is: str
    reference: str
    weakness: str
    min_size: int = 3


#: the no-reference measures by name, in definition order (registered in no_reference.py)
METRICS: Registry[MetricInfo] = Registry("metric", what="measure")


def register_metric(
    name: str, *, higher_is: str, reference: str, weakness: str, min_size: int = 3
) -> Callable[[Callable], Callable]:
    """Decorator registering a no-reference measure ``fn(images) -> (B,)`` under ``name``."""
    check_choice(higher_is, "higher_is", ("sharper", "blurrier"))

    def deco(fn: Callable) -> Callable:
        METRICS.add(name, MetricInfo(name, fn, higher_is, reference, weakness, min_size))
        return fn

    return deco


def list_metrics() -> list[str]:
    """Names of the registered no-reference measures."""
    return list(METRICS)


def get_metric(name: str) -> MetricInfo:
    """The :class:`MetricInfo` of a registered measure."""
    return METRICS.get_entry(name)


def sharpness_sign(name: str) -> float:
    """+1 if higher values of the measure mean sharper, -1 if blurrier."""
    return 1.0 if get_metric(name).higher_is == "sharper" else -1.0
