"""The training reader's folder walk reports empty classes, loops and unreadable files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from blurkit.defenses.methods import _decode_folder


def test_training_folder_reports_what_it_skips(tmp_path):
    root = tmp_path / "train"
    (root / "cat" / "sub").mkdir(parents=True)
    (root / "dog").mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 8, 3), i * 40, np.uint8)).save(root / "cat" / f"{i}.png")
    (root / "cat" / "broken.png").write_bytes(b"not an image")
    os.symlink(root, root / "cat" / "sub" / "loop")  # back to the root: must not hang
    with pytest.warns(UserWarning) as record:
        x, y, classes = _decode_folder(root)
    text = " ".join(str(w.message) for w in record)
    assert x.shape == (2, 8, 8, 3) and classes == ["cat", "dog"] and y.tolist() == [0, 0]
    assert "1 empty class folder(s) ['dog']" in text and "2 path(s) skipped" in text
