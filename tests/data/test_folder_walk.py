"""ImageFolderDataset's folder walk: symlink loops and empty class folders are reported
(a warning, and listed in ``dataset.skipped``), never dropped without a word."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from blurkit.data import open_dataset
from blurkit.data.datasets import ImageFolderDataset


def _png(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "data"
    _png(root / "cat" / "1.png", 1)
    _png(root / "cat" / "deep" / "2.png", 2)
    _png(root / "dog" / "3.png", 3)
    return root


def test_a_plain_tree_has_no_warning(tree, recwarn):
    ds = ImageFolderDataset(tree)
    assert ds.classes == ["cat", "dog"] and len(ds) == 3 and ds.skipped == []
    assert not [w for w in recwarn if "skipped" in str(w.message)]


def test_empty_class_folder_is_reported(tree):
    (tree / "empty").mkdir()
    (tree / "notes").mkdir()
    (tree / "notes" / "readme.txt").write_text("x")
    with pytest.warns(UserWarning, match=r"2 empty class folder\(s\) \('empty', 'notes'\)"):
        ds = ImageFolderDataset(tree)
    assert ds.classes == ["cat", "dog"]
    assert [(os.path.basename(p), why) for p, why in ds.skipped] == [
        ("empty", "empty class folder: no image files, so not a class"),
        ("notes", "empty class folder: no image files, so not a class"),
    ]


def test_symlink_loop_is_reported_and_does_not_hang(tree):
    os.symlink(tree / "cat", tree / "cat" / "deep" / "up")  # back to its own class folder
    os.symlink(tree, tree / "dog" / "root")  # back to the dataset root
    os.symlink(tree, tree / "all")  # a class folder that is the root itself
    with pytest.warns(UserWarning, match="symlink loop"):
        ds = ImageFolderDataset(tree)
    assert ds.classes == ["cat", "dog"] and len(ds) == 3  # nothing counted twice
    looped = sorted(os.path.relpath(p, tree) for p, why in ds.skipped if "symlink loop" in why)
    # dog/root links to the root, which is being walked: a loop too
    assert looped == ["all", os.path.join("cat", "deep", "up"), os.path.join("dog", "root")]


def test_broken_class_link_and_link_loop_files(tree):
    os.symlink(tree / "nowhere", tree / "ghost")
    os.symlink(tree / "dog" / "b.png", tree / "dog" / "a.png")
    os.symlink(tree / "dog" / "a.png", tree / "dog" / "b.png")
    with pytest.warns(UserWarning):
        ds = open_dataset(tree)
    reasons = {os.path.basename(p): why for p, why in ds.skipped}
    assert reasons["ghost"].startswith("broken symlink")
    assert reasons["a.png"].startswith("symlink loop") and reasons["b.png"].startswith("symlink")
    assert len(ds) == 3


def test_symlinked_class_folder_is_followed(tree, tmp_path):
    _png(tmp_path / "elsewhere" / "4.png", 4)
    os.symlink(tmp_path / "elsewhere", tree / "fox")
    ds = ImageFolderDataset(tree)
    assert ds.classes == ["cat", "dog", "fox"] and len(ds) == 4
