"""A labelled gallery of PSFs as one image (what ``blurkit kernels`` draws).

matplotlib lays out the panels; each kernel is shown scaled to its own peak
with a gamma so that faint tails (scatter halos, camera-shake paths) stay visible.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .registry import make_kernel

__all__ = ["DEFAULT_GALLERY", "kernel_gallery"]

#: the families and parameters drawn by default
DEFAULT_GALLERY: tuple[str, ...] = (
    "gaussian(sigma=2.0)",
    "anisotropic_gaussian(sigma_x=4.0, sigma_y=1.0, angle=30.0)",
    "generalized_gaussian(sigma=2.5, beta=8.0)",
    "defocus(radius=5.5)",
    "imagenet_c_disk(radius=6, alias_blur=0.5)",
    "motion(length=15.0, angle=30.0)",
    "camera_shake(length=15.0, seed=0)",
    "myopia(diopters=1.0)",
    "astigmatism(cylinder_diopters=1.5, axis_deg=30.0)",
    "scatter(weight=0.3, halo_radius=20.0)",
)


def kernel_gallery(
    specs: Sequence[str] = DEFAULT_GALLERY,
    out: str | os.PathLike | None = None,
    *,
    columns: int = 5,
    gamma: float = 0.5,
):
    """Draw kernels given as specs (``'defocus(radius=3.5)'``) in a labelled grid.

    Args:
        specs: kernel specs understood by :func:`blurkit.kernels.make_kernel`.
        out: image file to write (PNG/JPEG/PDF by suffix); ``None`` returns the figure.
        columns: panels per row.
        gamma: display gamma applied to each kernel scaled to its peak.

    Returns:
        The matplotlib figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    kernels = [(spec, make_kernel(spec)) for spec in specs]
    n = len(kernels)
    cols = max(1, min(columns, n))
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (spec, k) in zip(axes.flat, kernels):
        k = k[0].detach().float()
        img = (k / k.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)).clamp(0, 1) ** gamma
        img = img.permute(1, 2, 0).squeeze(-1) if img.shape[0] in (1, 3) else img.mean(0)
        ax.imshow(img.numpy(), cmap="magma" if img.ndim == 2 else None, interpolation="nearest")
        ax.set_title(_wrap(spec), fontsize=7)
        ax.text(
            0.02,
            0.02,
            f"{k.shape[-2]}x{k.shape[-1]}",
            color="w",
            fontsize=6,
            transform=ax.transAxes,
        )
    fig.tight_layout()
    if out is not None:
        fig.savefig(out, dpi=120)
        plt.close(fig)
    return fig


def _wrap(spec: str, width: int = 30) -> str:
    if len(spec) <= width:
        return spec
    head, _, rest = spec.partition("(")
    return f"{head}\n({rest}"
