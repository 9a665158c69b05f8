"""Hostile archives: a huge member is skipped without being read, the memory a compressed
archive may take is capped, and nothing is written to disk beyond the (small) archive."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from blurkit._checks import ParameterError
from blurkit.data import archive as archive_mod
from blurkit.data import open_dataset
from blurkit.data.archive import decode_archive_uint8, index_archive


class _Zeros(io.RawIOBase):
    """A read-only stream of ``n`` zero bytes (nothing materialised)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        k = min(len(b), self.left)
        b[:k] = bytes(k)
        self.left -= k
        return k


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _archive(path, huge: int, mode: str):
    png = _png()
    with tarfile.open(path, mode) as tf:
        for name in ("a/0.png", "b/0.png"):
            info = tarfile.TarInfo(name)
            info.size = len(png)
            tf.addfile(info, io.BytesIO(png))
        info = tarfile.TarInfo("a/bomb.png")
        info.size = huge
        tf.addfile(info, _Zeros(huge))
    return path


@pytest.mark.parametrize("suffix,mode", [(".tar.gz", "w:gz"), (".tar", "w")])
def test_a_member_over_the_cap_is_skipped_and_reported(tmp_path, suffix, mode):
    path = _archive(tmp_path / f"bomb{suffix}", 3 * 2**20, mode)
    idx = index_archive(path, max_member_bytes=2**20)
    assert idx.members == ["a/0.png", "b/0.png"]
    assert len(idx.skipped) == 1 and idx.skipped[0][0].endswith("a/bomb.png")
    assert "member cap" in idx.skipped[0][1]


def test_the_default_cap_applies_to_datasets_and_training(tmp_path, monkeypatch):
    monkeypatch.setattr(archive_mod, "MAX_MEMBER_BYTES", 2**20)
    path = _archive(tmp_path / "bomb.tar.gz", 2 * 2**20, "w:gz")
    with pytest.warns(UserWarning, match="over the size cap"):
        ds = open_dataset(path)
    assert len(ds) == 2 and any(k.endswith("bomb.png") for k, _ in ds.skipped)
    with pytest.warns(UserWarning, match="over the size cap"):
        images, labels, classes = decode_archive_uint8(path)
    assert images.shape == (2, 8, 8, 3) and classes == ["a", "b"]


def test_total_in_memory_bytes_of_a_compressed_archive_are_capped(tmp_path, monkeypatch):
    path = _archive(tmp_path / "many.tar.gz", 2**20, "w:gz")
    with pytest.raises(ParameterError, match="uncompressed .tar"):
        index_archive(path, max_total_bytes=2**19)
    monkeypatch.setattr("blurkit._checks.MAX_ALLOC_BYTES", 2**19)  # the default total cap
    with pytest.raises(ParameterError, match="uncompressed .tar"):
        open_dataset(path)
    # an uncompressed tar keeps offsets, not bytes: no total cap needed
    tar = _archive(tmp_path / "many.tar", 2**20, "w")
    assert len(index_archive(tar, max_total_bytes=2**19).members) == 3


def test_a_gigabyte_member_under_the_default_cap_is_never_read(tmp_path):
    """A header declaring 1 GiB (the data itself truncated away: nothing large on disk)."""
    png = _png()
    path = tmp_path / "claims.tar"
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("a/0.png")
        info.size = len(png)
        tf.addfile(info, io.BytesIO(png))
        bomb = tarfile.TarInfo("a/zbomb.png")
        bomb.size = 2**30
        tf.fileobj.write(bomb.tobuf(tf.format, tf.encoding, tf.errors))
    idx = index_archive(path)
    assert idx.members == ["a/0.png"]
    assert idx.skipped and idx.skipped[0][0].endswith("a/zbomb.png")
