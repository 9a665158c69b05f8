"""Image file I/O: round trips, modes, typed errors for unreadable files, folder walking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from blurkit import BlurkitError
from blurkit.io import ImageReadError, iter_image_files, read_image, write_image


def test_png_round_trip_is_exact(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, 7, 9), generator=g).float() / 255
    write_image(tmp_path / "sub" / "a.png", x)
    y = read_image(tmp_path / "sub" / "a.png")
    assert y.dtype == torch.float32 and y.shape == (3, 7, 9)
    assert torch.equal(y, x)


def test_jpeg_round_trip_is_close(tmp_path, photos_uint8):
    x = torch.from_numpy(photos_uint8["coffee"][:64, :64].copy()).permute(2, 0, 1).float() / 255
    write_image(tmp_path / "a.jpg", x, quality=95)
    y = read_image(tmp_path / "a.jpg")
    assert (y - x).abs().mean() < 0.02


def test_gray_and_modes(tmp_path):
    arr = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    Image.fromarray(arr, mode="L").save(tmp_path / "g.png")
    g = read_image(tmp_path / "g.png")
    assert g.shape == (1, 4, 5) and torch.allclose(g[0], torch.from_numpy(arr).float() / 255)
    assert read_image(tmp_path / "g.png", mode="rgb").shape == (3, 4, 5)
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 10
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    c = read_image(tmp_path / "a.png")
    assert c.shape == (3, 4, 5) and float(c[0].min()) == 1.0  # alpha dropped
    assert read_image(tmp_path / "a.png", mode="gray").shape == (1, 4, 5)


def test_16bit_png_scaled_to_unit_range(tmp_path):
    arr = np.array([[0, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "d.png")
    t = read_image(tmp_path / "d.png")
    assert t.shape == (1, 1, 3)
    assert torch.allclose(t[0, 0], torch.tensor([0.0, 32768 / 65535, 1.0]), atol=1e-6)


def test_exif_orientation_applied(tmp_path):
    im = Image.fromarray(np.zeros((4, 6, 3), np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(tmp_path / "o.jpg", exif=exif)
    assert read_image(tmp_path / "o.jpg").shape == (3, 6, 4)


@pytest.mark.parametrize("content", [None, b"not an image", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"])
def test_unreadable_files_raise_typed_error(tmp_path, content):
    p = tmp_path / "bad.png"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ImageReadError) as e:
        read_image(p)
    assert isinstance(e.value, BlurkitError) and isinstance(e.value, OSError)
    assert e.value.path == p and "bad.png" in str(e.value)


def test_truncated_jpeg_raises(tmp_path):
    write_image(tmp_path / "t.jpg", torch.rand(3, 64, 64))
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError):
        read_image(tmp_path / "t.jpg")


def test_write_errors(tmp_path):
    with pytest.raises(ValueError, match="image"):
        write_image(tmp_path / "x.png", torch.rand(2, 4, 4))
    with pytest.raises(ValueError, match="suffix"):
        write_image(tmp_path / "x.gif", torch.rand(3, 4, 4))


def test_iter_image_files_walks_folders(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    for n in ("d/b.PNG", "d/a.jpeg", "d/e/c.webp", "d/notes.txt", "d/e/x.tif"):
        (tmp_path / n).write_bytes(b"")
    names = [p.relative_to(tmp_path).as_posix() for p in iter_image_files([tmp_path / "d"])]
    assert names == ["d/a.jpeg", "d/b.PNG", "d/e/c.webp", "d/e/x.tif"]
    flat = [p.name for p in iter_image_files(tmp_path / "d", recursive=False)]
    assert flat == ["a.jpeg", "b.PNG"]
    # explicit files are passed through as given, even missing ones, for the reader to report
    assert list(iter_image_files([tmp_path / "missing.png"])) == [tmp_path / "missing.png"]
