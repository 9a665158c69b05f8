"""How blurry is this image? Full-reference fidelity, no-reference sharpness, blur estimation.

Every measure takes ``(B, C, H, W)`` images in [0, 1] (or one ``(C, H, W)``)
and returns one value per image, ``(B,)``, with an optional ``reduction``.
See ``docs/measure.md`` for the validation of each measure on natural photographs.
"""

from .full_reference import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_levels, psnr, ssim

__all__ = ["psnr", "ssim", "ms_ssim", "ms_ssim_levels", "MS_SSIM_WEIGHTS"]
