"""Dataset readers: ImageFolder, tar archives, CIFAR batches, corrupt files, class mapping, loader."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from blurkit import ParameterError
from blurkit.data import make_loader, open_dataset, shard_indices


def _jpeg(seed: int, size: int = 16) -> tuple[bytes, np.ndarray]:
    a = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")  # lossless: the pixels can be checked exactly
    return buf.getvalue(), a


@pytest.fixture
def tree(tmp_path):
    """root/<class>/<i>.png for 3 classes x 2 images; returns (root, {relpath: array})."""
    root = tmp_path / "folder"
    arrays = {}
    for c, cls in enumerate(["dog", "cat", "emu"]):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            data, a = _jpeg(10 * c + i)
            (root / cls / f"{i}.png").write_bytes(data)
            arrays[f"{cls}/{i}.png"] = a
    return root, arrays


def _check_items(ds, arrays):
    assert ds.classes == ["cat", "dog", "emu"]
    assert len(ds) == 6
    for i in range(len(ds)):
        x, y, idx = ds[i]
        assert idx == i and x.shape == (3, 16, 16) and x.dtype == torch.float32
        key = ds.keys[i].split("::")[-1].replace("\\", "/")
        rel = "/".join(key.split("/")[-2:])
        assert ds.classes[y] == rel.split("/")[0]
        torch.testing.assert_close(x, torch.from_numpy(arrays[rel]).permute(2, 0, 1).float() / 255)


def test_image_folder(tree):
    root, arrays = tree
    ds = open_dataset(root)
    _check_items(ds, arrays)
    assert ds.skipped == []


@pytest.mark.parametrize("mode,suffix", [("w:gz", ".tar.gz"), ("w", ".tar")])
def test_tar_archive_read_in_place(tree, tmp_path, mode, suffix):
    root, arrays = tree
    arc = tmp_path / f"data{suffix}"
    with tarfile.open(arc, mode) as tf:
        tf.add(root, arcname="val")  # val/<class>/<file>
    ds = open_dataset(arc)
    _check_items(ds, arrays)
    assert not (tmp_path / "val").exists()  # nothing unpacked


def test_corrupt_files_are_skipped_and_reported(tree):
    root, _ = tree
    (root / "cat" / "broken.jpg").write_bytes(b"not an image at all")
    good, _ = _jpeg(99)
    (root / "dog" / "truncated.png").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        ds = open_dataset(root)
    assert [p.split("/")[-1] for p, _ in ds.skipped] == ["broken.jpg"]
    assert len(ds) == 7  # the truncated PNG's header parses: found when decoded
    batches = list(make_loader(ds, batch_size=4))
    assert sum(len(b[1]) for b in batches) == 6
    assert any("truncated.png" in p for p, _ in ds.skipped)


def test_synset_folders_map_into_the_full_class_list(tmp_path):
    syn = [f"n{i:08d}" for i in range(20)]
    for s in (syn[3], syn[17]):
        (tmp_path / s).mkdir()
        (tmp_path / s / "a.png").write_bytes(_jpeg(1)[0])
    ds = open_dataset(tmp_path, classes=syn)
    assert ds.classes == syn
    assert [ds[i][1] for i in range(len(ds))] == [3, 17]
    with pytest.raises(ParameterError, match="not in the given class list"):
        open_dataset(tmp_path, classes=syn[:5])


def test_cifar_python_batches(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    data = rng.integers(0, 256, (5, 3072), dtype=np.uint8)
    labels = [3, 1, 4, 1, 5]
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": data, b"labels": labels}, f)
    names = [n.encode() for n in ["airplane", "automobile", "bird", "cat", "deer", "dog"]]
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names}, f)
    ds = open_dataset(tmp_path)
    assert len(ds) == 5 and ds.classes[3] == "cat"
    x, y, i = ds[2]
    assert y == 4 and i == 2
    torch.testing.assert_close(x, torch.from_numpy(data[2].reshape(3, 32, 32)).float() / 255)
    # the CHW row layout: red plane first
    assert x[0, 0, 1] == data[2][1] / 255 and x[1, 0, 0] == data[2][1024] / 255


def test_bad_source_is_a_typed_error(tmp_path):
    with pytest.raises(ParameterError, match="does not exist"):
        open_dataset(tmp_path / "nope")


def test_loader_shards_partition_and_are_deterministic(tree):
    root, _ = tree
    ds = open_dataset(root)
    seen = []
    for rank in range(4):
        idx = [int(i) for b in make_loader(ds, 2, shard=(rank, 4)) for i in b[2]]
        assert idx == shard_indices(len(ds), (rank, 4))
        seen += idx
    assert sorted(seen) == list(range(len(ds)))
    x1 = next(iter(make_loader(ds, 3)))[0]
    x2 = next(iter(make_loader(ds, 3)))[0]
    assert torch.equal(x1, x2)
    with pytest.raises(ParameterError, match="shard"):
        shard_indices(5, (2, 2))
