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

Hostile archives are bounded: a member larger than ``max_member_bytes``
(:data:`MAX_MEMBER_BYTES`, 256 MiB; no image is that large) is skipped and
reported in ``ArchiveIndex.skipped`` without being read, members are streamed in
chunks, and the encoded bytes kept in memory for a compressed archive may not
exceed ``max_total_bytes`` (default :data:`blurkit._checks.MAX_ALLOC_BYTES`): past
it a :class:`~blurkit._checks.ParameterError` says to use an uncompressed ``.tar``,
which is read on demand.

The standard library's ``tarfile`` does the parsing; nothing here is hand-made
beyond the index.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from .. import _checks
from .._checks import ParameterError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_MEMBER_BYTES",
    "ArchiveIndex",
    "index_archive",
    "is_archive",
    "decode_archive_uint8",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")

#: the largest archive member read as an image (bytes); larger members are skipped
MAX_MEMBER_BYTES = 256 * 2**20

_CHUNK = 1 << 20


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
    skipped: list[tuple[str, str]] = field(default_factory=list)

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


def _read_member(f, size: int, name: str, cap: int) -> bytes:
    """Stream one member in chunks, never past ``cap`` bytes (the header's size may lie)."""
    chunks, got = [], 0
    while got < size:
        chunk = f.read(min(_CHUNK, size - got))
        if not chunk:
            break
        got += len(chunk)
        if got > cap:
            raise ParameterError(f"archive: member {name} is larger than {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def index_archive(
    path: str | os.PathLike,
    *,
    max_member_bytes: int | None = None,
    max_total_bytes: int | None = None,
) -> ArchiveIndex:
    """Index the image members of a tar archive in one pass (see the module docstring).

    Args:
        path: the archive.
        max_member_bytes: members larger than this are skipped (listed in
            ``skipped``, never read); default :data:`MAX_MEMBER_BYTES`.
        max_total_bytes: the most encoded bytes a compressed archive may keep in memory;
            default :data:`blurkit._checks.MAX_ALLOC_BYTES`.

    Raises:
        ParameterError: a compressed archive's images exceed ``max_total_bytes``.
    """

    path = os.fspath(path)
    cap = MAX_MEMBER_BYTES if max_member_bytes is None else int(max_member_bytes)
    total_cap = _checks.MAX_ALLOC_BYTES if max_total_bytes is None else int(max_total_bytes)
    compressed = not path.lower().endswith(".tar")
    entries: list[tuple[str, object]] = []
    skipped: list[tuple[str, str]] = []
    total = 0
    try:
        tf = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ParameterError(f"archive: could not open {path} as a tar archive ({e})") from e
    with tf:
        members = iter(tf)
        while True:
            try:
                m = next(members)
            except StopIteration:
                break
            except (tarfile.TarError, OSError, EOFError, ValueError) as e:  # truncated, corrupt
                skipped.append((path, f"archive unreadable after {len(entries)} member(s): {e}"))
                break
            if not m.isfile() or not m.name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            p = PurePosixPath(m.name)
            if any(part.startswith(".") for part in p.parts):  # macOS ._ files, hidden dirs
                continue
            if m.size > cap:
                skipped.append(
                    (f"{path}::{m.name}", f"{m.size} bytes, over the {cap}-byte member cap")
                )
                continue
            if compressed:
                total += m.size
                if total > total_cap:
                    raise ParameterError(
                        f"archive: {path} holds more than {total_cap / 2**30:.1f} GiB of images, "
                        "too much to keep in memory from a compressed archive; use an "
                        "uncompressed .tar (read on demand) or an ImageFolder directory "
                        "(BLURKIT_MAX_ALLOC_GB raises the limit)"
                    )
                try:
                    f = tf.extractfile(m)
                    data = _read_member(f, m.size, m.name, cap) if f else b""
                except (tarfile.TarError, OSError, EOFError) as e:  # truncated stream
                    skipped.append((f"{path}::{m.name}", f"unreadable: {e}"))
                    break
                entries.append((m.name, data))
            else:
                entries.append((m.name, (m.offset_data, m.size)))
    entries.sort(key=lambda e: e[0])
    members = [e[0] for e in entries]
    folders = [PurePosixPath(n).parent.name for n in members]
    if compressed:
        return ArchiveIndex(
            path, members, folders, payload=[e[1] for e in entries], skipped=skipped
        )
    return ArchiveIndex(
        path,
        members,
        folders,
        offsets=[e[1][0] for e in entries],
        sizes=[e[1][1] for e in entries],
        skipped=skipped,
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
    import warnings

    from PIL import Image

    idx = index_archive(path)
    if idx.skipped:
        warnings.warn(
            f"{path}: skipped {len(idx.skipped)} member(s) over the size cap, e.g. "
            f"{idx.skipped[0][0]}",
            stacklevel=2,
        )
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
