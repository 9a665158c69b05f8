"""Read an ImageFolder tree packed in a ``.tar`` / ``.tar.gz`` archive without unpacking it.

Datasets are often shipped as one archive (the project's CIFAR-10 copy is
``cifar10-test.tar.gz`` holding ``test/<class>/<NNNN>.jpg``). Unpacking 50,000
small files costs inodes and time and leaves a copy to clean up, so the archive
is indexed once instead:

- an uncompressed ``.tar`` is indexed by member offsets and each image is read
  with one ``seek`` + ``read`` on demand (constant memory, random access);
- a compressed ``.tar.gz`` cannot be seeked cheaply (a backwards seek restarts
  the decompression), so one streaming pass keeps each member's *encoded* bytes
  in memory. JPEG bytes are already compressed, so this costs about the size
  of the archive, and decoding still happens lazily, per item.

The standard library's ``tarfile`` does the parsing; nothing here is hand-made
beyond the index.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "ArchiveIndex",
    "index_archive",
    "is_archive",
    "decode_archive_uint8",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a tar archive this module reads (by its suffix)."""
    return str(path).lower().endswith(_TAR_SUFFIXES)


@dataclass
class ArchiveIndex:
    """Members of an ImageFolder archive, sorted by path.

    ``members[i]`` is the path inside the archive, ``folders[i]`` its class
    folder (the parent directory name). For an uncompressed tar ``offsets`` /
    ``sizes`` locate the data; otherwise ``payload`` holds the encoded bytes.
    """

    path: str
    members: list[str]
    folders: list[str]
    offsets: list[int] | None = None
    sizes: list[int] | None = None
    payload: list[bytes] | None = None

    def read(self, i: int, handle=None) -> bytes:
        """The encoded bytes of member ``i`` (``handle``: an open binary file, reused)."""
        if self.payload is not None:
            return self.payload[i]
        if handle is not None:
            handle.seek(self.offsets[i])
            return handle.read(self.sizes[i])
        with open(self.path, "rb") as f:
            f.seek(self.offsets[i])
            return f.read(self.sizes[i])


def index_archive(path: str | os.PathLike) -> ArchiveIndex:
    """Index the image members of a tar archive in one pass (see the module docstring)."""
    path = os.fspath(path)
    compressed = not path.lower().endswith(".tar")
    entries: list[tuple[str, object]] = []
    with tarfile.open(path, "r:*") as tf:
        for m in tf:
            if not m.isfile() or not m.name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            p = PurePosixPath(m.name)
            if any(part.startswith(".") for part in p.parts):  # macOS ._ files, hidden dirs
                continue
            if compressed:
                f = tf.extractfile(m)
                entries.append((m.name, f.read() if f is not None else b""))
            else:
                entries.append((m.name, (m.offset_data, m.size)))
    entries.sort(key=lambda e: e[0])
    members = [e[0] for e in entries]
    folders = [PurePosixPath(n).parent.name for n in members]
    if compressed:
        return ArchiveIndex(path, members, folders, payload=[e[1] for e in entries])
    return ArchiveIndex(
        path,
        members,
        folders,
        offsets=[e[1][0] for e in entries],
        sizes=[e[1][1] for e in entries],
    )


def decode_archive_uint8(
    path: str | os.PathLike, size: int | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode every image of an ImageFolder archive into one uint8 array.

    Used to train from tensors: decoding 50,000 JPEGs per epoch on a small CPU
    costs more than the training step, so a training run decodes once and caches.

    Args:
        path: the archive.
        size: images must all be ``size x size`` (checked); ``None`` takes the
            size of the first image.

    Returns:
        ``(images (N, H, W, 3) uint8, labels (N,) int64, classes)`` with classes
        the sorted folder names and the images sorted by member path.
    """
    import io

    from PIL import Image

    idx = index_archive(path)
    classes = sorted(set(idx.folders))
    lut = {c: i for i, c in enumerate(classes)}
    arrays = []
    for i in range(len(idx.members)):
        with Image.open(io.BytesIO(idx.read(i))) as im:
            a = np.asarray(im.convert("RGB"))
        if size is None:
            size = a.shape[0]
        if a.shape != (size, size, 3):
            raise ValueError(f"{idx.members[i]}: expected {size}x{size} RGB, got {a.shape}")
        arrays.append(a)
    images = np.stack(arrays) if arrays else np.zeros((0, size or 0, size or 0, 3), np.uint8)
    labels = np.asarray([lut[f] for f in idx.folders], dtype=np.int64)
    return images, labels, classes
