"""Deblur image files: the Python side of ``blurkit deblur``.

Each file is read, restored by the chosen method and written under the output
folder with its name kept (the loop of :func:`blurkit.files.map_image_files`, shared with ``blurkit blur``). A
file that cannot be read, holds NaN/inf pixels, or is smaller than the kernel is
reported and skipped; the others are still written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from ...files import FilesResult, map_image_files  # what blur_files returns too
from ...kernels import make_kernel
from .frontend import make_deblurrer

__all__ = ["deblur_files"]


def deblur_files(
    paths: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    method: str = "wiener",
    *,
    kernel: str | None = None,
    device: str | torch.device = "cpu",
    on_file: Callable[[Path], None] | None = None,
    **params,
) -> FilesResult:
    """Restore image files with a deblurring method.

    Args:
        paths: image files or folders (walked for images).
        out_dir: output folder; each output keeps its input's file name.
        method: ``"wiener"``, ``"rl"``, ``"tv"``, ``"hyper_laplacian"`` (need ``kernel``),
            ``"blind"`` or ``"learned"`` (must not have one).
        kernel: a kernel spec for the non-blind methods, e.g. ``'defocus(radius=3)'``.
        device: where the restoration runs.
        on_file: called after each file (progress reporting).
        **params: the method's parameters (see :func:`make_deblurrer`).

    Raises:
        ParameterError: an unknown method, a missing or unwanted kernel, bad kernel
            parameters (raised before any file is read).

    Example:
        >>> import tempfile, os
        >>> from blurkit.io import write_image
        >>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.png")
        >>> write_image(p, torch.rand(3, 16, 16))
        >>> r = deblur_files([p, os.path.join(d, "missing.png")], os.path.join(d, "out"),
        ...                  "wiener", kernel="gaussian(sigma=1.0)")
        >>> [q.name for _, q in r.written], [q.name for q, _ in r.failed]
        (['a.png'], ['missing.png'])
    """
    k = make_kernel(kernel) if kernel is not None else None
    module = make_deblurrer(method, k, **params).to(device)
    kernel_hw = None if k is None else tuple(k.shape[-2:])
    return map_image_files(
        paths,
        out_dir,
        lambda _p, x: module(x.to(device)[None])[0],
        kernel_hw=kernel_hw,
        on_file=on_file,
    )
