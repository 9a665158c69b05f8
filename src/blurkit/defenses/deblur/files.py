"""Deblur image files: the Python side of ``blurkit deblur``.

Each file is read, restored by the chosen method and written under the output
folder with its name kept (the pattern of :func:`blurkit.apply.blur_files`). A
file that cannot be read, holds NaN/inf pixels, or is smaller than the kernel is
reported and skipped; the others are still written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..._checks import BlurkitError, ParameterError, check_finite

__all__ = ["DeblurFilesResult", "deblur_files"]


@dataclass
class DeblurFilesResult:
    """What :func:`deblur_files` did: ``written`` as (source, destination) pairs,
    ``failed`` as (path, reason) pairs."""

    written: list[tuple[Path, Path]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def deblur_files(
    paths: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    method: str = "wiener",
    *,
    kernel: str | None = None,
    device: str | torch.device = "cpu",
    on_file: Callable[[Path], None] | None = None,
    **params,
) -> DeblurFilesResult:
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
    from ...io import ImageReadError, iter_image_files, read_image, write_image
    from ...kernels import make_kernel
    from .frontend import make_deblurrer

    k = make_kernel(kernel) if kernel is not None else None
    module = make_deblurrer(method, k, **params).to(device)
    out = Path(out_dir)
    result = DeblurFilesResult()
    used: set[str] = set()
    for path in iter_image_files(paths):
        try:
            x = check_finite(read_image(path), "pixels")
            if k is not None and (k.shape[-2] > x.shape[-2] or k.shape[-1] > x.shape[-1]):
                raise ParameterError(
                    f"kernel: {k.shape[-2]}x{k.shape[-1]} is larger than the image "
                    f"({x.shape[-2]}x{x.shape[-1]})"
                )
            with torch.no_grad():
                y = module(x.to(device)[None])[0]
            name = path.name
            while name in used:  # same file name from two folders
                name = f"{Path(name).stem}_{len(used)}{Path(name).suffix}"
            used.add(name)
            dst = out / name
            write_image(dst, y)
            result.written.append((path, dst))
        except ImageReadError as e:
            result.failed.append((path, e.reason))
        except BlurkitError as e:
            result.failed.append((path, str(e)))
        if on_file is not None:
            on_file(path)
    return result
