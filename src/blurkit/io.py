"""Image file I/O shared by the command line: read, write, and walk folders of images.

Reading goes through Pillow (the ubiquitous, well-kept decoder for PNG, JPEG,
BMP, TIFF and WebP). Images come back as ``(C, H, W)`` float32 tensors in
[0, 1] following the tensor contract:

- 8-bit images are divided by 255; 16-bit grayscale (``I;16``) by 65535; 32-bit
  integer images by their type's maximum (65535 if the values fit, as PNG
  16-bit files decode to mode ``I``); float (``F``) images are clipped to [0, 1].
- Grayscale stays 1 channel (``L``, ``I``, ``F``, ``1``); everything else
  becomes RGB (palette and CMYK are converted; an alpha channel is dropped,
  since blur measures look at the visible colour). ``mode="rgb"`` or
  ``mode="gray"`` forces 3 or 1 channels.
- The EXIF orientation tag is applied, so a portrait photo comes back upright.

A file that is missing, is not an image, or is truncated raises
:class:`ImageReadError` (a :class:`~blurkit.BlurkitError` and an ``OSError``),
so a caller walking a folder can report it and go on.
"""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from ._checks import BlurkitError, ParameterError, ShapeError, check_choice, check_scalar

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "display_path",
    "read_image",
    "write_image",
    "iter_image_files",
    "walk_image_files",
    "pil_to_tensor",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def pil_to_tensor(image) -> torch.Tensor:
    """A PIL image (any mode) as an RGB ``(3, H, W)`` float32 tensor in ``[0, 1]``."""
    a = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(a.copy()).permute(2, 0, 1).float().div_(255.0)


class ImageReadError(BlurkitError, OSError):
    """An image file could not be read (missing, not an image, truncated)."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{display_path(self.path)}: cannot read image ({reason})")


def display_path(path: str | os.PathLike) -> str:
    """A path as printable text: unchanged when its name is valid UTF-8; otherwise the
    undecodable bytes are shown as ``\\xNN`` escapes (a POSIX file name is bytes, and
    ``b'bad\\xff.png'`` is a legal one), so printing or writing it never fails.

    >>> display_path("a/b.png")
    'a/b.png'
    >>> display_path(os.fsdecode(b"bad\\xff.png"))
    'bad\\\\xff.png'
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        return text.decode("utf-8", "backslashreplace")
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")


def _utf8_name(path: str | os.PathLike) -> bool:
    try:
        os.fspath(path).encode("utf-8")
        return True
    except (UnicodeEncodeError, AttributeError):
        return False


def read_image(path: str | os.PathLike, mode: str | None = None) -> torch.Tensor:
    """Read an image file as a ``(C, H, W)`` float32 tensor in [0, 1].

    Args:
        path: the image file.
        mode: ``None`` (keep grayscale as 1 channel, everything else RGB),
            ``"rgb"`` (always 3 channels) or ``"gray"`` (always 1 channel, Pillow's
            ITU-R 601 luma ``L`` conversion).

    Raises:
        ImageReadError: the file is missing, unreadable or not an image.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "x.png")
        >>> write_image(p, torch.full((3, 4, 5), 0.5))
        >>> read_image(p).shape
        torch.Size([3, 4, 5])
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if mode is not None:
        check_choice(mode, "mode", ("rgb", "gray"))
    p = Path(path)
    try:
        with Image.open(p) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            arr = _to_array(im, mode)
    except FileNotFoundError:
        raise ImageReadError(p, "no such file") from None
    except IsADirectoryError:
        raise ImageReadError(p, "is a directory") from None
    except UnidentifiedImageError:
        raise ImageReadError(p, "not a recognised image format") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:  # corrupt data
        raise ImageReadError(p, f"{type(e).__name__}: {e}") from None
    t = torch.from_numpy(np.ascontiguousarray(arr))
    return t.permute(2, 0, 1).contiguous()


def _to_array(im, mode: str | None) -> np.ndarray:
    gray_modes = ("L", "I", "I;16", "I;16B", "I;16L", "F", "1")
    if mode == "gray" and im.mode not in gray_modes:
        im = im.convert("L")
    elif mode == "rgb" or (mode is None and im.mode not in gray_modes):
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            a = _gray_array(im)
            return np.repeat(a, 3, axis=-1)
        if im.mode != "RGB":
            im = im.convert("RGB")
    if im.mode in gray_modes:
        return _gray_array(im)
    return np.asarray(im, dtype=np.float32) / 255.0


def _gray_array(im) -> np.ndarray:
    if im.mode == "1":
        a = np.asarray(im, dtype=np.float32)
    elif im.mode == "L":
        a = np.asarray(im, dtype=np.float32) / 255.0
    elif im.mode == "F":
        a = np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
    else:  # I, I;16*: 16-bit data (PNG decodes to "I")
        raw = np.asarray(im).astype(np.float64)
        top = 65535.0 if raw.max(initial=0) <= 65535 else float(np.iinfo(np.int32).max)
        a = (np.clip(raw, 0, None) / top).astype(np.float32)
    return a[..., None]


def write_image(path: str | os.PathLike, image: torch.Tensor, quality: int = 95) -> None:
    """Write a ``(C, H, W)`` (or ``(1, C, H, W)``, or ``(H, W)``) image in [0, 1] to a file.

    The format follows the suffix (PNG, JPEG, BMP, TIFF, WebP). Values are
    clipped to [0, 1] and rounded to 8 bits. 1 channel is written as grayscale,
    3 as RGB, 4 as RGBA (JPEG drops alpha). Parent folders are created.

    Args:
        path: output file.
        image: the image tensor (any float dtype, any device).
        quality: JPEG/WebP quality 1-100.
    """
    from PIL import Image

    if not isinstance(image, torch.Tensor):
        raise ShapeError(f"image: expected a torch.Tensor (C, H, W), got {type(image).__name__}")
    x = image.detach()
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[0] not in (1, 3, 4):
        raise ShapeError(
            f"image: expected shape (C, H, W) with C in (1, 3, 4), got {tuple(image.shape)}"
        )
    q = int(check_scalar(quality, "quality", low=1, high=100))
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise ParameterError(
            f"path: expected a suffix in {list(IMAGE_EXTENSIONS)}, got {p.suffix!r}"
        )
    arr = (x.float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    if arr.shape[-1] == 1:
        im = Image.fromarray(arr[..., 0], mode="L")
    else:
        im = Image.fromarray(arr, mode="RGB" if arr.shape[-1] == 3 else "RGBA")
    if suffix in (".jpg", ".jpeg") and im.mode == "RGBA":
        im = im.convert("RGB")
    p.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"quality": q} if suffix in (".jpg", ".jpeg", ".webp") else {}
    im.save(p, **kwargs)


def walk_image_files(
    root: str | os.PathLike,
    *,
    recursive: bool = True,
    skip_hidden: bool = False,
    issues: list[tuple[str, str]] | None = None,
    inside: Iterable[str | os.PathLike] = (),
) -> list[Path]:
    """The image files under a folder, sorted by path (one folder walker for the CLI and
    the ImageFolder datasets).

    Symlinked folders are followed, as torchvision's ``ImageFolder`` does, but a folder
    that links back to one being walked (a symlink loop) is not entered again; broken
    or looping symlinks are not yielded. Each of these is appended to ``issues`` as
    ``(path, reason)`` (shown with :func:`display_path`), so a caller can report it;
    nothing is dropped without a word. A walk always ends: a folder is never entered
    while it is already on the way down.

    Args:
        root: the folder.
        recursive: walk sub-folders.
        skip_hidden: leave out files whose name starts with a dot.
        issues: where to record what was not walked (default: a new list, discarded).
        inside: folders the caller is already walking (``root`` lies in them): a link
            back to one of them is a loop too.
    """
    issues = [] if issues is None else issues
    files: list[Path] = []
    on_path: set[tuple[int, int]] = set()
    for d in inside:
        try:
            st = os.stat(d)
            on_path.add((st.st_dev, st.st_ino))
        except OSError:
            pass

    def visit(d: Path) -> None:
        try:
            st = d.stat()
        except OSError as e:
            issues.append((display_path(d), f"cannot open folder: {e.strerror or e}"))
            return
        key = (st.st_dev, st.st_ino)
        if key in on_path:
            issues.append(
                (display_path(d), "symlink loop: links back to a folder being walked; not followed")
            )
            return
        on_path.add(key)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            issues.append((display_path(d), f"cannot list folder: {e.strerror or e}"))
            entries = []
        for e in entries:
            p = Path(e.path)
            try:
                is_dir = e.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                if recursive:
                    visit(p)
                continue
            try:
                is_file = e.is_file()
            except OSError:
                is_file = False
            if not is_file:
                if e.is_symlink():
                    issues.append((display_path(p), _link_problem(p)))
                continue
            if skip_hidden and e.name.startswith("."):
                continue
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                files.append(p)
        on_path.discard(key)

    visit(Path(root))
    return sorted(files)


def _link_problem(p: Path) -> str:
    try:
        os.stat(p)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop: the link never reaches a file; skipped"
        return "broken symlink: its target does not exist; skipped"
    return "not a regular file; skipped"


def iter_image_files(
    paths: Iterable[str | os.PathLike] | str | os.PathLike,
    recursive: bool = True,
    issues: list[tuple[str, str]] | None = None,
) -> Iterator[Path]:
    """Yield image files: each folder is walked (sorted, recursively by default) for
    files with an image suffix (case-insensitive: .png .jpg .jpeg .bmp .tif .tiff
    .webp); paths that are not folders are yielded as given, whatever their suffix
    or whether they exist, so that the reader can report them.

    Symlink loops and broken links met in a folder (see :func:`walk_image_files`) are
    appended to ``issues`` when it is given, and otherwise reported with a warning. So
    is a file whose name is not valid UTF-8: it is still yielded (it is a legal POSIX
    name), and printed with :func:`display_path`.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> for n in ("b.PNG", "a.jpg", "notes.txt"):
        ...     _ = open(os.path.join(d, n), "w")
        >>> [p.name for p in iter_image_files([d])]
        ['a.jpg', 'b.PNG']
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    for item in paths:
        if isinstance(item, bytes):
            item = os.fsdecode(item)
        p = Path(item)
        if p.is_dir():
            found: list[tuple[str, str]] = []
            files = walk_image_files(p, recursive=recursive, issues=found)
            found += [
                (display_path(f), f"file name is not valid UTF-8 ({os.fsencode(f.name)!r})")
                for f in files
                if not _utf8_name(f)
            ]
            if issues is not None:
                issues.extend(found)
            else:
                for where, why in found:
                    warnings.warn(f"{where}: {why}", RuntimeWarning, stacklevel=2)
            yield from files
        else:
            yield p
