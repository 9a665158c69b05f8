"""``blurkit.evaluate`` on whatever data a user has: a torchvision ImageFolder, a
DataLoader, a CSV / TSV file list, a list of (tensor, label), dict items, uint8 and PIL
images; each source gives the cells of the same images given as float tensors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import blurkit
from blurkit import ParameterError
from blurkit.data import CsvImageDataset, open_dataset
from blurkit.data.sources import as_eval_dataset

_spec = importlib.util.spec_from_file_location(
    "_evalkit", Path(__file__).parents[1] / "robustness" / "_evalkit.py"
)
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)

N = 12
GRID = dict(corruptions=["box"], severities=[1, 2], examples=0, batch_size=5, num_workers=0)


@pytest.fixture(scope="module")
def images():
    """N uint8 images (H, W, 3), labels in 0..3 (as TinyNet(0) predicts for two thirds)."""
    ds = kit.make_dataset(N, size=16)
    arr = [(x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for x, _, _ in ds]
    return arr, [y for _, y, _ in ds]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, images):
    """An ImageFolder tree of PNGs (lossless), classes c0..c3, file names in index order."""
    root = tmp_path_factory.mktemp("folder")
    arr, labels = images
    for i, (a, y) in enumerate(zip(arr, labels, strict=True)):
        d = root / f"c{y}"
        d.mkdir(exist_ok=True)
        Image.fromarray(a).save(d / f"{i:03d}.png")
    return root


def _as_float(arr):
    return [torch.from_numpy(a).permute(2, 0, 1).float() / 255 for a in arr]


@pytest.fixture(scope="module")
def reference(images, tmp_path_factory):
    arr, labels = images
    data = list(zip(_as_float(arr), labels, strict=True))
    return blurkit.evaluate(
        kit.TinyNet(1), data, tmp_path_factory.mktemp("ref"), corrupt_fn=kit.Counter(), **GRID
    )


def _accs(r):
    return [
        (row["corruption"], row["severity"], row["correct"], row["flip_rate"]) for row in r.cells
    ]


def test_list_of_tensor_label_pairs_uint8_pil_and_dicts(tmp_path, images, reference):
    arr, labels = images
    sources = {
        "uint8": [(torch.from_numpy(a).permute(2, 0, 1).contiguous(), y) for a, y in zip(arr, labels, strict=True)],
        "numpy": list(zip(arr, labels, strict=True)),
        "pil": [(Image.fromarray(a), y) for a, y in zip(arr, labels, strict=True)],
        "dict": [{"image": Image.fromarray(a), "label": y} for a, y in zip(arr, labels, strict=True)],
        "dict-tensor": [{"pixel_values": x, "labels": torch.tensor(y)} for x, y in zip(_as_float(arr), labels, strict=True)],
    }  # fmt: skip
    for name, data in sources.items():
        r = blurkit.evaluate(
            kit.TinyNet(1), data, tmp_path / name, corrupt_fn=kit.Counter(), **GRID
        )
        assert _accs(r) == _accs(reference), name


def test_torchvision_image_folder_and_dataloader(tmp_path, folder, reference):
    tv = pytest.importorskip("torchvision")
    ds = tv.datasets.ImageFolder(str(folder))  # transform=None: PIL images
    r = blurkit.evaluate(kit.TinyNet(1), ds, tmp_path / "tv", corrupt_fn=kit.Counter(), **GRID)
    assert _accs(r) == _accs(reference)
    # a DataLoader: its dataset is read in index order (not its shuffled sampler)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, shuffle=True, collate_fn=list)
    r2 = blurkit.evaluate(
        kit.TinyNet(1),
        loader,
        tmp_path / "dl",
        corrupt_fn=kit.Counter(),
        **{**GRID, "batch_size": None},
    )
    assert _accs(r2) == _accs(reference)
    assert r2.cells[0]["n"] == N


def test_path_folder_and_csv_lists(tmp_path, folder, images, reference):
    arr, labels = images
    r = blurkit.evaluate(kit.TinyNet(1), folder, tmp_path / "dir", corrupt_fn=kit.Counter(), **GRID)
    assert _accs(r) == _accs(reference)
    files = sorted(folder.rglob("*.png"), key=lambda p: p.name)
    # a CSV with a header and paths relative to the CSV's folder
    csv = folder / "list.csv"
    csv.write_text(
        "path,label\n" + "".join(f"{p.relative_to(folder)},{p.parent.name}\n" for p in files)
    )
    r = blurkit.evaluate(kit.TinyNet(1), csv, tmp_path / "csv", corrupt_fn=kit.Counter(), **GRID)
    assert _accs(r) == _accs(reference)
    # a TSV without header, absolute paths, integer labels
    tsv = tmp_path / "list.tsv"
    tsv.write_text("".join(f"{p}\t{int(p.parent.name[1:])}\n" for p in files))
    ds = open_dataset(tsv)
    assert isinstance(ds, CsvImageDataset) and len(ds) == N and ds.labels == labels
    r = blurkit.evaluate(kit.TinyNet(1), tsv, tmp_path / "tsv", corrupt_fn=kit.Counter(), **GRID)
    assert _accs(r) == _accs(reference)


def test_csv_errors_and_missing_files(tmp_path, folder):
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\nonly_a_path.png\n")
    with pytest.raises(ParameterError, match="line"):
        open_dataset(bad)
    gone = tmp_path / "gone.csv"
    first = next(folder.rglob("*.png"))
    gone.write_text(f"{first},c0\n{tmp_path / 'nope.png'},c1\n")
    with pytest.warns(UserWarning, match="skipped"):
        ds = open_dataset(gone)
    assert len(ds) == 1 and ds.skipped[0][0].endswith("nope.png")


def test_result_api_pandas_and_report(tmp_path, reference):
    df = reference.to_pandas()
    assert list(df["corruption"]) == ["clean", "box", "box"]
    assert reference.summary["models"]["tiny1"]["clean_accuracy"] == reference.cells[0]["accuracy"]
    path = reference.report(tmp_path / "r.html")
    assert path.exists() and "<html" in path.read_text()[:200]


def test_label_space_of_a_torchvision_folder_maps_to_the_model_classes(tmp_path, folder):
    tv = pytest.importorskip("torchvision")
    ds = tv.datasets.ImageFolder(str(folder))
    model = kit.TinyNet(1)
    model.classes = ["c3", "c2", "c1", "c0"]  # the same names in another order
    eds, _ = as_eval_dataset(ds, model)
    x, y, i, p = eds[0]
    assert model.classes[y] == ds.classes[ds.targets[0]] and (i, p) == (0, 0)


def test_bad_data(tmp_path):
    with pytest.raises(ParameterError, match="data"):
        blurkit.evaluate(kit.TinyNet(1), 42, tmp_path, corrupt_fn=kit.Counter(), **GRID)
    with pytest.raises(ParameterError, match="items"):
        blurkit.evaluate(
            kit.TinyNet(1), [torch.rand(3, 8, 8)], tmp_path, corrupt_fn=kit.Counter(), **GRID
        )
    with pytest.raises(ParameterError, match="empty"):
        blurkit.evaluate(kit.TinyNet(1), [], tmp_path, corrupt_fn=kit.Counter(), **GRID)
