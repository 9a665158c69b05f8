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
from . import no_reference as nr

__all__ = ["MetricInfo", "METRICS", "list_metrics", "get_metric", "sharpness_sign"]


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


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo(
            "laplacian_variance",
            nr.laplacian_variance,
            "sharper",
            "Pech-Pacheco et al., ICPR 2000",
            "unbounded; grows with contrast, texture and noise",
        ),
        MetricInfo(
            "tenengrad",
            nr.tenengrad,
            "sharper",
            "Krotkov, IJCV 1987",
            "unbounded; grows with contrast, texture and noise",
        ),
        MetricInfo(
            "blur_effect",
            nr.blur_effect,
            "blurrier",
            "Crete-Roffet et al., SPIE 6492, 2007",
            "saturates beyond the 11-px re-blur; flat scenes read as blurry",
            4,
        ),
        MetricInfo(
            "edge_width",
            nr.edge_width,
            "blurrier",
            "Marziliano et al., ICIP 2002",
            "vertical edges only; texture shortens widths",
            4,
        ),
        MetricInfo(
            "cpbd",
            nr.cpbd,
            "sharper",
            "Narvekar & Karam, IEEE TIP 2011",
            "coarse; near 0 past moderate blur; needs 64x64 blocks",
            64,
        ),
        MetricInfo(
            "spectral_slope",
            nr.spectral_slope,
            "sharper",
            "Field, JOSA A 1987; Liu et al., CVPR 2008",
            "noise/JPEG flatten it; scene statistics vary",
            8,
        ),
        MetricInfo(
            "hf_energy_ratio",
            nr.hf_energy_ratio,
            "sharper",
            "high-frequency energy share",
            "noise/JPEG raise it; smooth scenes score low",
            8,
        ),
    )
}


def list_metrics() -> list[str]:
    """Names of the registered no-reference measures."""
    return list(METRICS)


def get_metric(name: str) -> MetricInfo:
    """The :class:`MetricInfo` of a registered measure."""
    check_choice(name, "metric", list(METRICS))
    return METRICS[name]


def sharpness_sign(name: str) -> float:
    """+1 if higher values of the measure mean sharper, -1 if blurrier."""
    return 1.0 if get_metric(name).higher_is == "sharper" else -1.0
