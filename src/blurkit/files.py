"""Image files in, image files out: :func:`blur_files` (the Python side of ``blurkit blur``)
and the file loop it shares with :func:`blurkit.defenses.deblur.deblur_files`
(:func:`map_image_files`, returning a :class:`FilesResult`).

Each file is read, transformed (blurred by a named corruption or a kernel spec, or
restored) and written under the output folder with its name kept. A file that cannot be
read (or holds NaN/inf pixels) is reported and skipped; the others are still written.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ._checks import BlurkitError, ParameterError, check_choice, check_finite
from ._seeds import check_seed
from .corruptions import corrupt, get_corruption
from .functional import BOUNDARIES, blur
from .io import ImageReadError, iter_image_files, read_image, write_image
from .kernels import make_kernel, parse_kernel_spec

__all__ = ["FilesResult", "blur_files", "file_seed", "map_image_files"]


@dataclass
class FilesResult:
    """What a file command (:func:`blur_files`, ``deblur_files``) did: ``written`` as
    (source, destination) pairs, ``failed`` as (path, reason) pairs."""

    written: list[tuple[Path, Path]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def file_seed(seed: int, path: str | os.PathLike) -> int:
    """Per-file seed from the run seed and the file name, so a file's random draw
    does not depend on which other files are processed or in what order. The name is
    hashed as the bytes it has on disk, so a name that is not valid UTF-8 works too.

    >>> file_seed(0, "a/cat.png") == file_seed(0, "b/cat.png")
    True
    """
    return (check_seed(seed) * 1_000_003 + zlib.crc32(os.fsencode(Path(path).name))) % (2**63)


def blur_files(
    paths: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    corruption: str | None = None,
    severity: float = 3,
    preset: str = "imagenet-c",
    seed: int = 0,
    kernel: str | None = None,
    boundary: str = "reflect",
    device: str | torch.device = "cpu",
    on_file: Callable[[Path], None] | None = None,
) -> FilesResult:
    """Blur image files with a corruption (``corruption=``) or a kernel spec (``kernel=``).

    Args:
        paths: image files or folders (walked for images).
        out_dir: output folder; each output keeps its input's file name.
        corruption: a name from :func:`blurkit.list_corruptions`.
        severity: 1-5 (float allowed) for ``corruption``.
        preset: the corruption's parameter table.
        seed: run seed; each file's draw comes from :func:`file_seed`.
        kernel: a kernel spec, e.g. ``'defocus(radius=3.5)'``; the kernel may not exceed the image.
        boundary: boundary rule for ``kernel``.
        on_file: called after each file (progress reporting).

    Raises:
        ParameterError: neither or both of ``corruption`` and ``kernel``, an unknown
            corruption, a severity out of range, bad kernel parameters (raised before
            any file is read).
    """
    if (corruption is None) == (kernel is None):
        raise ParameterError("blur_files: give exactly one of corruption= or kernel=")

    check_choice(boundary, "boundary", BOUNDARIES)  # before any file, not once per file
    check_seed(seed)
    k = None
    if corruption is not None:
        get_corruption(corruption)  # unknown names fail before any work
        # validate severity/preset/params once on a dummy image, so errors come first
        corrupt(torch.zeros(1, 3, 16, 16), corruption, severity, preset=preset, seed=0)
    else:
        parse_kernel_spec(kernel)
        k = make_kernel(kernel)

    def one(path: Path, x: torch.Tensor) -> torch.Tensor:
        if k is not None:
            return blur(x.to(device), k.to(device), boundary=boundary)
        return corrupt(
            x.to(device), corruption, severity, preset=preset, seed=file_seed(seed, path)
        )

    kernel_hw = None if k is None else tuple(k.shape[-2:])
    return map_image_files(paths, out_dir, one, kernel_hw=kernel_hw, on_file=on_file)


def map_image_files(
    paths: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    fn: Callable[[Path, torch.Tensor], torch.Tensor],
    *,
    kernel_hw: tuple[int, int] | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> FilesResult:
    """Read each image file, apply ``fn(path, image)``, write the result under
    ``out_dir`` with the input's file name (a suffix added when two inputs share
    one). Files that cannot be read, hold NaN/inf pixels, are smaller than
    ``kernel_hw``, or make ``fn`` raise a blurkit error are reported in
    ``failed`` and skipped; the others are still written.
    """
    out = Path(out_dir)
    result = FilesResult()
    used: set[str] = set()
    for path in iter_image_files(paths):
        try:
            x = check_finite(read_image(path), "pixels")
            if kernel_hw is not None and (kernel_hw[0] > x.shape[-2] or kernel_hw[1] > x.shape[-1]):
                raise ParameterError(
                    f"kernel: {kernel_hw[0]}x{kernel_hw[1]} is larger than the image "
                    f"({x.shape[-2]}x{x.shape[-1]})"
                )
            with torch.no_grad():
                y = fn(path, x)
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
