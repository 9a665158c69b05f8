"""How blurry is this image? Full-reference fidelity, no-reference sharpness, blur estimation.

Every measure takes ``(B, C, H, W)`` images in [0, 1] (or one ``(C, H, W)``)
and returns one value per image, ``(B,)``, with an optional ``reduction``.
See ``docs/measure.md`` for the validation of each measure on natural photographs.
"""

from ._inputs import BT709, to_gray
from .aligned import ShiftComparison, compare_up_to_shift, error_ratio
from .estimate import FAMILIES, estimate_blur
from .files import MeasureResult, measure_files
from .fit import FIT_FAMILIES, PSFFit, fit_psf
from .full_reference import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_levels, psnr, ssim
from .no_reference import (
    blur_effect,
    cpbd,
    edge_width,
    hf_energy_ratio,
    laplacian_variance,
    radial_power_spectrum,
    spectral_slope,
    tenengrad,
)
from .registry import METRICS, MetricInfo, get_metric, list_metrics, sharpness_sign

__all__ = [
    "psnr",
    "ssim",
    "ms_ssim",
    "ms_ssim_levels",
    "MS_SSIM_WEIGHTS",
    "compare_up_to_shift",
    "error_ratio",
    "ShiftComparison",
    "fit_psf",
    "PSFFit",
    "FIT_FAMILIES",
    "to_gray",
    "BT709",
    "laplacian_variance",
    "tenengrad",
    "blur_effect",
    "edge_width",
    "cpbd",
    "spectral_slope",
    "hf_energy_ratio",
    "radial_power_spectrum",
    "METRICS",
    "MetricInfo",
    "list_metrics",
    "get_metric",
    "sharpness_sign",
    "estimate_blur",
    "FAMILIES",
    "measure_files",
    "MeasureResult",
]
